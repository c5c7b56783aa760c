package bpf

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/rules"
	"github.com/peregrine-sec/peregrine/syscalls"
	"golang.org/x/sys/unix"
)

// The overhead harness: a load generator in a child process (the capture
// ignores its own process) makes one syscall in a loop, with no program
// loaded and with the capture attached in each mode, and reports the
// nanoseconds per call. Run it with
//
//	go test -run '^$' -bench Overhead -count 5 ./bpf | tee /tmp/o.txt; benchstat /tmp/o.txt
//
// benchmarkSyscalls is what the capture attaches to: the syscalls the
// default ruleset needs that have a tracepoint on every kernel.
var benchmarkSyscalls = []string{"openat", "open", "openat2", "creat", "execve", "execveat", "connect",
	"socket", "symlink", "symlinkat", "link", "linkat", "unlink", "unlinkat", "chmod", "fchmod", "fchmodat",
	"setuid", "setns", "unshare", "ptrace", "bpf", "userfaultfd", "mount", "dup", "dup2", "dup3", "chdir", "fchdir"}

func TestMain(m *testing.M) {
	if what := os.Getenv("PEREGRINE_LOADGEN"); what != "" {
		n, _ := strconv.Atoi(os.Getenv("PEREGRINE_LOADGEN_N"))
		ns, err := loadgen(what, n)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(ns)
		os.Exit(0)
	}
	if mode := os.Getenv("PEREGRINE_LOAD_MODE"); mode != "" {
		os.Exit(loadOnce(AttachMode(mode)))
	}
	os.Exit(m.Run())
}

// loadgen makes n calls of one kind and returns the nanoseconds per call.
func loadgen(what string, n int) (float64, error) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("peregrine-loadgen-%d", os.Getpid()))
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return 0, err
	}
	defer os.Remove(path)
	start := time.Now()
	switch what {
	case "getppid":
		for i := 0; i < n; i++ {
			unix.Getppid()
		}
	case "openat":
		for i := 0; i < n; i++ {
			fd, err := unix.Openat(unix.AT_FDCWD, path, unix.O_RDONLY, 0)
			if err != nil {
				return 0, err
			}
			unix.Close(fd)
		}
	default:
		return 0, fmt.Errorf("unknown load %q", what)
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}

func runLoadgen(b *testing.B, what string) float64 {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "PEREGRINE_LOADGEN="+what, "PEREGRINE_LOADGEN_N="+strconv.Itoa(b.N))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("load generator: %v", err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatal(err)
	}
	return ns
}

func BenchmarkOverhead(b *testing.B) {
	requireRoot(b)
	for _, load := range []string{"getppid", "openat"} {
		for _, mode := range []AttachMode{"none", AttachTracepoints, AttachRawTracepoints, "tracepoint+filter"} {
			b.Run(load+"/"+string(mode), func(b *testing.B) {
				if mode != "none" {
					attach := mode
					if mode == "tracepoint+filter" {
						attach = AttachTracepoints
					}
					p, stop := drainedProbe(b, Options{Syscalls: benchmarkSyscalls, Mode: attach})
					defer stop()
					if mode == "tracepoint+filter" {
						// A rule on sensitive files: the load generator's
						// opens of its temp file are dropped in the kernel.
						if _, err := p.ApplyPlan(sensitiveFilePlan(b, "").Encoding); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ResetTimer()
				ns := runLoadgen(b, load)
				b.StopTimer()
				b.ReportMetric(ns, "ns/call")
			})
		}
	}
}

// filterRules writes n rules with distinct kernel predicates on openat.
func filterRules(b *testing.B, n int) *compiler.Plan {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "- rule: r%d\n  desc: d\n  condition: evt.type = openat and proc.name = p%d and fd.name startswith /dir%d/ and evt.is_open_write = true\n  output: o\n  priority: info\n", i, i, i)
	}
	l := falcocompat.NewLoader()
	l.AddFile("gen.yaml", []byte(sb.String()))
	res := l.Compile()
	if err := res.Err(); err != nil {
		b.Fatal(err)
	}
	plan, err := compiler.Compile(res.Ruleset, compiler.Options{Syscalls: []string{"openat"}})
	if err != nil {
		b.Fatal(err)
	}
	return plan
}

// drainedProbe loads the capture with a reader that discards its records.
// The function it returns stops both: a benchmark's function runs several
// times, and each run must leave nothing attached.
func drainedProbe(b *testing.B, opts Options) (*Probe, func()) {
	b.Helper()
	p, err := Load(opts)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var rec Record
		for {
			if err := p.ReadInto(&rec); errors.Is(err, ringbuf.ErrClosed) {
				return
			}
		}
	}()
	return p, func() { p.Close(); <-done }
}

// enableRunTimeStats turns the kernel's BPF run-time statistics on until
// the benchmark (with its sub-benchmarks) ends, or skips it when the kernel
// refuses.
func enableRunTimeStats(b *testing.B) {
	b.Helper()
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Skipf("BPF run-time statistics: %v", err)
	}
	b.Cleanup(func() { stats.Close() })
}

// runCost reads prog's run-time statistics now; the function it returns
// reports, as metric unit, the nanoseconds per run since.
func runCost(b *testing.B, prog *ebpf.Program, unit string) func() {
	before, _ := prog.Stats()
	return func() {
		after, _ := prog.Stats()
		if runs := after.RunCount - before.RunCount; runs > 0 {
			b.ReportMetric(float64(after.Runtime-before.Runtime)/float64(runs), unit)
		}
	}
}

// BenchmarkFilterCost reports the capture program's cost per openat, from
// the kernel's BPF run-time statistics, as the rule count grows: the
// filter's lookups per event do not depend on it.
func BenchmarkFilterCost(b *testing.B) {
	requireRoot(b)
	enableRunTimeStats(b)
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			p, err := Load(Options{Syscalls: []string{"openat"}})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			if _, err := p.ApplyPlan(filterRules(b, n).Encoding); err != nil {
				b.Fatal(err)
			}
			exit := runCost(b, p.objs.TpSysExit, "ns/exit-prog-run")
			b.ResetTimer()
			runLoadgen(b, "openat")
			b.StopTimer()
			exit()
			c, _ := p.Counters()
			b.ReportMetric(float64(c.EventsSent), "events-sent")
		})
	}
}

// sensitiveFilePlan compiles a rule on reads of sensitive files.
func sensitiveFilePlan(b *testing.B, more string) *compiler.Plan {
	l := falcocompat.NewLoader()
	l.AddFile("r.yaml", []byte("- rule: r\n  desc: d\n  condition: evt.type in (open, openat, openat2) and evt.is_open_read = true and fd.name in (/etc/shadow, /etc/sudoers)"+more+"\n  output: o\n  priority: info\n"))
	res := l.Compile()
	if err := res.Err(); err != nil {
		b.Fatal(err)
	}
	plan, err := compiler.Compile(res.Ruleset, compiler.Options{Syscalls: benchmarkSyscalls})
	if err != nil {
		b.Fatal(err)
	}
	return plan
}

// BenchmarkProgramCost reports, from the kernel's BPF run-time statistics,
// what the entry and exit programs cost per openat of the load generator
// (its temp file), with every record sent (no plan) and with a plan that
// drops them at the exit (a rule on sensitive files).
func BenchmarkProgramCost(b *testing.B) {
	requireRoot(b)
	enableRunTimeStats(b)
	for _, mode := range []string{"ship-all", "drop-at-exit"} {
		b.Run(mode, func(b *testing.B) {
			p, stop := drainedProbe(b, Options{Syscalls: benchmarkSyscalls, Mode: AttachTracepoints})
			defer stop()
			if mode == "drop-at-exit" {
				if _, err := p.ApplyPlan(sensitiveFilePlan(b, "").Encoding); err != nil {
					b.Fatal(err)
				}
			}
			openatCost(b, p)
		})
	}
}

// openatCost runs the load generator's openat loop under p and reports
// what the entry and exit programs cost per call (BPF run-time stats).
func openatCost(b *testing.B, p *Probe) {
	enter := runCost(b, p.objs.TpSysEnter, "ns/enter")
	exit := runCost(b, p.objs.TpSysExit, "ns/exit")
	b.ResetTimer()
	ns := runLoadgen(b, "openat")
	b.StopTimer()
	enter()
	exit()
	b.ReportMetric(ns, "ns/call")
}

// BenchmarkContainerCost reports what the container dimension costs the
// entry and exit programs per openat of the load generator, under the
// sensitive-file rule without it (unused), and with "container.id !=
// host" added, the load generator's cgroups not classified (unknown),
// classified as the host's (dropped at the entry) and as a container's
// (judged on to the exit, as unused is).
func BenchmarkContainerCost(b *testing.B) {
	requireRoot(b)
	enableRunTimeStats(b)
	for _, mode := range []string{"unused", "unknown", "host", "container"} {
		b.Run(mode, func(b *testing.B) {
			p, err := Load(Options{Syscalls: benchmarkSyscalls, Mode: AttachTracepoints})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			c := &recorder{pids: map[uint32]bool{uint32(os.Getpid()): true}}
			go c.read(p)
			plan := sensitiveFilePlan(b, "")
			if mode != "unused" {
				plan = sensitiveFilePlan(b, " and container.id != host")
			}
			if _, err := p.ApplyPlan(plan.Encoding); err != nil {
				b.Fatal(err)
			}
			if mode == "host" || mode == "container" {
				classifyOwnCgroups(b, p, c, mode == "container")
			}
			openatCost(b, p)
		})
	}
}

// BenchmarkAttachFloor measures the load generator with programs that do
// nothing attached to openat's tracepoints and to the raw syscall
// tracepoints: the part of BenchmarkOverhead no program can save.
func BenchmarkAttachFloor(b *testing.B) {
	requireRoot(b)
	for _, load := range []string{"getppid", "openat"} {
		for _, mode := range []string{"none", "empty-tp", "empty-raw"} {
			b.Run(load+"/"+mode, func(b *testing.B) {
				var links []link.Link
				if mode != "none" {
					typ := ebpf.TracePoint
					if mode == "empty-raw" {
						typ = ebpf.RawTracepoint
					}
					prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: typ, License: "GPL",
						Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
					if err != nil {
						b.Fatal(err)
					}
					defer prog.Close()
					if mode == "empty-tp" {
						for _, tp := range []string{"sys_enter_openat", "sys_exit_openat"} {
							l, err := link.Tracepoint("syscalls", tp, prog, nil)
							if err != nil {
								b.Fatal(err)
							}
							links = append(links, l)
						}
					} else {
						for _, tp := range []string{"sys_enter", "sys_exit"} {
							l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp, Program: prog})
							if err != nil {
								b.Fatal(err)
							}
							links = append(links, l)
						}
					}
				}
				defer func() {
					for _, l := range links {
						l.Close()
					}
				}()
				b.ResetTimer()
				ns := runLoadgen(b, load)
				b.StopTimer()
				b.ReportMetric(ns, "ns/call")
			})
		}
	}
}

// rulesetPlan loads a named ruleset ("default": the embedded rules;
// "upstream": Falco's stable rules from ../shared) and compiles it for the
// syscalls it needs, as peregrine run does.
func rulesetPlan(b testing.TB, which string) ([]string, *compiler.Plan) {
	b.Helper()
	var res *falcocompat.Result
	switch which {
	case "default":
		name, src := rules.Default()
		l := falcocompat.NewLoader()
		l.AddFile(name, src)
		res = l.Compile()
	case "upstream":
		path := "../../shared/falco/falco_rules.yaml"
		if _, err := os.Stat(path); err != nil {
			if os.Getenv("CI") != "" {
				b.Fatalf("upstream rules needed in CI: %v", err)
			}
			b.Skipf("upstream rules absent: %v", err)
		}
		res = falcocompat.LoadPaths(path)
	}
	if err := res.Err(); err != nil {
		b.Fatal(err)
	}
	set := map[string]bool{}
	for _, s := range syscalls.Table {
		if s.State {
			set[s.Name] = true
		}
	}
	for _, r := range res.Ruleset.Enabled() {
		if r.EventTypes == nil {
			for _, s := range syscalls.Table {
				set[s.Name] = true
			}
		}
		for _, t := range r.EventTypes {
			if _, ok := lookup(t); ok {
				set[t] = true
			}
		}
	}
	var names []string
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	plan, err := compiler.Compile(res.Ruleset, compiler.Options{Syscalls: names})
	if err != nil {
		b.Fatal(err)
	}
	return names, plan
}

// BenchmarkOverheadRulesets is the overhead harness with the rulesets
// peregrine run is used with, attached as run attaches them (the mode the
// kernel's features call for): what a user's machine pays.
func BenchmarkOverheadRulesets(b *testing.B) {
	requireRoot(b)
	for _, set := range []string{"default", "upstream"} {
		for _, load := range []string{"getppid", "openat"} {
			b.Run(set+"/"+load, func(b *testing.B) {
				names, plan := rulesetPlan(b, set)
				p, stop := drainedProbe(b, Options{Syscalls: names})
				defer stop()
				if _, err := p.ApplyPlan(plan.Encoding); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				ns := runLoadgen(b, load)
				b.StopTimer()
				b.ReportMetric(ns, "ns/call")
			})
		}
	}
}
