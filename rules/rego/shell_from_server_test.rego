package peregrine.rules.shell_from_server_test

import data.peregrine.rules.shell_from_server

exec(name, parent) := {
	"evt": {"type": "execve", "dir": "<", "failed": false},
	"proc": {"name": name, "pname": parent},
}

test_nginx_starts_sh if shell_from_server.alert with input as exec("sh", "nginx")

test_versioned_php_fpm if shell_from_server.alert with input as exec("bash", "php-fpm8.2")

test_execveat if {
	doc := json.patch(exec("dash", "node"), [{"op": "replace", "path": "/evt/type", "value": "execveat"}])
	shell_from_server.alert with input as doc
}

test_not_a_shell if not shell_from_server.alert with input as exec("nginx", "nginx")

test_parent_not_a_server if not shell_from_server.alert with input as exec("bash", "sshd")

test_failed_exec if {
	doc := json.patch(exec("sh", "nginx"), [{"op": "replace", "path": "/evt/failed", "value": true}])
	not shell_from_server.alert with input as doc
}

test_enter_event if {
	doc := json.patch(exec("sh", "nginx"), [{"op": "replace", "path": "/evt/dir", "value": ">"}])
	not shell_from_server.alert with input as doc
}
