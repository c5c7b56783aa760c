# METADATA
# title: Userfaultfd created by non-root user (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. A process without root's
#   user id successfully created a userfaultfd, a common tool for winning
#   the races of kernel exploits.
# custom:
#   priority: NOTICE
#   tags: [host, container, mitre_privilege_escalation, T1068]
#   output: >-
#     Userfaultfd created by a non-root user | process=%proc.name exepath=%proc.exepath
#     cmdline=%proc.cmdline parent=%proc.pname user=%user.name uid=%user.uid
#     pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.userfaultfd

alert if {
	input.evt.type == "userfaultfd"
	input.evt.failed == false
	input.user.uid != 0
}
