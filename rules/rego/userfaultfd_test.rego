package peregrine.rules.userfaultfd_test

import data.peregrine.rules.userfaultfd

uffd(uid, failed) := {"evt": {"type": "userfaultfd", "failed": failed}, "user": {"uid": uid}, "proc": {"name": "exploit"}}

test_unprivileged if userfaultfd.alert with input as uffd(1000, false)

test_root if not userfaultfd.alert with input as uffd(0, false)

test_refused if not userfaultfd.alert with input as uffd(1000, true)

test_unknown_user if not userfaultfd.alert with input as {"evt": {"type": "userfaultfd", "failed": false}}
