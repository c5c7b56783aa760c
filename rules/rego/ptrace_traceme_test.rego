package peregrine.rules.ptrace_traceme_test

import data.peregrine.rules.ptrace_traceme

ptrace(request, proc, parent) := {
	"evt": {"type": "ptrace", "arg": {"request": request}},
	"proc": {"name": proc, "pname": parent},
}

test_traceme if ptrace_traceme.alert with input as ptrace("PTRACE_TRACEME", "malware", "bash")

test_unknown_parent if {
	doc := json.patch(ptrace("PTRACE_TRACEME", "malware", ""), [{"op": "remove", "path": "/proc/pname"}])
	ptrace_traceme.alert with input as doc
}

test_under_gdb if not ptrace_traceme.alert with input as ptrace("PTRACE_TRACEME", "a.out", "gdb")

test_strace_child if not ptrace_traceme.alert with input as ptrace("PTRACE_TRACEME", "strace", "bash")

test_attach if not ptrace_traceme.alert with input as ptrace("PTRACE_ATTACH", "malware", "bash")
