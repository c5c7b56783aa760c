# METADATA
# title: Link created to sensitive file (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A symbolic or hard link
#   was made to a password database, the sudo policy or another file that
#   decides who logs in or what runs as root: a way to read the file under
#   an innocent name, or to trick a privileged program into overwriting it.
# custom:
#   priority: WARNING
#   tags: [host, container, filesystem, mitre_credential_access, mitre_privilege_escalation, T1003.008, T1548]
#   output: >-
#     Link created to a sensitive file | syscall=%evt.type symlink_target=%evt.arg.target
#     symlink_path=%evt.arg.linkpath hardlink_source=%evt.arg.oldpath hardlink_path=%evt.arg.newpath
#     result=%evt.res process=%proc.name cmdline=%proc.cmdline parent=%proc.pname
#     user=%user.name uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.link_sensitive

protected_link_targets := {
	"/etc/shadow", "/etc/gshadow", "/etc/passwd", "/etc/group", "/etc/sudoers",
	"/etc/pam.conf", "/etc/ld.so.preload", "/etc/crontab", "/root/.ssh/authorized_keys",
}

# symlink(target, linkpath): the link points at target.
links_to_protected if {
	input.evt.type in {"symlink", "symlinkat"}
	input.evt.arg.target in protected_link_targets
}

links_to_protected if {
	input.evt.type in {"symlink", "symlinkat"}
	startswith(input.evt.arg.target, "/etc/sudoers.d/")
}

# link(oldpath, newpath): newpath is another name for oldpath.
links_to_protected if {
	input.evt.type in {"link", "linkat"}
	input.evt.arg.oldpath in protected_link_targets
}

links_to_protected if {
	input.evt.type in {"link", "linkat"}
	startswith(input.evt.arg.oldpath, "/etc/sudoers.d/")
}

alert if links_to_protected
