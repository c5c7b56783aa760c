# METADATA
# title: Log file cleared (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A file under /var/log was
#   truncated on open or deleted by a program that does not manage logs.
#   Wiping logs is how intruders erase the record of what they did.
# custom:
#   priority: WARNING
#   tags: [host, container, filesystem, mitre_defense_evasion, T1070.002]
#   output: >-
#     Log file truncated or deleted | syscall=%evt.type file=%fd.name path=%fs.path.name
#     flags=%evt.arg.flags result=%evt.res process=%proc.name cmdline=%proc.cmdline
#     parent=%proc.pname user=%user.name uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.log_cleared

log_managers := {"logrotate", "savelog", "rsyslogd", "syslog-ng", "systemd-journald", "journalctl"}

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

truncates if input.evt.type == "creat"

truncates if contains(input.evt.arg.flags, "O_TRUNC")

log_file_truncated if {
	opened_for_write
	truncates
	startswith(input.fd.name, "/var/log/")
}

# Each syscall with its own argument (unlink's path, unlinkat's name).
log_file_unlinked if {
	input.evt.type in {"unlink", "unlinkat"}
	startswith(input.fs.path.name, "/var/log/")
}

log_file_unlinked if {
	input.evt.type == "unlink"
	startswith(input.evt.arg.path, "/var/log/")
}

log_file_unlinked if {
	input.evt.type == "unlinkat"
	startswith(input.evt.arg.name, "/var/log/")
}

log_file_touched if log_file_truncated

log_file_touched if log_file_unlinked

log_manager if input.proc.name in log_managers

alert if {
	log_file_touched
	not log_manager
	not run_by_package_tool
}
