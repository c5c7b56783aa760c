package peregrine.rules.ptrace_attach_test

import data.peregrine.rules.ptrace_attach

ptrace(request) := {"evt": {"type": "ptrace", "arg": {"request": request, "pid": "812"}}, "proc": {"name": "inject"}}

test_attach if ptrace_attach.alert with input as ptrace("PTRACE_ATTACH")

test_poketext if ptrace_attach.alert with input as ptrace("PTRACE_POKETEXT")

test_seize if ptrace_attach.alert with input as ptrace("PTRACE_SEIZE")

test_peekdata if not ptrace_attach.alert with input as ptrace("PTRACE_PEEKDATA")

test_traceme if not ptrace_attach.alert with input as ptrace("PTRACE_TRACEME")
