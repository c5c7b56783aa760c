package peregrine.rules.bpf_load_test

import data.peregrine.rules.bpf_load

bpf(cmd, proc) := {"evt": {"type": "bpf", "arg": {"cmd": cmd}}, "proc": {"name": proc}}

test_prog_load if bpf_load.alert with input as bpf("BPF_PROG_LOAD", "rootkit")

test_unnamed_process if bpf_load.alert with input as {"evt": {"type": "bpf", "arg": {"cmd": "BPF_PROG_LOAD"}}}

test_bpftool if not bpf_load.alert with input as bpf("BPF_PROG_LOAD", "bpftool")

test_runc_init if not bpf_load.alert with input as bpf("BPF_PROG_LOAD", "runc:[2:INIT]")

test_map_create if not bpf_load.alert with input as bpf("BPF_MAP_CREATE", "rootkit")
