# METADATA
# title: Reverse shell via netcat or socat (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. netcat was started with
#   an option that hands the connection to a program (-e, -c, --exec,
#   --sh-exec, --lua-exec), or socat with an EXEC or SYSTEM address: whoever
#   is at the other end of the socket gets a shell here.
# custom:
#   priority: CRITICAL
#   tags: [host, container, process, network, mitre_execution, mitre_command_and_control, T1059.004, T1095]
#   output: >-
#     netcat or socat started with a program attached to the connection |
#     process=%proc.name cmdline=%proc.cmdline parent=%proc.pname
#     parent_cmdline=%proc.pcmdline user=%user.name uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.reverse_shell

netcat_names := {"nc", "ncat", "netcat", "nc.traditional", "nc.openbsd"}

# A successful execve or execveat, seen at its exit.
exec_succeeded if {
	input.evt.type in {"execve", "execveat"}
	input.evt.dir == "<"
	input.evt.failed == false
}

netcat_runs_program if startswith(input.proc.args, "-e")

netcat_runs_program if contains(input.proc.args, " -e")

netcat_runs_program if startswith(input.proc.args, "-c")

netcat_runs_program if contains(input.proc.args, " -c")

netcat_runs_program if contains(input.proc.args, "--exec")

netcat_runs_program if contains(input.proc.args, "--sh-exec")

netcat_runs_program if contains(input.proc.args, "--lua-exec")

# Falco's icontains folds ASCII letters only; lower() folds more, but no
# other character lowers to a letter of these patterns.
socat_runs_program if contains(lower(input.proc.args), "exec:")

socat_runs_program if contains(lower(input.proc.args), "system:")

program_on_socket if {
	input.proc.name in netcat_names
	netcat_runs_program
}

program_on_socket if {
	input.proc.name == "socat"
	socat_runs_program
}

alert if {
	exec_succeeded
	program_on_socket
}
