package peregrine.rules.shell_connect_test

import data.peregrine.rules.shell_connect

conn(name, sip, rawres) := {
	"evt": {"type": "connect", "rawres": rawres, "res": "SUCCESS"},
	"fd": {"typechar": "4", "sip": sip},
	"proc": {"name": name},
}

test_bash_dev_tcp if shell_connect.alert with input as conn("bash", "10.0.0.1", 0)

test_in_progress if {
	doc := json.patch(conn("sh", "203.0.113.9", -115), [{"op": "replace", "path": "/evt/res", "value": "EINPROGRESS"}])
	shell_connect.alert with input as doc
}

test_ipv6 if {
	doc := json.patch(conn("bash", "2001:db8::1", 0), [{"op": "replace", "path": "/fd/typechar", "value": "6"}])
	shell_connect.alert with input as doc
}

test_mapped_loopback_is_not_loopback if {
	doc := json.patch(conn("bash", "::ffff:127.0.0.1", 0), [{"op": "replace", "path": "/fd/typechar", "value": "6"}])
	shell_connect.alert with input as doc
}

test_unknown_server if shell_connect.alert with input as object.remove(conn("bash", "", 0), {"fd"}) with input.fd as {"typechar": "4"}

test_loopback if not shell_connect.alert with input as conn("bash", "127.0.0.1", 0)

test_ipv6_loopback if {
	doc := json.patch(conn("bash", "::1", 0), [{"op": "replace", "path": "/fd/typechar", "value": "6"}])
	not shell_connect.alert with input as doc
}

test_not_a_shell if not shell_connect.alert with input as conn("curl", "10.0.0.1", 0)

test_refused if {
	doc := json.patch(conn("bash", "10.0.0.1", -111), [{"op": "replace", "path": "/evt/res", "value": "ECONNREFUSED"}])
	not shell_connect.alert with input as doc
}

test_unix_socket if {
	doc := json.patch(conn("bash", "10.0.0.1", 0), [{"op": "replace", "path": "/fd/typechar", "value": "u"}])
	not shell_connect.alert with input as doc
}
