package peregrine.rules.memfd_exec_test

import data.peregrine.rules.memfd_exec

exec(memfd) := {
	"evt": {"type": "execveat", "dir": "<", "failed": false},
	"proc": {"name": "3", "exepath": "memfd:payload (deleted)", "is_exe_from_memfd": memfd},
}

test_memfd if memfd_exec.alert with input as exec(true)

test_regular_file if not memfd_exec.alert with input as exec(false)

test_unknown if not memfd_exec.alert with input as {"evt": {"type": "execve", "dir": "<", "failed": false}}

test_failed_exec if {
	doc := json.patch(exec(true), [{"op": "replace", "path": "/evt/failed", "value": true}])
	not memfd_exec.alert with input as doc
}

test_enter_event if {
	doc := json.patch(exec(true), [{"op": "replace", "path": "/evt/dir", "value": ">"}])
	not memfd_exec.alert with input as doc
}
