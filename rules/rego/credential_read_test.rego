package peregrine.rules.credential_read_test

import data.peregrine.rules.credential_read

read_of(name, proc) := {
	"evt": {"type": "openat", "is_open_read": true, "failed": false},
	"fd": {"name": name, "typechar": "f", "directory": dir_of(name)},
	"proc": {"name": proc},
}

dir_of(name) := concat("/", array.slice(parts, 0, count(parts) - 1)) if parts := split(name, "/")

test_shadow_read_by_cat if credential_read.alert with input as read_of("/etc/shadow", "cat")

test_sudoers_dropin if credential_read.alert with input as read_of("/etc/sudoers.d/90-users", "python3")

test_user_private_key if credential_read.alert with input as read_of("/home/alice/.ssh/id_ed25519", "curl")

test_host_key if credential_read.alert with input as read_of("/etc/ssh/ssh_host_rsa_key", "python3")

test_missing_process_name if {
	doc := object.remove(read_of("/etc/shadow", "x"), {"proc"})
	credential_read.alert with input as doc
}

test_trusted_reader if not credential_read.alert with input as read_of("/etc/shadow", "unix_chkpwd")

test_public_key if not credential_read.alert with input as read_of("/home/alice/.ssh/id_ed25519.pub", "curl")

test_passwd_is_not_secret if not credential_read.alert with input as read_of("/etc/passwd", "cat")

test_failed_open if {
	doc := json.patch(read_of("/etc/shadow", "cat"), [{"op": "replace", "path": "/evt/failed", "value": true}])
	not credential_read.alert with input as doc
}

test_write_only if {
	doc := json.patch(read_of("/etc/shadow", "cat"), [{"op": "replace", "path": "/evt/is_open_read", "value": false}])
	not credential_read.alert with input as doc
}
