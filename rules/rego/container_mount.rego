# METADATA
# title: Mount inside container (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A process inside a
#   container mounted a file system. Containers seldom need to; mounting the
#   host disk, cgroupfs or procfs from a privileged container is a well
#   known escape. The runtime's own mounts, before the container's first
#   exec (runc init binding its binary into runc's state directory among
#   them), are not.
# custom:
#   priority: WARNING
#   tags: [container, filesystem, mitre_privilege_escalation, T1611]
#   output: >-
#     File system mounted inside a container | source=%fs.path.source
#     target=%fs.path.target flags=%evt.arg.flags process=%proc.name
#     cmdline=%proc.cmdline parent=%proc.pname user=%user.name uid=%user.uid
#     caps=%thread.cap_effective pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.container_mount

# A missing container.id is neither the host nor a container: "!=" is
# undefined for it, as Falco's comparison is false.
alert if {
	input.evt.type == "mount"
	input.evt.failed == false
	input.container.id != "host"
	not container_runtime_names[input.proc.name]
	not startswith(input.proc.name, "runc:")
	not runc_state_mount
}

# runc init (named exe: runc runs it as /proc/self/exe) binds runc's own
# binary into its state directory before the container starts.
runc_state_mount if {
	container_runtime_names[input.proc.pname]
	startswith(input.fs.path.target, "/run/runc/")
}

# The default rules' container_runtime_names list.
container_runtime_names := {
	"runc", "crun", "youki", "containerd", "containerd-shim", "dockerd", "docker", "conmon",
	"crio", "podman", "buildah", "lxc-start", "lxd", "kubelet",
}
