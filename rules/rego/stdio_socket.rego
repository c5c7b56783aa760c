# METADATA
# title: Standard stream redirected to network socket (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. An IPv4 or IPv6 socket
#   was duplicated onto standard input, output or error. Wiring a socket to
#   the standard streams of a process that then runs a shell is the core of
#   most reverse shells; only inetd-style super-servers do it legitimately.
# custom:
#   priority: WARNING
#   tags: [host, container, network, process, mitre_execution, T1059.004]
#   output: >-
#     Network socket duplicated onto a standard stream | new_fd=%evt.rawres
#     connection=%fd.name process=%proc.name cmdline=%proc.cmdline parent=%proc.pname
#     user=%user.name uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.stdio_socket

socket_stdio_servers := {"inetd", "xinetd", "systemd", "tcpserver", "tcpsvd"}

super_server if input.proc.name in socket_stdio_servers

alert if {
	input.evt.type in {"dup", "dup2", "dup3"}
	input.evt.rawres in {0, 1, 2}
	input.fd.typechar in {"4", "6"}
	not super_server
}
