# METADATA
# title: Credential file read by untrusted program (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. Something other than the
#   login, account-management and SSH tooling opened a password hash file,
#   the sudo configuration or an SSH private key for reading: the material
#   an intruder collects to crack passwords or to reach further hosts.
# custom:
#   priority: WARNING
#   tags: [host, container, filesystem, mitre_credential_access, T1003.008, T1552.004]
#   output: >-
#     Credential file opened for reading by an untrusted program | file=%fd.name
#     process=%proc.name exepath=%proc.exepath cmdline=%proc.cmdline parent=%proc.pname
#     user=%user.name uid=%user.uid loginuid=%user.loginuid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.credential_read

# Files holding password hashes or the sudo policy.
credential_files := {
	"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
	"/etc/sudoers", "/etc/security/opasswd",
}

# Programs whose job is to read those files.
credential_readers := {
	"sshd", "sshd-session", "sudo", "su", "login", "passwd", "unix_chkpwd",
	"chage", "chpasswd", "chsh", "chfn", "useradd", "usermod", "userdel",
	"groupadd", "groupmod", "groupdel", "gpasswd", "newgrp", "vipw", "vigr",
	"visudo", "pwck", "grpck", "pwconv", "grpconv", "systemd-logind", "polkitd",
	"gdm-session-wor", "lightdm", "cron", "crond", "accounts-daemon", "ssh",
	"scp", "sftp", "ssh-add", "ssh-agent", "ssh-keygen",
}

# A regular file was opened for reading, successfully.
opened_for_read if {
	input.evt.type in {"open", "openat", "openat2"}
	input.evt.is_open_read == true
	input.evt.failed == false
	input.fd.typechar == "f"
}

sensitive_file if input.fd.name in credential_files

sensitive_file if input.fd.directory == "/etc/sudoers.d"

sensitive_file if {
	private_key_location
	not public_half
}

private_key_location if glob.match("/root/.ssh/id_*", null, input.fd.name)

private_key_location if glob.match("/home/*/.ssh/id_*", null, input.fd.name)

private_key_location if glob.match("/etc/ssh/ssh_host_*_key", null, input.fd.name)

public_half if endswith(input.fd.name, ".pub")

# A helper rule, not an inline "not input.proc.name in ...": OPA evaluates
# the input reference of a negated call outside the negation, so the inline
# form would be false when proc.name is missing, where Falco's
# "not proc.name in (...)" is true.
trusted_reader if input.proc.name in credential_readers

alert if {
	opened_for_read
	sensitive_file
	not trusted_reader
}
