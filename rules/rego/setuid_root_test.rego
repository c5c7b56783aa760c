package peregrine.rules.setuid_root_test

import data.peregrine.rules.setuid_root

setuid(arg, uid, loginuid, proc) := {
	"evt": {"type": "setuid", "arg": {"uid": arg}},
	"user": {"uid": uid, "loginuid": loginuid},
	"proc": {"name": proc},
}

test_unprivileged if setuid_root.alert with input as setuid("0", 1000, 1000, "exploit")

test_root_in_user_session if setuid_root.alert with input as setuid("root", 0, 1000, "python3")

test_unknown_loginuid if {
	doc := json.patch(setuid("0", 1000, 0, "exploit"), [{"op": "remove", "path": "/user/loginuid"}])
	setuid_root.alert with input as doc
}

test_root_daemon if not setuid_root.alert with input as setuid("0", 0, -1, "daemon")

test_sudo if not setuid_root.alert with input as setuid("0", 1000, 1000, "sudo")

test_other_uid if not setuid_root.alert with input as setuid("1000", 1000, 1000, "exploit")

test_unknown_user if not setuid_root.alert with input as {"evt": {"type": "setuid", "arg": {"uid": "0"}}, "proc": {"name": "exploit"}}
