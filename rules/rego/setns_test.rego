package peregrine.rules.setns_test

import data.peregrine.rules.setns

join(proc) := {"evt": {"type": "setns", "arg": {"nstype": "CLONE_NEWNS", "fd": "3"}}, "proc": {"name": proc}}

test_nsenter if setns.alert with input as join("nsenter")

test_unnamed_process if setns.alert with input as {"evt": {"type": "setns"}}

test_runc if not setns.alert with input as join("runc")

test_runc_init if not setns.alert with input as join("runc:[1:CHILD]")

test_cni_plugin if not setns.alert with input as join("portmap")

test_sandbox if not setns.alert with input as join("bwrap")

test_other_syscall if not setns.alert with input as {"evt": {"type": "unshare"}, "proc": {"name": "nsenter"}}
