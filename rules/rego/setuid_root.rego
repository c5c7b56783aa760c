# METADATA
# title: Non-root process set uid to root (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A process outside the
#   usual privilege tools called setuid(0) while running as a non-root
#   user, or in a session a non-root user logged in to: it holds a
#   capability it should not, or it is an exploit completing its
#   escalation. Failed attempts count too.
# custom:
#   priority: ERROR
#   tags: [host, container, process, mitre_privilege_escalation, T1068, T1548]
#   output: >-
#     Process switched its user id to root | requested_uid=%evt.arg.uid result=%evt.res
#     process=%proc.name exepath=%proc.exepath cmdline=%proc.cmdline parent=%proc.pname
#     user=%user.name uid=%user.uid loginuid=%user.loginuid caps=%thread.cap_effective
#     pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.setuid_root

uid_switchers := {
	"sudo", "su", "doas", "pkexec", "newgrp", "sg", "login", "sshd", "sshd-session", "runuser",
	"cron", "crond", "atd", "systemd", "systemd-logind", "gdm-session-wor", "lightdm",
	"polkit-agent-he", "dbus-daemon-lau", "unix_chkpwd",
}

# Not root, or in a session a non-root user logged in to.
non_root_user if input.user.uid != 0

non_root_user if input.user.loginuid > 0

uid_switcher if input.proc.name in uid_switchers

alert if {
	input.evt.type == "setuid"
	input.evt.arg.uid in {"root", "0"}
	non_root_user
	not uid_switcher
}
