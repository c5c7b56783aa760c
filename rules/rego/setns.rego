# METADATA
# title: Namespace entered by non-runtime process (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A process that is not a
#   container runtime, CNI plugin or known sandbox joined another namespace
#   with setns: the move behind container escapes and hops between
#   containers.
# custom:
#   priority: WARNING
#   tags: [host, container, process, mitre_privilege_escalation, T1611]
#   output: >-
#     Process joined a namespace with setns | nstype=%evt.arg.nstype fd=%evt.arg.fd
#     result=%evt.res process=%proc.name exepath=%proc.exepath cmdline=%proc.cmdline
#     parent=%proc.pname user=%user.name uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.setns

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
	input.evt.type == "setns"
	not namespace_manager
}
