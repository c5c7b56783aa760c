package peregrine.rules.tmp_exec_test

import data.peregrine.rules.tmp_exec

exec(exepath, parent) := {
	"evt": {"type": "execve", "dir": "<", "failed": false},
	"proc": {"name": "x", "exepath": exepath, "pname": parent},
}

test_tmp if tmp_exec.alert with input as exec("/tmp/x", "bash")

test_var_tmp if tmp_exec.alert with input as exec("/var/tmp/.hidden/miner", "sh")

test_dev_shm if tmp_exec.alert with input as exec("/dev/shm/payload", "curl")

test_missing_parent if {
	doc := json.patch(exec("/tmp/x", "bash"), [{"op": "remove", "path": "/proc/pname"}])
	tmp_exec.alert with input as doc
}

test_go_run if not tmp_exec.alert with input as exec("/tmp/go-build123/b001/exe/main", "go")

test_usr_bin if not tmp_exec.alert with input as exec("/usr/bin/id", "bash")

test_tmp_prefix_only if not tmp_exec.alert with input as exec("/tmpfoo/x", "bash")

test_failed_exec if {
	doc := json.patch(exec("/tmp/x", "bash"), [{"op": "replace", "path": "/evt/failed", "value": true}])
	not tmp_exec.alert with input as doc
}
