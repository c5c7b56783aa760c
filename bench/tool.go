package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A Tool is what the harness measures the workloads under: nothing, or a
// program it starts and stops (Peregrine, bpftrace, a peer such as Falco).
type Tool struct {
	Name string
	// Command starts the tool (nil: no tool). It runs through sh -c, so a
	// peer can be given as a shell command line.
	Command string
	// Ready matches a line the tool prints (on stdout or stderr) once it
	// watches. Nil: the tool is ready when it has printed a line to
	// stdout after an open of SensitiveFile (an alert).
	Ready *regexp.Regexp
	// Peregrine marks a Peregrine run: the harness reads its kernel
	// counters (events sent to userspace).
	Peregrine bool
}

// running is a started tool.
type running struct {
	tool   *Tool
	cmd    *exec.Cmd
	lines  atomic.Int64 // lines on stdout
	alerts atomic.Int64 // of them, those naming the load generator
	ready  chan struct{}
	once   sync.Once
	done   chan struct{}
	output *tail
}

// startTool starts t and waits until it is ready, or fails after timeout
// with what the tool printed last.
func startTool(ctx context.Context, t *Tool, timeout time.Duration) (*running, error) {
	r := &running{tool: t, ready: make(chan struct{}), done: make(chan struct{}), output: &tail{}}
	if t.Command == "" {
		close(r.ready)
		close(r.done)
		return r, nil
	}
	r.cmd = exec.Command("/bin/sh", "-c", "exec "+t.Command)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name, err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.scan(stdout, true) }()
	go func() { defer wg.Done(); r.scan(stderr, false) }()
	exited := make(chan error, 1)
	go func() {
		wg.Wait()
		exited <- r.cmd.Wait()
		close(r.done)
	}()
	deadline := time.After(timeout)
	probe := time.NewTicker(200 * time.Millisecond)
	defer probe.Stop()
	for {
		select {
		case <-r.ready:
			return r, nil
		case err := <-exited:
			return nil, fmt.Errorf("%s exited before it was ready (%v): %s", t.Name, err, r.output)
		case <-deadline:
			return nil, errors.Join(fmt.Errorf("%s not ready after %s: %s", t.Name, timeout, r.output), r.stop())
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), r.stop())
		case <-probe.C:
			if t.Ready == nil {
				touchSensitive()
			}
		}
	}
}

// loadgenMarker is in the command line of the load generator, which
// alerts show.
const loadgenMarker = "loadgen"

// touchSensitive opens SensitiveFile, which the rules of an alert-ready
// tool watch.
func touchSensitive() {
	if f, err := os.Open(SensitiveFile); err == nil {
		f.Close()
	}
}

func (r *running) scan(rd io.Reader, isStdout bool) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		r.output.add(line)
		if isStdout {
			r.lines.Add(1)
			if strings.Contains(line, loadgenMarker) {
				r.alerts.Add(1)
			}
		}
		if (r.tool.Ready != nil && r.tool.Ready.MatchString(line)) || (r.tool.Ready == nil && isStdout) {
			r.once.Do(func() { close(r.ready) })
		}
	}
}

// stop ends the tool: SIGINT to its process group, SIGKILL after 20 s.
func (r *running) stop() error {
	if r.cmd == nil || r.cmd.Process == nil {
		return nil
	}
	pgid := r.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGINT)
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-r.done
		return fmt.Errorf("%s did not stop on SIGINT: killed", r.tool.Name)
	}
	return nil
}

// usage returns the CPU time (ns, on-CPU time of every thread, from
// schedstat) and the resident memory (bytes) of the tool's processes.
func (r *running) usage() (cpuNS, rss uint64) {
	if r.cmd == nil || r.cmd.Process == nil {
		return 0, 0
	}
	for _, pid := range processTree(r.cmd.Process.Pid) {
		cpuNS += processCPU(pid)
		rss += processRSS(pid)
	}
	return cpuNS, rss
}

// processTree returns pid and its descendants.
func processTree(root int) []int {
	parents := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			parents[ppid] = append(parents[ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, parents[out[i]]...)
	}
	return out
}

func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// The comm field is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// processCPU sums the on-CPU nanoseconds of pid's threads.
func processCPU(pid int) uint64 {
	tasks, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	var sum uint64
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", t.Name(), "schedstat"))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseUint(f[0], 10, 64)
			sum += n
		}
	}
	return sum
}

// processRSS reads VmRSS in bytes.
func processRSS(pid int) uint64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// tail keeps the last lines a tool printed, for error messages.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 8 {
		t.lines = t.lines[1:]
	}
	t.lines = append(t.lines, line)
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return "(no output)"
	}
	return strings.Join(t.lines, " | ")
}

var errNotRoot = errors.New("the harness needs root: the tools load eBPF programs")
