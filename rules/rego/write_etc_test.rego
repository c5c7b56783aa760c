package peregrine.rules.write_etc_test

import data.peregrine.rules.write_etc

write(name, proc, ancestors) := {
	"evt": {"type": "openat", "is_open_write": true, "failed": false, "arg": {"flags": "O_WRONLY|O_CREAT|O_TRUNC"}},
	"fd": {"name": name, "typechar": "f"},
	"proc": {"name": proc, "aname": array.concat([proc], ancestors)},
}

test_echo_into_crontab if write_etc.alert with input as write("/etc/crontab", "bash", ["sshd"])

test_creat if {
	doc := json.patch(write("/etc/ld.so.preload", "python3", ["bash"]), [
		{"op": "replace", "path": "/evt/type", "value": "creat"},
		{"op": "replace", "path": "/evt/is_open_write", "value": false},
	])
	write_etc.alert with input as doc
}

test_unnamed_process if write_etc.alert with input as object.remove(write("/etc/passwd", "x", []), {"proc"})

test_package_tool_after_a_gap if {
	# proc.aname[1] is missing: Falco stops walking the ancestors there.
	write_etc.alert with input as write("/etc/hosts", "sh", [null, "dpkg"])
}

test_maintainer if not write_etc.alert with input as write("/etc/passwd", "useradd", ["bash"])

test_runtime if not write_etc.alert with input as write("/etc/resolv.conf", "runc", ["containerd-shim"])

test_package_tool if not write_etc.alert with input as write("/etc/apt/sources.list", "apt-get", ["bash"])

test_package_tool_ancestor if not write_etc.alert with input as write("/etc/default/grub", "sh", ["sh", "dpkg"])

test_read_only if {
	doc := json.patch(write("/etc/hosts", "bash", []), [{"op": "replace", "path": "/evt/is_open_write", "value": false}])
	not write_etc.alert with input as doc
}

test_outside_etc if not write_etc.alert with input as write("/etcetera/x", "bash", [])

test_failed_open if {
	doc := json.patch(write("/etc/hosts", "bash", []), [{"op": "replace", "path": "/evt/failed", "value": true}])
	not write_etc.alert with input as doc
}
