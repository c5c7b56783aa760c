package bench

import (
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
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/peregrine-sec/peregrine/bpf"
)

// ScalingOptions configure the scaling measurement.
type ScalingOptions struct {
	// Peregrine is the peregrine binary.
	Peregrine string
	Loadgen   []string
	Rounds    int
	Scale     float64
	// Rules are the rule counts (default 10, 100, 1000).
	Rules []int
	Log   io.Writer
}

// ScaleStep is Peregrine's cost per event with one rule count.
type ScaleStep struct {
	Rules int `json:"rules"`
	// KernelNsPerEvent is the capture programs' run time per run (BPF
	// run-time statistics), median over rounds.
	KernelNsPerEvent float64 `json:"kernel_ns_per_event"`
	// UserNsPerEvent is Peregrine's CPU time per event it received.
	UserNsPerEvent float64 `json:"user_ns_per_event"`
	EventsPerCall  float64 `json:"events_per_call"`
	NsPerCall      float64 `json:"ns_per_call"`
}

// scaleDir is where the scaled workload opens its files.
const scaleDir = "/tmp/peregrine-scale"

// scaleDirs is how many directories the scaled workload opens files in:
// each open is a candidate for exactly one rule, whatever the count.
const scaleDirs = 10

// scaledRules writes n rules, each on opens below its own directory of
// scaleDir, with a condition userspace must test (the command line), so
// that the workload's opens reach userspace and are evaluated against one
// candidate rule each, while the other rules grow the kernel's maps.
func scaledRules(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "- rule: scaled %d\n  desc: an open below directory %d\n  condition: evt.type = openat and fd.name startswith %s/d%d/ and proc.cmdline contains peregrine-never-%d\n  output: scaled %d %%fd.name\n  priority: INFO\n",
			i, i, scaleDir, i, i, i)
	}
	return b.String()
}

// Scaling measures Peregrine's kernel and userspace cost per event with
// generated rulesets of growing size, on the workload open-scaled.
func Scaling(ctx context.Context, opts ScalingOptions) ([]ScaleStep, error) {
	if len(opts.Rules) == 0 {
		opts.Rules = []int{10, 100, 1000}
	}
	if opts.Rounds < 1 {
		opts.Rounds = 1
	}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("BPF run-time statistics: %w", err)
	}
	defer stats.Close()
	calls := max(1000, int(100_000*opts.Scale))
	var out []ScaleStep
	for _, n := range opts.Rules {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("peregrine-scale-%d.yaml", n))
		if err := os.WriteFile(path, []byte(scaledRules(n)), 0o644); err != nil {
			return nil, err
		}
		var kernel, user, events, ns []float64
		for round := 0; round < opts.Rounds; round++ {
			if opts.Log != nil {
				fmt.Fprintf(opts.Log, "scaling: %d rules, round %d/%d\n", n, round+1, opts.Rounds)
			}
			s, err := scaleOnce(ctx, opts, path, calls)
			if err != nil {
				return nil, fmt.Errorf("%d rules: %w", n, err)
			}
			kernel, user, events, ns = append(kernel, s.KernelNsPerEvent), append(user, s.UserNsPerEvent),
				append(events, s.EventsPerCall), append(ns, s.NsPerCall)
		}
		out = append(out, ScaleStep{Rules: n, KernelNsPerEvent: median(kernel), UserNsPerEvent: median(user),
			EventsPerCall: median(events), NsPerCall: median(ns)})
	}
	return out, nil
}

func scaleOnce(ctx context.Context, opts ScalingOptions, rules string, calls int) (s ScaleStep, err error) {
	t := &Tool{Name: "peregrine", Command: ShellQuote(opts.Peregrine) + " run -r " + ShellQuote(rules),
		Ready: regexp.MustCompile(`capturing \d+ syscalls`), Peregrine: true}
	r, err := startTool(ctx, t, 2*time.Minute)
	if err != nil {
		return s, err
	}
	defer func() { err = errors.Join(err, r.stop()) }()
	time.Sleep(time.Second)
	progs, err := bpf.SyscallProgramsOf(r.cmd.Process.Pid)
	if err != nil {
		return s, err
	}
	defer func() {
		for _, p := range progs {
			p.Close()
		}
	}()
	m, err := bpf.CountersOf(r.cmd.Process.Pid)
	if err != nil {
		return s, err
	}
	defer m.Close()
	c0, _ := bpf.ReadCounters(m)
	rt0, runs0 := runStats(progs)
	cpu0, _ := r.usage()
	args := append(append([]string(nil), opts.Loadgen[1:]...), "open-scaled", strconv.Itoa(calls))
	outb, err := exec.CommandContext(ctx, opts.Loadgen[0], args...).Output()
	if err != nil {
		return s, fmt.Errorf("load generator: %w", err)
	}
	settle(r, false)
	c1, _ := bpf.ReadCounters(m)
	rt1, runs1 := runStats(progs)
	cpu1, _ := r.usage()
	s.NsPerCall, _ = strconv.ParseFloat(strings.TrimSpace(string(outb)), 64)
	if runs1 > runs0 {
		s.KernelNsPerEvent = float64(rt1-rt0) / float64(runs1-runs0)
	}
	if sent := c1.EventsSent - c0.EventsSent; sent > 0 {
		s.UserNsPerEvent = float64(cpu1-cpu0) / float64(sent)
		s.EventsPerCall = float64(sent) / float64(calls)
	}
	return s, nil
}

// runStats sums the programs' run time and run count.
func runStats(progs []*ebpf.Program) (ns, runs uint64) {
	for _, p := range progs {
		if st, err := p.Stats(); err == nil {
			ns += uint64(st.Runtime)
			runs += st.RunCount
		}
	}
	return ns, runs
}

// ShellQuote quotes s for sh, as Tool.Command wants its words.
func ShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
