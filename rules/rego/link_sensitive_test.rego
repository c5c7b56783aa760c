package peregrine.rules.link_sensitive_test

import data.peregrine.rules.link_sensitive

symlink(target) := {"evt": {"type": "symlinkat", "arg": {"target": target, "linkpath": "/tmp/x"}}, "proc": {"name": "ln"}}

hardlink(old) := {"evt": {"type": "linkat", "arg": {"oldpath": old, "newpath": "/tmp/x"}}, "proc": {"name": "ln"}}

test_symlink_to_shadow if link_sensitive.alert with input as symlink("/etc/shadow")

test_hardlink_to_sudoers_dropin if link_sensitive.alert with input as hardlink("/etc/sudoers.d/90-users")

test_plain_symlink_syscall if {
	doc := json.patch(symlink("/root/.ssh/authorized_keys"), [{"op": "replace", "path": "/evt/type", "value": "symlink"}])
	link_sensitive.alert with input as doc
}

test_symlink_elsewhere if not link_sensitive.alert with input as symlink("/etc/hostname")

test_sudoers_dir_itself if not link_sensitive.alert with input as symlink("/etc/sudoers.d")

# A hard link's source is oldpath; a target argument does not count.
test_hardlink_with_target_only if {
	doc := {"evt": {"type": "linkat", "arg": {"target": "/etc/shadow", "newpath": "/tmp/x"}}}
	not link_sensitive.alert with input as doc
}

test_other_syscall if {
	doc := json.patch(symlink("/etc/shadow"), [{"op": "replace", "path": "/evt/type", "value": "rename"}])
	not link_sensitive.alert with input as doc
}
