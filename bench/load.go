// Package bench is the overhead harness: a load generator with named
// workloads, run with no tool, with Peregrine and with peers (bpftrace as
// the floor, a user's Falco) in one interleaved rotation, measuring what
// each tool adds to a syscall, the tool's CPU and memory, and what the
// kernel sends to userspace. Its result is a JSON file and an SVG chart.
package bench

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Workload is one kind of load: a syscall pattern the load generator
// repeats.
type Workload struct {
	Name string
	// Desc says what one call is.
	Desc string
	// Calls is how many calls a measurement makes (a quick run makes a
	// tenth).
	Calls int
	// Sensitive workloads are ones rules match: every call alerts.
	Sensitive bool
}

// Workloads are the harness's workloads, in the order it runs them.
var Workloads = []Workload{
	{Name: "getppid", Desc: "getppid(2): a syscall no rule needs", Calls: 2_000_000},
	{Name: "open-benign", Desc: "openat+close of a file in a temporary directory", Calls: 200_000},
	{Name: "open-sensitive", Desc: "openat+close of /etc/shadow for reading: rules match", Calls: 20_000, Sensitive: true},
	{Name: "exec", Desc: "fork and exec of /bin/true, and its wait", Calls: 300},
	{Name: "connect", Desc: "a loopback TCP connect and close", Calls: 20_000},
	{Name: "mixed", Desc: "the benign mix: 100 getppid, 600 benign opens and one exec of /bin/true", Calls: 300},
}

// LookupWorkload returns the workload named name.
func LookupWorkload(name string) (Workload, bool) {
	for _, w := range Workloads {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}

// SensitiveFile is what open-sensitive opens: a file the default and the
// upstream rules watch.
const SensitiveFile = "/etc/shadow"

// Generate runs n calls of workload name in this process and returns the
// nanoseconds per call. It makes the syscalls raw (no scheduler hand-off,
// no allocation per call) except for exec, whose fork and wait are the
// runtime's. It returns an error naming the call that failed.
func Generate(name string, n int) (float64, error) {
	g, err := newGenerator()
	if err != nil {
		return 0, err
	}
	defer g.close()
	step, ok := map[string]func() error{
		"getppid": g.getppid, "open-benign": g.openBenign, "open-sensitive": g.openSensitive,
		"exec": g.exec, "connect": g.connect, "mixed": g.mixed, "open-scaled": g.openScaled,
	}[name]
	if !ok {
		return 0, fmt.Errorf("no workload %q", name)
	}
	// A short warm-up, so the first measured calls find caches warm.
	for i := 0; i < n/100; i++ {
		if err := step(); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := step(); err != nil {
			return 0, err
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}

// generator holds what the workloads use: a benign file, a sensitive
// one, a loopback listener.
type generator struct {
	dir      string
	benign   *byte // NUL-terminated path of the benign file
	shadow   *byte
	listener *net.TCPListener
	addr     unix.RawSockaddrInet4
	scaled   []*byte // the files of open-scaled, one per directory
	scaledN  int
}

func newGenerator() (*generator, error) {
	dir, err := os.MkdirTemp("", "peregrine-bench-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "benign")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		return nil, err
	}
	g := &generator{dir: dir}
	if g.benign, err = unix.BytePtrFromString(path); err != nil {
		return nil, err
	}
	if g.shadow, err = unix.BytePtrFromString(SensitiveFile); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *generator) close() {
	if g.listener != nil {
		g.listener.Close()
	}
	os.RemoveAll(g.dir)
}

func (g *generator) getppid() error {
	_, _, _ = unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	return nil
}

func (g *generator) open(path *byte) error {
	fd, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(path)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("openat: %w", errno)
	}
	_, _, _ = unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	return nil
}

func (g *generator) openBenign() error { return g.open(g.benign) }

// openScaled opens a file in each of the scaling directories in turn
// (scaledRules).
func (g *generator) openScaled() error {
	if g.scaled == nil {
		for i := 0; i < scaleDirs; i++ {
			dir := filepath.Join(scaleDir, "d"+strconv.Itoa(i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			path := filepath.Join(dir, "f")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				return err
			}
			p, err := unix.BytePtrFromString(path)
			if err != nil {
				return err
			}
			g.scaled = append(g.scaled, p)
		}
	}
	g.scaledN++
	return g.open(g.scaled[g.scaledN%len(g.scaled)])
}
func (g *generator) openSensitive() error { return g.open(g.shadow) }

// atFDCWD is AT_FDCWD as a syscall argument.
var atFDCWD = func() uintptr { v := unix.AT_FDCWD; return uintptr(v) }()

var trueArgv = []string{"/bin/true"}

func (g *generator) exec() error {
	pid, err := syscall.ForkExec("/bin/true", trueArgv, &syscall.ProcAttr{Env: []string{}})
	if err != nil {
		return fmt.Errorf("exec /bin/true: %w", err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return fmt.Errorf("wait: %w", err)
	}
	return nil
}

// connect makes a loopback TCP connection to a listener that accepts and
// closes, and closes it.
func (g *generator) connect() error {
	if g.listener == nil {
		l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		g.listener = l
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		port := l.Addr().(*net.TCPAddr).Port
		g.addr = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: uint16(port&0xff)<<8 | uint16(port>>8&0xff), Addr: [4]byte{127, 0, 0, 1}}
	}
	fd, _, errno := unix.RawSyscall(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if errno != 0 {
		return fmt.Errorf("socket: %w", errno)
	}
	defer func() { _, _, _ = unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0) }()
	// Closing with a reset leaves no TIME_WAIT behind: thousands of
	// connections in a row do not run out of ports.
	linger := unix.Linger{Onoff: 1, Linger: 0}
	if _, _, errno := unix.RawSyscall6(unix.SYS_SETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_LINGER,
		uintptr(unsafe.Pointer(&linger)), unsafe.Sizeof(linger), 0); errno != 0 {
		return fmt.Errorf("setsockopt: %w", errno)
	}
	// connect blocks on the handshake: through the scheduler.
	if _, _, errno := unix.Syscall(unix.SYS_CONNECT, fd, uintptr(unsafe.Pointer(&g.addr)), unsafe.Sizeof(g.addr)); errno != 0 {
		return fmt.Errorf("connect: %w", errno)
	}
	return nil
}

func (g *generator) mixed() error {
	for i := 0; i < 100; i++ {
		_ = g.getppid()
	}
	for i := 0; i < 600; i++ {
		if err := g.openBenign(); err != nil {
			return err
		}
	}
	return g.exec()
}
