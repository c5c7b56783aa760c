package peregrine.rules.kernel_module_test

import data.peregrine.rules.kernel_module

load(syscall, proc, parent) := {
	"evt": {"type": syscall},
	"proc": {"name": proc, "pname": parent},
}

test_insmod if kernel_module.alert with input as load("finit_module", "insmod", "bash")

test_init_module if kernel_module.alert with input as load("init_module", "loader", "sh")

test_modprobe_from_shell if kernel_module.alert with input as load("finit_module", "modprobe", "bash")

test_udev if not kernel_module.alert with input as load("finit_module", "systemd-udevd", "systemd")

test_kernel_request if not kernel_module.alert with input as load("finit_module", "modprobe", "kworker/u8:2")

test_other_syscall if not kernel_module.alert with input as load("delete_module", "rmmod", "bash")
