# METADATA
# title: Shell made outbound connection (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A shell process itself
#   connected to a remote address other than loopback. Shells reach the
#   network only through tricks such as bash's /dev/tcp redirections, the
#   heart of many one-line reverse shells.
# custom:
#   priority: WARNING
#   tags: [host, container, network, mitre_execution, mitre_command_and_control, T1059.004, T1095]
#   output: >-
#     Shell connected out to the network | connection=%fd.name proto=%fd.l4proto
#     server=%fd.sip server_port=%fd.sport shell=%proc.name cmdline=%proc.cmdline
#     parent=%proc.pname user=%user.name uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.shell_connect

shells := {"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "pdksh", "csh", "tcsh", "fish", "rbash"}

# Connected, or connecting on a non-blocking socket.
connected if input.evt.rawres >= 0

connected if input.evt.res == "EINPROGRESS"

# The input holds addresses in canonical form ("::1" for an event's
# 0:0:0:0:0:0:0:1), so comparing the text compares the addresses, as
# Falco does: an IPv4 address equals only an IPv4 one (::ffff:127.0.0.1
# is not 127.0.0.1).
loopback_server if input.fd.sip in {"127.0.0.1", "::1"}

alert if {
	input.evt.type == "connect"
	connected
	input.fd.typechar in {"4", "6"}
	input.proc.name in shells
	not loopback_server
}
