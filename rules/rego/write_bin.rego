# METADATA
# title: Write below binary directory (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A file directly inside a
#   system binary directory (/bin, /sbin, /usr/bin, /usr/sbin,
#   /usr/local/bin, /usr/local/sbin) was opened for writing outside of a
#   package manager. Planted or replaced executables there backdoor the
#   commands administrators and services trust.
# custom:
#   priority: ERROR
#   tags: [host, container, filesystem, mitre_persistence, T1554]
#   output: >-
#     File in a binary directory opened for writing | file=%fd.name flags=%evt.arg.flags
#     process=%proc.name exepath=%proc.exepath cmdline=%proc.cmdline parent=%proc.pname
#     ancestors=%proc.aname[2],%proc.aname[3] user=%user.name uid=%user.uid
#     pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.write_bin

binary_directories := {"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"}

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

alert if {
	opened_for_write
	input.fd.directory in binary_directories
	not run_by_package_tool
}
