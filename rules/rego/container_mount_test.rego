package peregrine.rules.container_mount_test

import data.peregrine.rules.container_mount

mount(container, failed) := {
	"evt": {"type": "mount", "failed": failed},
	"container": {"id": container},
	"proc": {"name": "mount"},
}

test_in_container if container_mount.alert with input as mount("3ad8c0f1e2b4", false)

test_host if not container_mount.alert with input as mount("host", false)

test_refused if not container_mount.alert with input as mount("3ad8c0f1e2b4", true)

test_unknown_container if not container_mount.alert with input as {"evt": {"type": "mount", "failed": false}}

test_umount if {
	doc := json.patch(mount("3ad8c0f1e2b4", false), [{"op": "replace", "path": "/evt/type", "value": "umount2"}])
	not container_mount.alert with input as doc
}

test_runc_state_mount if {
	doc := object.union(mount("3ad8c0f1e2b4", false), {
		"proc": {"name": "exe", "pname": "runc"},
		"fs": {"path": {"target": "/run/runc/3ad8c0f1e2b4/runc.wnhAfy"}},
	})
	not container_mount.alert with input as doc
}

test_runc_child_mount_elsewhere if {
	doc := object.union(mount("3ad8c0f1e2b4", false), {
		"proc": {"name": "exe", "pname": "runc"},
		"fs": {"path": {"target": "/mnt"}},
	})
	container_mount.alert with input as doc
}
