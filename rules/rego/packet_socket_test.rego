package peregrine.rules.packet_socket_test

import data.peregrine.rules.packet_socket

sock(domain, proc) := {
	"evt": {"type": "socket", "arg": {"domain": domain, "type": "3"}},
	"proc": {"name": proc},
}

test_sniffer if packet_socket.alert with input as sock("AF_PACKET", "sniffer")

test_unnamed_process if packet_socket.alert with input as {"evt": {"type": "socket", "arg": {"domain": "AF_PACKET"}}}

test_tcpdump if not packet_socket.alert with input as sock("AF_PACKET", "tcpdump")

test_inet_socket if not packet_socket.alert with input as sock("AF_INET", "sniffer")

test_other_syscall if {
	doc := json.patch(sock("AF_PACKET", "sniffer"), [{"op": "replace", "path": "/evt/type", "value": "bind"}])
	not packet_socket.alert with input as doc
}
