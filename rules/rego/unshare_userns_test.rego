package peregrine.rules.unshare_userns_test

import data.peregrine.rules.unshare_userns

unshare(flags, proc) := {"evt": {"type": "unshare", "arg": {"flags": flags}}, "proc": {"name": proc}}

test_unshare_r if unshare_userns.alert with input as unshare("CLONE_NEWUSER|CLONE_NEWNS", "unshare")

test_exploit if unshare_userns.alert with input as unshare("CLONE_NEWUSER", "exploit")

test_runtime if not unshare_userns.alert with input as unshare("CLONE_NEWUSER|CLONE_NEWNS", "crun")

test_chrome_sandbox if not unshare_userns.alert with input as unshare("CLONE_NEWUSER|CLONE_NEWPID", "chrome")

test_mount_namespace_only if not unshare_userns.alert with input as unshare("CLONE_NEWNS", "unshare")
