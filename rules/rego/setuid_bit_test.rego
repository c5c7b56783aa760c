package peregrine.rules.setuid_bit_test

import data.peregrine.rules.setuid_bit

chmod(mode, proc, ancestors) := {
	"evt": {"type": "fchmodat", "arg": {"filename": "/tmp/.sh", "mode": mode}},
	"proc": {"name": proc, "aname": array.concat([proc], ancestors)},
}

test_setuid if setuid_bit.alert with input as chmod("S_ISUID|S_IRWXU|S_IXGRP|S_IXOTH", "chmod", ["bash"])

test_setgid if setuid_bit.alert with input as chmod("S_ISGID|S_IRWXU", "python3", ["bash"])

test_package_tool if not setuid_bit.alert with input as chmod("S_ISUID|S_IRWXU", "dpkg", ["apt"])

test_package_tool_ancestor if not setuid_bit.alert with input as chmod("S_ISUID|S_IRWXU", "chmod", ["sh", "rpm"])

test_plain_mode if not setuid_bit.alert with input as chmod("S_IRWXU|S_IRGRP", "chmod", ["bash"])

test_other_syscall if {
	doc := json.patch(chmod("S_ISUID", "chmod", ["bash"]), [{"op": "replace", "path": "/evt/type", "value": "chown"}])
	not setuid_bit.alert with input as doc
}
