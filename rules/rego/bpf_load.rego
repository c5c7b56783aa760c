# METADATA
# title: BPF program loaded by unexpected program (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A program that is not a
#   known eBPF user loaded a BPF program. Malicious BPF programs can hide
#   processes, tamper with syscalls and intercept traffic from inside the
#   kernel.
# custom:
#   priority: WARNING
#   tags: [host, container, mitre_persistence, mitre_defense_evasion, T1014]
#   output: >-
#     BPF program loaded by an unexpected program | cmd=%evt.arg.cmd result=%evt.res
#     process=%proc.name exepath=%proc.exepath cmdline=%proc.cmdline parent=%proc.pname
#     user=%user.name uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.bpf_load

bpf_program_loaders := {
	"systemd", "systemd-networkd", "bpftool", "bpftrace", "cilium-agent", "tetragon", "tracee",
	"falco", "peregrine", "runc", "crun", "containerd", "dockerd",
}

known_loader if input.proc.name in bpf_program_loaders

# A helper rule, not an inline "not startswith(...)": OPA would make that
# false when proc.name is missing.
runc_stage if startswith(input.proc.name, "runc:")

alert if {
	input.evt.type == "bpf"
	contains(input.evt.arg.cmd, "BPF_PROG_LOAD")
	not known_loader
	not runc_stage
}
