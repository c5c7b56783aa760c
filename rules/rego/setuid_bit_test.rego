package peregrine.rules.setuid_bit_test

import data.peregrine.rules.setuid_bit

chmod(mode, proc, ancestors) := {
	"evt": {"type": "fchmodat", "arg": {"filename": "/tmp/.sh", "mode": mode}},
	"proc": {"name": proc, "aname": array.concat([proc], ancestors)},
}

test_setuid if setuid_bit.alert with input as chmod("S_IXOTH|S_IXGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID", "chmod", ["bash"])

test_setgid if setuid_bit.alert with input as chmod("S_IXUSR|S_IWUSR|S_IRUSR|S_ISGID", "python3", ["bash"])

test_package_tool if not setuid_bit.alert with input as chmod("S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID", "dpkg", ["apt"])

test_package_tool_ancestor if not setuid_bit.alert with input as chmod("S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID", "chmod", ["sh", "rpm"])

test_plain_mode if not setuid_bit.alert with input as chmod("S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR", "chmod", ["bash"])

test_other_syscall if {
	doc := json.patch(chmod("S_ISUID", "chmod", ["bash"]), [{"op": "replace", "path": "/evt/type", "value": "chown"}])
	not setuid_bit.alert with input as doc
}
