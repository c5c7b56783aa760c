# METADATA
# title: User namespace created by non-runtime process (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A process that is not a
#   container runtime or known sandbox made a user namespace with
#   unshare(CLONE_NEWUSER). Inside it an unprivileged user holds every
#   capability, which opens kernel attack surface normally kept for root.
# custom:
#   priority: NOTICE
#   tags: [host, container, process, mitre_privilege_escalation, T1068, T1611]
#   output: >-
#     User namespace created with unshare | flags=%evt.arg.flags result=%evt.res
#     process=%proc.name exepath=%proc.exepath cmdline=%proc.cmdline parent=%proc.pname
#     user=%user.name uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.unshare_userns

container_runtime_names := {
	"runc", "crun", "youki", "containerd", "containerd-shim", "dockerd", "docker", "conmon",
	"crio", "podman", "buildah", "lxc-start", "lxd", "kubelet",
}

cni_plugin_names := {
	"bridge", "loopback", "portmap", "host-local", "bandwidth", "firewall", "tuning", "calico",
	"calico-ipam", "cilium-cni", "flannel", "aws-cni", "weave-net", "multus",
}

sandboxing_tools := {"bwrap", "snap-confine", "flatpak", "firejail", "systemd", "systemd-nspawn", "chrome", "chromium"}

namespace_manager if input.proc.name in container_runtime_names

# runc re-executes itself under names like runc:[2:INIT].
namespace_manager if startswith(input.proc.name, "runc:")

namespace_manager if input.proc.name in cni_plugin_names

namespace_manager if input.proc.name in sandboxing_tools

alert if {
	input.evt.type == "unshare"
	contains(input.evt.arg.flags, "CLONE_NEWUSER")
	not namespace_manager
}
