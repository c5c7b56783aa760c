# METADATA
# title: Write below etc (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A file under /etc was
#   opened for writing by neither a package manager nor a known
#   configuration tool. Changing the system configuration is how intruders
#   add users, sudo rights, cron jobs, services and preloaded libraries.
# custom:
#   priority: ERROR
#   tags: [host, container, filesystem, mitre_persistence, mitre_privilege_escalation, T1543, T1098]
#   output: >-
#     File below /etc opened for writing | file=%fd.name flags=%evt.arg.flags
#     process=%proc.name exepath=%proc.exepath cmdline=%proc.cmdline parent=%proc.pname
#     ancestors=%proc.aname[2],%proc.aname[3] user=%user.name uid=%user.uid
#     pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.write_etc

etc_maintainers := {
	"passwd", "chpasswd", "useradd", "usermod", "userdel", "groupadd", "groupmod", "groupdel",
	"gpasswd", "chage", "chsh", "chfn", "vipw", "vigr", "visudo", "pwconv", "grpconv", "ldconfig",
	"ldconfig.real", "update-alternatives", "update-ca-certificates", "update-ca-trust",
	"dhclient", "dhclient-script", "dhcpcd", "NetworkManager", "systemd-resolved",
	"systemd-networkd", "systemd-hostnamed", "systemd-timedated", "systemd-localed",
	"systemd-machine-id-setup", "resolvconf", "netconfig", "cloud-init",
}

container_runtime_names := {
	"runc", "crun", "youki", "containerd", "containerd-shim", "dockerd", "docker", "conmon",
	"crio", "podman", "buildah", "lxc-start", "lxd", "kubelet",
}

package_tools := {
	"dpkg", "dpkg-deb", "dpkg-divert", "dpkg-trigger", "dpkg-preconfigu", "apt", "apt-get",
	"aptitude", "unattended-upgr", "rpm", "rpmkeys", "rpmdb", "yum", "dnf", "dnf-3", "dnf5",
	"microdnf", "zypper", "apk", "pacman", "snapd", "packagekitd",
}

run_by_package_tool if input.proc.name in package_tools

# Falco's proc.aname without an index is any ancestor, walked from the
# parent up to the first one the event lacks (input.proc.aname[0] is the
# process itself, a missing ancestor is null).
run_by_package_tool if {
	some i, name in input.proc.aname
	i > 0
	name in package_tools
	every j in numbers.range(1, i) {
		input.proc.aname[j] != null
	}
}

# A regular file opened for writing (or created), successfully.
write_open if {
	input.evt.type in {"open", "openat", "openat2"}
	input.evt.is_open_write == true
}

write_open if input.evt.type == "creat"

opened_for_write if {
	write_open
	input.evt.failed == false
	input.fd.typechar == "f"
}

# Helper rules, so that a missing proc.name is in no list, as with Falco's
# "not proc.name in (...)".
etc_maintainer if input.proc.name in etc_maintainers

container_runtime if input.proc.name in container_runtime_names

alert if {
	opened_for_write
	startswith(input.fd.name, "/etc/")
	not etc_maintainer
	not container_runtime
	not run_by_package_tool
}
