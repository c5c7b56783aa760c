# METADATA
# title: Setuid or setgid bit set on file (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. chmod set the setuid or
#   setgid bit outside of a package manager. A setuid-root copy of a shell
#   or an interpreter is a simple, lasting way back to root.
# custom:
#   priority: NOTICE
#   tags: [host, container, filesystem, mitre_privilege_escalation, mitre_persistence, T1548.001]
#   output: >-
#     Setuid or setgid bit set | syscall=%evt.type path=%evt.arg.filename fd_name=%fd.name
#     mode=%evt.arg.mode result=%evt.res process=%proc.name cmdline=%proc.cmdline
#     parent=%proc.pname user=%user.name uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.setuid_bit

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

sets_setid_bit if contains(input.evt.arg.mode, "S_ISUID")

sets_setid_bit if contains(input.evt.arg.mode, "S_ISGID")

alert if {
	input.evt.type in {"chmod", "fchmod", "fchmodat"}
	sets_setid_bit
	not run_by_package_tool
}
