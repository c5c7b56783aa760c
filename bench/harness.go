package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/peregrine-sec/peregrine/bpf"
)

// Options configure a run of the harness.
type Options struct {
	// Rounds is how many times every tool runs every workload, the
	// tools rotated from round to round (at least 7 for a result worth
	// quoting).
	Rounds int
	// Scale multiplies every workload's call count (a quick run: 0.1).
	Scale float64
	// Workloads are run in this order under every tool.
	Workloads []Workload
	// Tools are measured in rotation; the first should be the no-tool
	// baseline.
	Tools []*Tool
	// Loadgen is the command that runs the load generator, to which the
	// harness appends the workload and the call count; it prints the
	// nanoseconds per call.
	Loadgen []string
	// ReadyTimeout bounds a tool's start (0: 2 minutes).
	ReadyTimeout time.Duration
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// Sample is one measurement: a workload under a tool in one round.
type Sample struct {
	Tool      string  `json:"tool"`
	Workload  string  `json:"workload"`
	Round     int     `json:"round"`
	NsPerCall float64 `json:"ns_per_call"`
	// WindowNs is the measured window: the load, then the tool's
	// catching up with it (alerts still arriving).
	WindowNs float64 `json:"window_ns"`
	// ToolCPUNs is the tool's on-CPU time in the window.
	ToolCPUNs float64 `json:"tool_cpu_ns"`
	RSSBytes  uint64  `json:"rss_bytes"`
	// EventsSent is what the kernel sent to userspace in the window
	// (Peregrine only, -1 for other tools).
	EventsSent int64 `json:"events_sent"`
	// Alerts are the lines the tool printed on stdout in the window that
	// name the load generator (its command line, "loadgen").
	Alerts int64 `json:"alerts"`
}

// Run measures every workload under every tool, Rounds times, and returns
// the samples with their summary. It fails when a tool does not start or
// the load generator fails.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if os.Geteuid() != 0 {
		return nil, errNotRoot
	}
	if opts.Rounds < 1 {
		opts.Rounds = 1
	}
	if opts.Scale <= 0 {
		opts.Scale = 1
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format+"\n", args...)
		}
	}
	res := &Result{Machine: describeMachine(), Started: time.Now().UTC(), Rounds: opts.Rounds, Scale: opts.Scale}
	for _, w := range opts.Workloads {
		w.Calls = max(1, int(float64(w.Calls)*opts.Scale))
		res.Workloads = append(res.Workloads, w)
	}
	for _, t := range opts.Tools {
		res.Tools = append(res.Tools, ToolInfo{Name: t.Name, Command: t.Command})
	}
	for round := 0; round < opts.Rounds; round++ {
		// Rotate the tools, so that none always runs first or last.
		n := len(opts.Tools)
		for i := 0; i < n; i++ {
			t := opts.Tools[(i+round)%n]
			logf("round %d/%d: %s", round+1, opts.Rounds, t.Name)
			samples, err := measureTool(ctx, opts, t, round, res.Workloads)
			if err != nil {
				return nil, err
			}
			res.Samples = append(res.Samples, samples...)
		}
	}
	res.Finished = time.Now().UTC()
	res.summarise()
	return res, nil
}

// measureTool starts t, runs every workload under it and stops it.
func measureTool(ctx context.Context, opts Options, t *Tool, round int, workloads []Workload) ([]Sample, error) {
	r, err := startTool(ctx, t, opts.ReadyTimeout)
	if err != nil {
		return nil, err
	}
	var out []Sample
	defer func() {
		if err := r.stop(); err != nil && opts.Log != nil {
			fmt.Fprintln(opts.Log, err)
		}
	}()
	time.Sleep(time.Second) // the tool's start-up work settles
	for _, w := range workloads {
		s, err := measure(ctx, opts, r, w)
		if err != nil {
			return nil, fmt.Errorf("%s under %s: %w", w.Name, t.Name, err)
		}
		s.Round = round
		out = append(out, s)
	}
	return out, nil
}

// measure runs one workload under a running tool.
func measure(ctx context.Context, opts Options, r *running, w Workload) (Sample, error) {
	s := Sample{Tool: r.tool.Name, Workload: w.Name, EventsSent: -1}
	var counters func() (uint64, bool)
	if r.tool.Peregrine {
		m, err := bpf.CountersOf(r.cmd.Process.Pid)
		if err != nil {
			return s, err
		}
		defer m.Close()
		counters = func() (uint64, bool) {
			c, err := bpf.ReadCounters(m)
			return c.EventsSent, err == nil
		}
	}
	sent0, _ := counterOr(counters)
	cpu0, _ := r.usage()
	lines0 := r.alerts.Load()
	start := time.Now()
	args := append(append([]string(nil), opts.Loadgen[1:]...), w.Name, strconv.Itoa(w.Calls))
	cmd := exec.CommandContext(ctx, opts.Loadgen[0], args...)
	cmd.Stderr = os.Stderr
	outb, err := cmd.Output()
	if err != nil {
		return s, fmt.Errorf("load generator: %w", err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(outb)), 64)
	if err != nil {
		return s, fmt.Errorf("load generator printed %q", outb)
	}
	s.NsPerCall = ns
	// The tool catches up: alerts may still be on their way.
	if r.tool.Command != "" {
		settle(r, w.Sensitive)
	}
	s.WindowNs = float64(time.Since(start).Nanoseconds())
	cpu1, rss := r.usage()
	s.ToolCPUNs = float64(cpu1 - cpu0)
	s.RSSBytes = rss
	s.Alerts = r.alerts.Load() - lines0
	if sent1, ok := counterOr(counters); ok {
		s.EventsSent = int64(sent1 - sent0)
	}
	return s, nil
}

func counterOr(f func() (uint64, bool)) (uint64, bool) {
	if f == nil {
		return 0, false
	}
	return f()
}

// settle waits until the tool's output stops growing: 300 ms without a
// new line (100 ms for a workload no rule matches), at most 20 s.
func settle(r *running, sensitive bool) {
	quiet := 100 * time.Millisecond
	if sensitive {
		quiet = 300 * time.Millisecond
	}
	deadline := time.Now().Add(20 * time.Second)
	last := r.lines.Load()
	for time.Now().Before(deadline) {
		time.Sleep(quiet)
		n := r.lines.Load()
		if n == last {
			return
		}
		last = n
	}
}

// Machine describes where a result was measured.
type Machine struct {
	Kernel  string `json:"kernel"`
	CPU     string `json:"cpu"`
	CPUs    int    `json:"cpus"`
	MemoryB uint64 `json:"memory_bytes"`
	Go      string `json:"go"`
}

func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					kb, _ := strconv.ParseUint(f[0], 10, 64)
					m.MemoryB = kb * 1024
				}
			}
		}
	}
	return m
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
