# METADATA
# title: Shell spawned by network server (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A web server, language
#   runtime or database process became the parent of a freshly executed
#   shell. Servers rarely need shells, so this usually means a web shell,
#   an injected command or a remote code execution exploit.
# custom:
#   priority: WARNING
#   tags: [host, container, process, mitre_execution, mitre_persistence, T1059.004, T1505.003]
#   output: >-
#     Shell spawned by a network server | shell=%proc.name cmdline=%proc.cmdline
#     parent=%proc.pname parent_exepath=%proc.pexepath parent_cmdline=%proc.pcmdline
#     grandparent=%proc.aname[2] cwd=%proc.cwd user=%user.name uid=%user.uid
#     pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.shell_from_server

shells := {"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "pdksh", "csh", "tcsh", "fish", "rbash"}

servers := {
	"nginx", "httpd", "apache2", "lighttpd", "caddy", "haproxy", "traefik", "envoy",
	"tomcat", "java", "node", "php", "php-fpm", "php-cgi", "uwsgi", "gunicorn", "puma",
	"unicorn", "mysqld", "mariadbd", "postgres", "mongod", "redis-server", "memcached",
	"elasticsearch",
}

# A successful execve or execveat, seen at its exit.
exec_succeeded if {
	input.evt.type in {"execve", "execveat"}
	input.evt.dir == "<"
	input.evt.failed == false
}

parent_is_server if input.proc.pname in servers

# php-fpm worker names carry the version (php-fpm8.2).
parent_is_server if startswith(input.proc.pname, "php-fpm")

alert if {
	exec_succeeded
	input.proc.name in shells
	parent_is_server
}
