package peregrine.rules.log_cleared_test

import data.peregrine.rules.log_cleared

truncate(name, proc) := {
	"evt": {"type": "openat", "is_open_write": true, "failed": false, "arg": {"flags": "O_WRONLY|O_TRUNC"}},
	"fd": {"name": name, "typechar": "f"},
	"proc": {"name": proc, "aname": [proc, "bash"]},
}

unlink(path, proc) := {
	"evt": {"type": "unlinkat", "arg": {"name": path}},
	"fs": {"path": {"name": path}},
	"proc": {"name": proc, "aname": [proc, "bash"]},
}

test_truncate_auth_log if log_cleared.alert with input as truncate("/var/log/auth.log", "bash")

test_creat_wtmp if {
	doc := json.patch(truncate("/var/log/wtmp", "python3"), [
		{"op": "replace", "path": "/evt/type", "value": "creat"},
		{"op": "remove", "path": "/evt/arg"},
	])
	log_cleared.alert with input as doc
}

test_rm_syslog if log_cleared.alert with input as unlink("/var/log/syslog", "rm")

test_unlink_path_argument_only if {
	doc := {"evt": {"type": "unlink", "arg": {"path": "/var/log/lastlog"}}, "proc": {"name": "rm"}}
	log_cleared.alert with input as doc
}

test_logrotate if not log_cleared.alert with input as truncate("/var/log/auth.log", "logrotate")

test_package_tool_parent if {
	doc := json.patch(unlink("/var/log/dpkg.log.1", "rm"), [{"op": "replace", "path": "/proc/aname/1", "value": "dpkg"}])
	not log_cleared.alert with input as doc
}

test_append_only if {
	doc := json.patch(truncate("/var/log/auth.log", "bash"), [{"op": "replace", "path": "/evt/arg/flags", "value": "O_WRONLY|O_APPEND"}])
	not log_cleared.alert with input as doc
}

test_outside_var_log if not log_cleared.alert with input as unlink("/tmp/x.log", "rm")

test_failed_truncate if {
	doc := json.patch(truncate("/var/log/auth.log", "bash"), [{"op": "replace", "path": "/evt/failed", "value": true}])
	not log_cleared.alert with input as doc
}
