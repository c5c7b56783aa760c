package runtime_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runHelper performs a behaviour that the capture should see, in a
// process of its own. It returns the exit status.
func runHelper(name string, args []string) int {
	var err error
	switch name {
	case "ptrace-attach":
		err = ptraceAttach()
	case "ptrace-traceme":
		_, _, e := unix.Syscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0)
		if e != 0 {
			err = e
		}
	case "memfd-exec":
		err = memfdExec(args)
	case "benign-load":
		err = benignLoad(args)
	default:
		err = fmt.Errorf("unknown helper %q", name)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		return 1
	}
	return 0
}

// ptraceAttach starts a sleeping child and attaches to it with
// PTRACE_ATTACH, then detaches.
func ptraceAttach() error {
	child := exec.Command("sleep", "5")
	if err := child.Start(); err != nil {
		return err
	}
	defer child.Process.Kill()
	pid := child.Process.Pid
	if err := unix.PtraceAttach(pid); err != nil {
		return fmt.Errorf("PTRACE_ATTACH %d: %w", pid, err)
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	return unix.PtraceDetach(pid)
}

// memfdExec copies a program (args[0], default /bin/true) into a memfd
// and executes it from there: fileless execution.
func memfdExec(args []string) error {
	src := "/bin/true"
	if len(args) > 0 {
		src = args[0]
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	fd, err := unix.MemfdCreate("peregrine-test", 0)
	if err != nil {
		return err
	}
	if _, err := unix.Write(fd, data); err != nil {
		return err
	}
	path := "/proc/self/fd/" + strconv.Itoa(fd)
	argv := append([]string{"memfd-program"}, args[min(1, len(args)):]...)
	time.Sleep(10 * time.Millisecond)
	return syscall.Exec(path, argv, os.Environ())
}

// benignLoad opens and closes args[0] files in the directory args[2]
// (cycling over 100 names) and runs /bin/true args[1] times: activity no
// upstream rule is about.
func benignLoad(args []string) error {
	opens, _ := strconv.Atoi(args[0])
	execs, _ := strconv.Atoi(args[1])
	dir := args[2]
	for i := 0; i < 100; i++ {
		if err := os.WriteFile(fmt.Sprintf("%s/f%d", dir, i), nil, 0o644); err != nil {
			return err
		}
	}
	for i := 0; i < opens; i++ {
		fd, err := unix.Open(fmt.Sprintf("%s/f%d", dir, i%100), unix.O_RDONLY, 0)
		if err != nil {
			return err
		}
		unix.Close(fd)
	}
	for i := 0; i < execs; i++ {
		if err := exec.Command("/bin/true").Run(); err != nil {
			return err
		}
	}
	return nil
}
