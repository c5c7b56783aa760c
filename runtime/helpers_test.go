package runtime_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

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
	case "spawn":
		err = spawn(args)
	case "rename-spawn":
		err = renameThen(args, spawn)
	case "rename-open":
		err = renameThen(args, openPath)
	case "commwrite-open":
		err = commWriteOpen(args)
	case "thread-rename-open":
		err = threadRenameOpen(args)
	case "open":
		err = openPath(args)
	case "chdir-open":
		err = chdirOpen(args)
	case "deep":
		err = deep(args)
	case "execveat-empty":
		err = execveatEmpty(args)
	case "execveat-memfd":
		err = execveatMemfd(args)
	case "execveat-dirfd":
		err = execveatDirfd(args)
	case "lease-open":
		err = leaseOpen(args)
	case "open-burst":
		err = openBurst(args)
	case "creat":
		err = creat(args)
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

// spawn runs helper args[0] with args[1:] in a child process of this
// thread (the caller locked it) and waits for it.
func spawn(args []string) error {
	cmd := exec.Command(os.Args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "PEREGRINE_TEST_HELPER="+args[0])
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// renameThen renames this thread to args[0] (prctl PR_SET_NAME) and does
// then(args[1:]) from the same thread: a process spoofing a trusted name
// without an exec.
func renameThen(args []string, then func([]string) error) error {
	runtime.LockOSThread()
	name, err := unix.BytePtrFromString(args[0])
	if err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(name)), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl: %w", err)
	}
	return then(args[1:])
}

// commWriteOpen renames this thread by writing args[0] to
// /proc/thread-self/comm, then opens args[1].
func commWriteOpen(args []string) error {
	runtime.LockOSThread()
	if err := os.WriteFile("/proc/thread-self/comm", []byte(args[0]), 0); err != nil {
		return err
	}
	return openPath(args[1:])
}

// threadRenameOpen starts a thread that renames itself to args[0] and
// opens args[1].
func threadRenameOpen(args []string) error {
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		done <- renameThen(args, openPath)
	}()
	return <-done
}

// openFlags are the flags openPath takes by name.
var openFlags = map[string]int{
	"trunc":    unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC,
	"path":     unix.O_PATH,
	"accmode3": unix.O_ACCMODE, // read and write permission, neither access (fdutils, some drivers)
}

// openPath opens args[0] read-only, or with the flags args[1] names
// (openFlags).
func openPath(args []string) error {
	flags := unix.O_RDONLY
	if len(args) > 1 {
		flags = openFlags[args[1]]
	}
	fd, err := unix.Open(args[0], flags, 0o644)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// chdirOpen changes to directory args[0] and opens args[1] (relative).
func chdirOpen(args []string) error {
	if err := unix.Chdir(args[0]); err != nil {
		return err
	}
	return openPath(args[1:])
}

// deep makes a chain of args[1] directories below args[0], changes into
// the deepest one step by step and there opens args[3] with O_TRUNC
// (args[2] "trunc") or to read ("read"), or copies /bin/true to args[3]
// and executes it as ./args[3] ("exec").
func deep(args []string) error {
	depth, _ := strconv.Atoi(args[1])
	if err := unix.Chdir(args[0]); err != nil {
		return err
	}
	for i := 0; i < depth; i++ {
		if err := os.Mkdir("d", 0o755); err != nil && !os.IsExist(err) {
			return err
		}
		if err := unix.Chdir("d"); err != nil {
			return err
		}
	}
	name := args[3]
	if args[2] == "exec" {
		// A shell that at once replaces itself: /proc/PID/exe names
		// another program by the time userspace could look.
		data, err := os.ReadFile("/bin/sh")
		if err != nil {
			return err
		}
		if err := os.WriteFile(name, data, 0o755); err != nil {
			return err
		}
		return syscall.Exec("./"+name, []string{"./" + name, "-c", "exec /bin/true"}, os.Environ())
	}
	open := []string{name}
	if args[2] == "trunc" {
		open = append(open, "trunc")
	}
	if err := openPath(open); err != nil {
		return err
	}
	// Leave, and linger there: /proc/PID/cwd then names another directory.
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	return nil
}

// execveat runs execveat(dirfd, path, argv, environ, flags).
func execveat(dirfd int, path string, argv []string, flags int) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	av, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	ev, err := syscall.SlicePtrFromStrings(os.Environ())
	if err != nil {
		return err
	}
	_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&av[0])), uintptr(unsafe.Pointer(&ev[0])), uintptr(flags), 0)
	return fmt.Errorf("execveat %s: %w", path, e)
}

// execveatEmpty opens args[0] and executes the open file with
// execveat(fd, "", argv=args[1:], AT_EMPTY_PATH), as fexecve(3) does.
func execveatEmpty(args []string) error {
	fd, err := unix.Open(args[0], unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	return execveat(fd, "", args[1:], unix.AT_EMPTY_PATH)
}

// execveatMemfd copies args[0] into a memfd and executes that with
// execveat(memfd, "", argv=args[1:], AT_EMPTY_PATH): fileless execution
// without a /proc/self/fd path.
func execveatMemfd(args []string) error {
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	fd, err := unix.MemfdCreate("peregrine-fexecve", 0)
	if err != nil {
		return err
	}
	if _, err := unix.Write(fd, data); err != nil {
		return err
	}
	return execveat(fd, "", args[1:], unix.AT_EMPTY_PATH)
}

// execveatDirfd executes args[1] relative to directory args[0] with
// execveat(dirfd, name, argv=args[2:], 0).
func execveatDirfd(args []string) error {
	dfd, err := unix.Open(args[0], unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	return execveat(dfd, args[1], args[2:], 0)
}

// leaseOpen opens args[0] through a path buffer that it rewrites to
// args[1] while the open blocks: the test holds a write lease on args[0],
// so the open waits after the kernel copied the path; once the buffer is
// rewritten the helper says "rewritten" on its output and the test gives
// the lease up. A capture that reads the path at the syscall's exit names
// args[1]; the kernel opened args[0]. It fails when the open did not wait
// or opened something else.
func leaseOpen(args []string) error {
	size := max(len(args[0]), len(args[1])) + 1
	buf, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return err
	}
	copy(buf[:size], args[0]+"\x00")
	type result struct {
		fd     int
		err    error
		waited time.Duration
	}
	opened := make(chan result)
	go func() {
		runtime.LockOSThread()
		start := time.Now()
		// ^99 is AT_FDCWD (-100) as a register holds it.
		fd, _, e := unix.Syscall6(unix.SYS_OPENAT, ^uintptr(99), uintptr(unsafe.Pointer(&buf[0])), unix.O_RDONLY, 0, 0, 0)
		r := result{int(fd), nil, time.Since(start)}
		if e != 0 {
			r.err = e
		}
		opened <- r
	}()
	time.Sleep(300 * time.Millisecond) // the open is waiting on the lease
	copy(buf[:size], args[1]+"\x00")
	fmt.Println("rewritten")
	r := <-opened
	if r.err != nil {
		return r.err
	}
	if r.waited < 250*time.Millisecond {
		return fmt.Errorf("the open did not wait for the lease (%v)", r.waited)
	}
	got, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(r.fd))
	if err != nil {
		return err
	}
	if got != args[0] {
		return fmt.Errorf("opened %s, not %s", got, args[0])
	}
	return nil
}

// openBurst opens args[0] args[1] times.
func openBurst(args []string) error {
	n, _ := strconv.Atoi(args[1])
	for i := 0; i < n; i++ {
		if err := openPath(args[:1]); err != nil {
			return err
		}
	}
	return nil
}

// creat creates args[0] with the creat syscall (unix.Creat is an openat).
func creat(args []string) error {
	p, err := unix.BytePtrFromString(args[0])
	if err != nil {
		return err
	}
	fd, _, e := unix.Syscall(unix.SYS_CREAT, uintptr(unsafe.Pointer(p)), 0o644, 0)
	if e != 0 {
		return e
	}
	return unix.Close(int(fd))
}
