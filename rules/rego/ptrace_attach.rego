# METADATA
# title: Ptrace attach to process (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. ptrace was used to attach
#   to another process or to write its memory or registers: the access a
#   debugger has, enough to steal secrets from the target or to inject code
#   into it.
# custom:
#   priority: WARNING
#   tags: [host, container, process, mitre_privilege_escalation, mitre_defense_evasion, T1055.008]
#   output: >-
#     Process attached to another with ptrace | request=%evt.arg.request
#     target_pid=%evt.arg.pid result=%evt.res process=%proc.name cmdline=%proc.cmdline
#     parent=%proc.pname user=%user.name uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.ptrace_attach

write_requests := {
	"PTRACE_ATTACH", "PTRACE_SEIZE", "PTRACE_POKETEXT", "PTRACE_POKEDATA",
	"PTRACE_POKEUSR", "PTRACE_SETREGS", "PTRACE_SETFPREGS", "PTRACE_SETREGSET",
}

alert if {
	input.evt.type == "ptrace"
	input.evt.arg.request in write_requests
}
