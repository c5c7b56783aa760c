# METADATA
# title: Program run from temporary directory (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A program whose
#   executable lies in /tmp, /var/tmp or /dev/shm was started. Everyone may
#   write there, so that is where dropped payloads and exploits run from.
#   Programs that the go tool builds and runs are left out.
# custom:
#   priority: WARNING
#   tags: [host, container, process, mitre_execution, T1204.002]
#   output: >-
#     Program run from a temporary directory | exepath=%proc.exepath cmdline=%proc.cmdline
#     parent=%proc.pname parent_cmdline=%proc.pcmdline cwd=%proc.cwd user=%user.name
#     uid=%user.uid tty=%proc.tty pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.tmp_exec

# A successful execve or execveat, seen at its exit.
exec_succeeded if {
	input.evt.type in {"execve", "execveat"}
	input.evt.dir == "<"
	input.evt.failed == false
}

exe_in_scratch_dir if startswith(input.proc.exepath, "/tmp/")

exe_in_scratch_dir if startswith(input.proc.exepath, "/var/tmp/")

exe_in_scratch_dir if startswith(input.proc.exepath, "/dev/shm/")

# A helper rule, so that a missing proc.pname is not "go", as with
# Falco's "not proc.pname = go".
parent_is_go if input.proc.pname == "go"

alert if {
	exec_succeeded
	exe_in_scratch_dir
	not parent_is_go
}
