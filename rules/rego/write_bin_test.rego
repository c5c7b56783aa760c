package peregrine.rules.write_bin_test

import data.peregrine.rules.write_bin

write(dir, proc, ancestors) := {
	"evt": {"type": "openat", "is_open_write": true, "failed": false},
	"fd": {"name": concat("/", [dir, "ls"]), "directory": dir, "typechar": "f"},
	"proc": {"name": proc, "aname": array.concat([proc], ancestors)},
}

test_usr_bin if write_bin.alert with input as write("/usr/bin", "cp", ["bash"])

test_usr_local_sbin if write_bin.alert with input as write("/usr/local/sbin", "curl", ["sh", "sshd"])

test_package_tool_after_a_gap if write_bin.alert with input as write("/bin", "cp", [null, "rpm"])

test_package_tool if not write_bin.alert with input as write("/usr/bin", "dpkg", ["apt-get"])

test_package_tool_grandparent if not write_bin.alert with input as write("/usr/sbin", "cp", ["sh", "dnf"])

test_subdirectory if not write_bin.alert with input as write("/usr/bin/x86_64", "cp", ["bash"])

test_read_only if {
	doc := json.patch(write("/usr/bin", "cp", ["bash"]), [{"op": "replace", "path": "/evt/is_open_write", "value": false}])
	not write_bin.alert with input as doc
}
