# METADATA
# title: Kernel module loaded (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. init_module or
#   finit_module loaded code into the kernel, and not as part of the
#   automatic loading that udev and the kernel's own module requests do.
#   Loadable modules run with full kernel privilege; rootkits ship as
#   modules.
# custom:
#   priority: WARNING
#   tags: [host, container, mitre_persistence, mitre_defense_evasion, T1547.006, T1014]
#   output: >-
#     Kernel module loaded | syscall=%evt.type fd=%evt.arg.fd module_file=%fd.name
#     result=%evt.res process=%proc.name exepath=%proc.exepath cmdline=%proc.cmdline
#     parent=%proc.pname user=%user.name uid=%user.uid loginuid=%user.loginuid
#     pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.kernel_module

module_autoloaders := {"systemd-udevd", "systemd-modules-load", "udevd"}

autoloader if input.proc.name in module_autoloaders

# modprobe run by the kernel (request_module) has a kworker parent.
kernel_requested if {
	input.proc.name in {"modprobe", "kmod"}
	startswith(input.proc.pname, "kworker")
}

alert if {
	input.evt.type in {"init_module", "finit_module"}
	not autoloader
	not kernel_requested
}
