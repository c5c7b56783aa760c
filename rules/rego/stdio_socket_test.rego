package peregrine.rules.stdio_socket_test

import data.peregrine.rules.stdio_socket

dup(newfd, typechar, proc) := {
	"evt": {"type": "dup2", "rawres": newfd},
	"fd": {"typechar": typechar, "name": "10.0.0.2:51234->10.0.0.1:4444"},
	"proc": {"name": proc},
}

test_stdin if stdio_socket.alert with input as dup(0, "4", "bash")

test_stderr_ipv6 if stdio_socket.alert with input as dup(2, "6", "python3")

test_unnamed_process if stdio_socket.alert with input as object.remove(dup(1, "4", "x"), {"proc"})

test_inetd if not stdio_socket.alert with input as dup(0, "4", "inetd")

test_high_fd if not stdio_socket.alert with input as dup(5, "4", "bash")

test_file if not stdio_socket.alert with input as dup(1, "f", "bash")

test_failed_dup if not stdio_socket.alert with input as dup(-9, "4", "bash")
