# METADATA
# title: Anti-debugging with PTRACE_TRACEME (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A process asked its
#   parent to trace it (PTRACE_TRACEME) with no debugger involved, a trick
#   malware uses to keep analysts and sandboxes from attaching.
# custom:
#   priority: NOTICE
#   tags: [host, container, process, mitre_defense_evasion, T1622]
#   output: >-
#     Process made itself untraceable with PTRACE_TRACEME | result=%evt.res
#     process=%proc.name exepath=%proc.exepath cmdline=%proc.cmdline parent=%proc.pname
#     user=%user.name uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.ptrace_traceme

debugger_names := {"gdb", "gdbserver", "lldb", "lldb-server", "strace", "ltrace", "valgrind", "rr"}

debugger if input.proc.name in debugger_names

debugger_parent if input.proc.pname in debugger_names

alert if {
	input.evt.type == "ptrace"
	input.evt.arg.request == "PTRACE_TRACEME"
	not debugger
	not debugger_parent
}
