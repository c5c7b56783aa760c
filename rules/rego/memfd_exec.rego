# METADATA
# title: Fileless execution from memfd (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A program was executed
#   from an anonymous memory file made with memfd_create: code that never
#   touches the disk escapes file scanners and leaves little to forensics.
# custom:
#   priority: CRITICAL
#   tags: [host, container, process, mitre_defense_evasion, T1620]
#   output: >-
#     Program executed from a memfd | process=%proc.name exepath=%proc.exepath
#     cmdline=%proc.cmdline parent=%proc.pname parent_cmdline=%proc.pcmdline
#     user=%user.name uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.memfd_exec

# A successful execve or execveat, seen at its exit.
exec_succeeded if {
	input.evt.type in {"execve", "execveat"}
	input.evt.dir == "<"
	input.evt.failed == false
}

alert if {
	exec_succeeded
	input.proc.is_exe_from_memfd == true
}
