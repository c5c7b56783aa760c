package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/peregrine-sec/peregrine/bpf"
	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/container"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime/proctable"
	"github.com/peregrine-sec/peregrine/syscalls"
	"golang.org/x/sys/unix"
)

// LiveOptions configure a live capture.
type LiveOptions struct {
	Ruleset  *policy.Ruleset
	Matching Matching
	// RingBufferSize is the kernel ring buffer's size in bytes (0: 8 MiB).
	RingBufferSize int
	// Mode is the attach mode; empty picks the cheapest the kernel offers.
	Mode bpf.AttachMode
	// Record, when set, receives every event that reached userspace, in
	// the replay format.
	Record io.Writer
	// ProcRoot is where /proc is mounted ("/proc" when empty).
	ProcRoot string
	// NoKernelFilter turns the kernel filter off: every captured syscall
	// reaches userspace, as with Falco (for comparison).
	NoKernelFilter bool
	// Containers, when set, looks up the metadata of the containers the
	// processes run in (container.name, image, k8s.*); without it those
	// fields are absent in containers. Live does not close it.
	Containers *container.Resolver
	// ContainerDeadline is how long an alert whose rule needs container
	// metadata waits for a lookup under way (0: DefaultContainerDeadline).
	ContainerDeadline time.Duration
	// ContainerSweep is how often the metadata of containers no process
	// runs in any more is dropped (0: 10 s), checked at exits.
	ContainerSweep time.Duration
}

// Live is a running capture: the eBPF probe, the process table it keeps,
// and the pipeline evaluating each event.
type Live struct {
	probe *bpf.Probe
	table *proctable.Table
	users *proctable.Users
	// plans holds the last plans applied, by number (Record.Plan): a
	// record's mask is read with the plan that judged it, and current is
	// the running one.
	plans    [planHistory]atomic.Pointer[numberedPlan]
	current  atomic.Pointer[numberedPlan]
	reloadMu sync.Mutex
	// pipe evaluates the events with the plan that judged each.
	pipe     *Pipeline
	noFilter bool
	proc     string
	// bootToWall turns CLOCK_BOOTTIME nanoseconds into wall-clock ones.
	bootToWall int64
	// bootEpoch is the boot time as libscap reads it, Falco's
	// container.start_ts on the host (0 when unknown), and its text.
	bootEpoch     uint64
	bootEpochText json.Number
	num           uint64
	// execFilename holds, per process, the file name of its last exec
	// until the execve record that follows uses it.
	execFilename map[int32]string
	exits        []bpf.Exit              // handle's buffer
	caps         map[uint64]string       // see capNames
	rendered     map[renderKey]string    // see render
	procFields   map[int32]*processCache // see processFields
	envKeys      atomic.Pointer[envKeys] // see envKeysOf
	chain        []*proctable.Process    // processFields' buffer
	// ev is the event of the record being handled, read from src.
	ev       policy.Event
	src      liveEvent
	syscalls []string
	// sent counts the syscall records that reached userspace, by
	// syscall number (telemetry reads it; see SyscallEvents).
	sent [maxSyscallNr]atomic.Uint64
	// onPlan is called with each plan applied (OnPlan).
	onPlan atomic.Pointer[func(*compiler.Plan)]
	// containers looks container metadata up (nil: none); requested
	// holds the containers asked for, lastSweep when the cache was last
	// swept of gone containers.
	containers *container.Resolver
	// classes are the cgroups classified for the kernel's container
	// dimension.
	classes    *cgroupClasses
	requested  map[string]bool
	lastSweep  time.Time
	sweepEvery time.Duration
}

// maxSyscallNr bounds the syscall numbers Live counts per syscall.
const maxSyscallNr = 512

// planHistory is how many plans Live keeps for the records still queued
// when a reload applies a new one. A record whose plan is older is
// evaluated against every rule of the running plan.
const planHistory = 8

// numberedPlan is a compiled plan with the number the kernel gave it.
type numberedPlan struct {
	num  uint32
	plan *compiler.Plan
}

// SyscallsFor returns the capturable syscalls the ruleset's enabled rules
// can match, plus the ones the process state needs (the table's State
// rows: the process table learns exec file names and working directories
// from them). A rule without an event-type restriction needs every
// capturable syscall.
func SyscallsFor(rs *policy.Ruleset) []string {
	set := map[string]bool{}
	for _, s := range syscalls.Table {
		if s.State {
			set[s.Name] = true
		}
	}
	for _, r := range rs.Enabled() {
		if r.EventTypes == nil {
			for _, s := range syscalls.Table {
				set[s.Name] = true
			}
			continue
		}
		for _, t := range r.EventTypes {
			if _, ok := syscalls.Lookup(t); ok {
				set[t] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// StartLive bootstraps the process table from /proc, loads and attaches
// the capture program for the syscalls the rules need, and returns the
// running capture. It returns an error naming the missing privilege or
// kernel feature when the kernel refuses.
func StartLive(opts LiveOptions) (*Live, error) {
	procRoot := opts.ProcRoot
	if procRoot == "" {
		procRoot = "/proc"
	}
	l := &Live{
		pipe:         PlanPipeline(nil, opts.Matching),
		table:        proctable.New(procRoot),
		users:        proctable.NewUsers("/etc/passwd", "/etc/group"),
		proc:         procRoot,
		syscalls:     SyscallsFor(opts.Ruleset),
		execFilename: map[int32]string{},
		containers:   opts.Containers,
		sweepEvery:   opts.ContainerSweep,
	}
	if l.sweepEvery <= 0 {
		l.sweepEvery = containerSweep
	}
	if l.containers != nil {
		deadline := opts.ContainerDeadline
		if deadline <= 0 {
			deadline = DefaultContainerDeadline
		}
		l.pipe.Hold(l, deadline)
	}
	if opts.Record != nil {
		l.pipe.Record(opts.Record)
	}
	boot, err := proctable.BoottimeNow()
	if err != nil {
		return nil, err
	}
	l.bootToWall = time.Now().UnixNano() - int64(boot)
	l.bootEpoch, _ = proctable.BootTimeEpoch(procRoot)
	l.bootEpochText = json.Number(strconv.FormatUint(l.bootEpoch, 10))
	l.noFilter = opts.NoKernelFilter
	plan, err := compiler.Compile(opts.Ruleset, compiler.Options{Syscalls: l.syscalls, NoKernelFilter: opts.NoKernelFilter})
	if err != nil {
		return nil, fmt.Errorf("compile rules: %w", err)
	}
	probe, err := bpf.Load(bpf.Options{Syscalls: l.syscalls, RingBufferSize: opts.RingBufferSize, Mode: opts.Mode})
	if err != nil {
		return nil, err
	}
	l.probe = probe
	l.classes = newCgroupClasses(probe)
	l.envKeys.Store(envKeysOf(opts.Ruleset))
	if err := l.apply(plan); err != nil {
		return nil, errors.Join(err, probe.Close())
	}
	// Bootstrap after attaching, so a process started in between is seen
	// by one or the other.
	if err := l.table.Bootstrap(); err != nil {
		return nil, errors.Join(fmt.Errorf("read %s: %w", procRoot, err), probe.Close())
	}
	// The containers already running are looked up now, not at their
	// first alert.
	for _, p := range l.table.Containers() {
		l.requestContainer(p)
	}
	l.lastSweep = time.Now()
	return l, nil
}

// Plan returns the compiled plan the kernel filter runs.
func (l *Live) Plan() *compiler.Plan { return l.current.Load().plan }

// apply makes plan the running one: it is in place for the records it will
// judge before the kernel switches to it. On an error the running plan
// stays.
func (l *Live) apply(plan *compiler.Plan) error {
	num, err := l.probe.NextPlan()
	if err != nil {
		return fmt.Errorf("kernel filter: %w", err)
	}
	np := &numberedPlan{num: num, plan: plan}
	slot := &l.plans[num%planHistory]
	old := slot.Swap(np)
	if _, err := l.probe.ApplyPlan(plan.Encoding); err != nil {
		slot.Store(old)
		return fmt.Errorf("kernel filter: %w", err)
	}
	l.current.Store(np)
	if hook := l.onPlan.Load(); hook != nil {
		(*hook)(plan)
	}
	return nil
}

// OnPlan makes Live call f with every plan it applies from now on (a
// reload's; telemetry records its compile). f runs in the reloading
// goroutine and must not block.
func (l *Live) OnPlan(f func(*compiler.Plan)) { l.onPlan.Store(&f) }

// planOf returns the plan that judged record r and the classes it
// passed; for a record whose plan is no longer kept, the running plan and
// every class.
func (l *Live) planOf(r *bpf.Record) (*compiler.Plan, compiler.Mask) {
	if np := l.plans[r.Plan%planHistory].Load(); np != nil && np.num == r.Plan {
		return np.plan, compiler.Mask(r.Mask)
	}
	np := l.current.Load()
	if np == nil {
		return nil, compiler.Mask{}
	}
	return np.plan, compiler.AllClasses(compiler.MaskBits)
}

// Reload compiles a new ruleset and makes it the running one: the kernel
// filter switches generation atomically, and records judged by the old
// plan are still evaluated with it. On an error the running plan stays.
// Rules needing syscalls the capture does not attach (they are chosen at
// start) get no events from them; the returned warnings name them.
func (l *Live) Reload(rs *policy.Ruleset) (warnings []string, err error) {
	l.reloadMu.Lock()
	defer l.reloadMu.Unlock()
	captured := map[string]bool{}
	for _, s := range l.syscalls {
		captured[s] = true
	}
	for _, s := range SyscallsFor(rs) {
		if !captured[s] {
			warnings = append(warnings, fmt.Sprintf("syscall %s is not captured by this run: restart to capture it", s))
		}
	}
	plan, err := compiler.Compile(rs, compiler.Options{Syscalls: l.syscalls, NoKernelFilter: l.noFilter})
	if err != nil {
		return warnings, fmt.Errorf("compile rules: %w", err)
	}
	if err := l.apply(plan); err != nil {
		return warnings, err
	}
	l.envKeys.Store(envKeysOf(rs))
	return warnings, nil
}

// Syscalls returns the syscalls being captured.
func (l *Live) Syscalls() []string { return l.syscalls }

// Mode returns the attach mode in use.
func (l *Live) Mode() bpf.AttachMode { return l.probe.Mode() }

// ProgramIDs returns the kernel ids of the capture's programs.
func (l *Live) ProgramIDs() []ebpf.ProgramID { return l.probe.ProgramIDs() }

// RawSyscalls returns the syscalls captured through raw tracepoints in
// tracepoint mode, because the kernel has no tracepoint for them.
func (l *Live) RawSyscalls() []string { return l.probe.RawSyscalls() }

// Blind returns what this capture cannot see that processes on this
// kernel can do, one sentence each: 32-bit syscalls in tracepoint mode,
// x32 syscalls.
func (l *Live) Blind() []string {
	var out []string
	if bpf.IA32Enabled() && !l.probe.SeesIA32() {
		out = append(out, "32-bit (ia32) syscalls are not seen: the kernel runs them, and only the raw tracepoints trace them (attach mode raw_tracepoint)")
	}
	if bpf.X32Enabled() {
		out = append(out, "x32 syscalls are not seen: this kernel runs them and Peregrine does not capture them")
	}
	return out
}

// Uncaptured returns the enabled rules that can only match event types
// Peregrine does not capture: rules that never fire.
func Uncaptured(rs *policy.Ruleset) []*policy.Rule {
	var out []*policy.Rule
	for _, r := range rs.Enabled() {
		if r.EventTypes == nil {
			continue
		}
		captured := false
		for _, t := range r.EventTypes {
			if _, ok := syscalls.Lookup(t); ok {
				captured = true
				break
			}
		}
		if !captured {
			out = append(out, r)
		}
	}
	return out
}

// Run reads records until ctx is done, keeps the process table, runs
// every syscall event through the pipeline and calls emit for each alert.
// When ctx is done it still handles the records already in the ring
// buffer, then returns. An error from emit is reported by Run's caller
// through onError and does not stop detection.
func (l *Live) Run(ctx context.Context, emit func(Alert) error, onError func(error)) error {
	if onError == nil {
		onError = func(error) {}
	}
	go func() {
		<-ctx.Done()
		// Drain: records already in the ring buffer are still handled.
		if err := l.probe.Flush(); err != nil {
			// Without a flush the reader would wait for the next record:
			// closing ends it, with what is left unread.
			onError(fmt.Errorf("drain the ring buffer: %w", err))
			if err := l.probe.Close(); err != nil {
				onError(err)
			}
		}
	}()
	var rec bpf.Record
	return l.pipe.Run(func(in *Input) error { return l.next(&rec, in) }, emit, onError)
}

// next is the live source: it reads the next record into rec and updates
// the process table from it; for a syscall record it sets in to the event
// in Falco's fields with the plan and the classes that judged it. It
// returns io.EOF once the ring buffer is closed or drained.
func (l *Live) next(rec *bpf.Record, in *Input) error {
	err := l.probe.ReadInto(rec)
	if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, ringbuf.ErrFlushed) {
		return io.EOF
	}
	if err != nil {
		return err
	}
	*in = l.input(rec, l.handle(rec))
	return nil
}

// input is the pipeline's input for the event ev built from record r.
func (l *Live) input(r *bpf.Record, ev *policy.Event) Input {
	if ev == nil || r.Kind != bpf.KindSyscall {
		return Input{}
	}
	plan, mask := l.planOf(r)
	if r.Syscall < maxSyscallNr {
		l.sent[r.Syscall].Add(1)
	}
	return Input{Event: ev, Plan: plan, Syscall: syscallName(r), Mask: mask}
}

// evaluate runs the pipeline's evaluation on the event ev built from r.
func (l *Live) evaluate(r *bpf.Record, ev *policy.Event, dst []Alert) []Alert {
	in := l.input(r, ev)
	return l.pipe.Evaluate(&in, dst)
}

// Metrics are the counters `peregrine run` reports.
type Metrics struct {
	Kernel    bpf.Counters `json:"kernel"`
	Userspace struct {
		EventsEvaluated uint64 `json:"events_evaluated"`
		Processes       int    `json:"processes"`
	} `json:"userspace"`
	Alerts uint64 `json:"alerts"`
	// Containers are the metadata lookups' counters; AlertsHeld counts
	// the alerts that waited for a lookup, AlertsLate those of them sent
	// at the deadline with the fields still absent.
	Containers container.Stats `json:"containers"`
	AlertsHeld uint64          `json:"alerts_held"`
	AlertsLate uint64          `json:"alerts_late"`
	// Cgroups counts the sets of cgroups classified for the kernel's
	// container dimension, and those it could not hold.
	Cgroups CgroupStats `json:"cgroups"`
}

// Metrics reads the kernel counters and the userspace ones.
func (l *Live) Metrics() (Metrics, error) {
	var m Metrics
	c, err := l.probe.Counters()
	if err != nil {
		return m, err
	}
	m.Kernel = c
	m.Userspace.EventsEvaluated = l.pipe.Evaluated()
	m.Userspace.Processes = l.table.Len()
	m.Alerts = l.pipe.Raised()
	m.Containers = l.ContainerStats()
	m.AlertsHeld, m.AlertsLate = l.pipe.Held()
	m.Cgroups = l.classes.stats()
	return m, nil
}

// Close detaches the capture program.
func (l *Live) Close() error { return l.probe.Close() }

// Observe makes the capture's pipeline count per rule into stats and
// trace one event in traceEvery with tracer (see Pipeline.Observe). Call
// it before Run.
func (l *Live) Observe(stats *Stats, tracer EventTracer, traceEvery uint64) {
	l.pipe.Observe(stats, tracer, traceEvery)
}

// SyscallEvents returns, per syscall name, how many syscall events
// reached userspace (the kernel filter let them through).
func (l *Live) SyscallEvents() map[string]uint64 {
	out := map[string]uint64{}
	for nr := range l.sent {
		if n := l.sent[nr].Load(); n > 0 {
			if row, ok := syscalls.ByNr(nr); ok {
				out[row.Name] += n
			}
		}
	}
	return out
}

// Probe returns the capture's probe, for its counters and statistics.
func (l *Live) Probe() *bpf.Probe { return l.probe }

// handle updates the process table from a record and, for a syscall
// record, returns the event in Falco's fields.
func (l *Live) handle(r *bpf.Record) *policy.Event {
	pid := int32(r.Pid)
	switch r.Kind {
	case bpf.KindFork:
		child := l.table.ForkAt(pid, int32(r.Ret), int32(r.Args[0]), r.Args[1])
		if r.Flags&bpf.FlagDeferred != 0 {
			// Sent when the child first did something: its working
			// directory is what it is now, not what its parent's is.
			if cwd, err := os.Readlink(filepath.Join(l.proc, strconv.Itoa(int(child.Pid)), "cwd")); err == nil && filepath.IsAbs(cwd) {
				l.table.SetCwd(child.Pid, cwd)
			}
		}
		if v2, v1, ok := r.Cgroups(); ok {
			// The child was made in other cgroups than its parent's
			// (clone3 into a container's cgroup): its lookup starts now.
			l.table.SetCgroup(child.Pid, r.Args[2], cgroupOf(v2, v1))
			if p, ok := l.table.Get(child.Pid); ok {
				l.requestContainer(p)
			}
		}
		return nil
	case bpf.KindExec:
		if r.Flags&bpf.FlagForked != 0 {
			// The process's fork was never sent: it did nothing before
			// this exec that userspace saw.
			l.table.ForkAt(int32(r.Args[1]), pid, pid, r.Args[2])
		}
		l.exec(r)
		return nil
	case bpf.KindExit:
		l.exits = r.ExitsInto(l.exits[:0])
		for _, e := range l.exits {
			if l.table.ExitAt(e.Pid, e.Start) {
				delete(l.execFilename, e.Pid)
			}
		}
		l.sweepContainers(time.Now())
		return nil
	case bpf.KindSyscall:
		ev := l.event(r)
		if (r.Syscall == unix.SYS_CHDIR || r.Syscall == unix.SYS_FCHDIR) && r.Ret == 0 {
			l.table.SetCwd(pid, l.newCwd(r))
		}
		return ev
	}
	return nil
}

// event returns the event of a syscall record, valid until the next
// record: its fields are read when asked. The process table's entry is
// the one the record found (a chdir's event has the old working
// directory), refreshed when the kernel says the cgroups changed.
func (l *Live) event(r *bpf.Record) *policy.Event {
	row, known := syscalls.ByNr(int(r.Syscall))
	if !known {
		return nil
	}
	pid := int32(r.Pid)
	p, ok := l.table.Get(pid)
	if !ok {
		var err error
		p, err = l.table.Refresh(pid)
		ok = err == nil
	}
	// The container is the one of the cgroups the record was made in, as
	// the kernel filter judged it: the class of its pair (learnt now when
	// the record carries the walk), or else read again when the task has
	// moved.
	cg, classified := l.classes.learn(r)
	if !classified {
		cg, classified = l.classes.of(r)
	}
	switch {
	case !ok && classified:
		// A process gone before userspace could read it: the event still
		// has the container the kernel judged it by.
		p = &proctable.Process{Pid: pid, Tid: int32(r.Tid), Ppid: int32(r.Ppid), CgroupPath: cg.Path,
			ContainerID: cg.ContainerID, ContainerRuntime: cg.Runtime, CgroupKey: r.CgroupKey}
	case !ok:
	case classified && (p.CgroupPath != cg.Path || p.ContainerID != cg.ContainerID || p.CgroupKey != r.CgroupKey):
		l.table.SetCgroup(pid, r.CgroupKey, cg)
		p, _ = l.table.Get(pid)
	case !classified && p.CgroupKey != r.CgroupKey:
		l.refreshCgroup(pid, r.CgroupKey)
		p, _ = l.table.Get(pid)
	}
	l.num++
	l.src.reset(l, r, row, p, l.num)
	if row.Args != nil && r.Ret >= 0 {
		for i := range row.Args {
			if row.Args[i].Kind == syscalls.ExecPath {
				// The exec record that came first carried the file name.
				l.src.execFilename, l.src.hasExecFilename = l.execFilename[pid]
				delete(l.execFilename, pid)
			}
		}
	}
	l.ev.Reset(&l.src)
	return &l.ev
}

func (l *Live) exec(r *bpf.Record) {
	pid := int32(r.Pid)
	argv := splitNUL(r.Blobs[1])
	exe := ""
	var args []string
	if len(argv) > 0 {
		exe, args = argv[0], argv[1:]
	}
	// The kernel walked the executable's path at exec time. A walk that
	// fell short (a path longer than PATH_MAX) leaves it empty, unknown:
	// not read from /proc, which may name the next program by now, nor
	// guessed from the file name, which for a script names the script
	// rather than its interpreter.
	exePath, _ := r.ExePath()
	l.table.Exec(pid, exe, args, exePath, r.CommString())
	b := r.ExeFlags
	l.table.SetExeFlags(pid, b&ExeWritable != 0, b&ExeUpperLayer != 0, b&ExeLowerLayer != 0, b&ExeFromMemfd != 0)
	var env []string
	if r.Flags&bpf.FlagEnvFailed == 0 {
		env = splitNUL(r.Blobs[6])
	}
	l.table.SetEnv(pid, env)
	if fn, ok := r.Str(0); ok {
		l.execFilename[pid] = fn
	}
	if cwd, ok := r.Dir(); ok {
		l.table.SetCwd(pid, cwd)
	}
	// The cgroups the process execs in, walked by the kernel at exec: a
	// process that joined a container's cgroups after its fork (as
	// container runtimes do) is in the container from then on.
	if cg, ok := l.classes.learn(r); ok {
		l.table.SetCgroup(pid, r.CgroupKey, cg)
	} else {
		l.refreshCgroup(pid, r.CgroupKey)
	}
	// A container's first exec starts its lookup: by the time a rule
	// matches, the runtime has often answered. Container runtimes give
	// the first process its terminal and session (setsid, TIOCSCTTY)
	// between fork and exec, unseen: they are read again.
	if p, ok := l.table.Get(pid); ok && !isHost(p.ContainerID) {
		_ = l.table.RefreshSession(pid) // gone: what the table had stays
		l.requestContainer(p)
	}
}

// cgroupOf is what the process table keeps of the cgroup paths the kernel
// walked (v2, and the first v1 controller's that is not a root): the path
// that names a container, or else the one /proc/PID/cgroup shows first.
func cgroupOf(v2, v1 string) proctable.Cgroup {
	for _, path := range []string{v2, v1} {
		if id, rt := proctable.ParseContainerID(path); rt != policy.Host {
			return proctable.Cgroup{Path: path, ContainerID: id, Runtime: rt}
		}
	}
	path := v2
	if path == "/" && v1 != "" {
		path = v1
	}
	return proctable.Cgroup{Path: path, ContainerID: policy.Host, Runtime: policy.Host}
}

// refreshCgroup reads the cgroups of pid again when the kernel says they
// changed (key, the task's css_set, differs from the table's): a process
// moved to other cgroups without exec.
func (l *Live) refreshCgroup(pid int32, key uint64) {
	p, ok := l.table.Get(pid)
	if !ok || key == 0 || p.CgroupKey == key {
		return
	}
	if p.CgroupKey == 0 {
		l.table.SetCgroupKey(pid, key) // first seen: /proc gave the cgroups
		return
	}
	cg, err := proctable.ReadCgroup(l.proc, pid)
	if err != nil {
		return // gone: what the table had stays
	}
	l.table.SetCgroup(pid, key, cg)
}

// newCwd is the working directory a successful chdir or fchdir left: the
// directory the kernel walked after the call. When the walk fell short
// (a path deeper than PATH_MAX), it is derived as Falco derives it, from
// the old one and chdir's argument; "" (unknown) when neither can say.
func (l *Live) newCwd(r *bpf.Record) string {
	if cwd, ok := r.Dir(); ok {
		return cwd
	}
	if r.Syscall != unix.SYS_CHDIR {
		return ""
	}
	arg, ok := r.Str(0)
	if !ok || arg == "" {
		return ""
	}
	if filepath.IsAbs(arg) {
		return filepath.Clean(arg)
	}
	if p, ok := l.table.Get(int32(r.Pid)); ok && p.Cwd != "" {
		return filepath.Join(p.Cwd, arg)
	}
	return ""
}

// syscallName is the name of a syscall record's syscall, "" when the
// capture does not know it.
func syscallName(r *bpf.Record) string {
	if s, ok := syscalls.ByNr(int(r.Syscall)); ok {
		return s.Name
	}
	return ""
}

// exeBits are the exe flags (Exe*) the table keeps of p's executable.
func exeBits(p *proctable.Process) uint32 {
	var b uint32
	for _, f := range []struct {
		set bool
		bit uint32
	}{{p.ExeWritable, ExeWritable}, {p.ExeUpperLayer, ExeUpperLayer}, {p.ExeFromMemfd, ExeFromMemfd}, {p.ExeLowerLayer, ExeLowerLayer}} {
		if f.set {
			b |= f.bit
		}
	}
	return b
}

func splitNUL(b []byte) []string {
	s := strings.TrimRight(string(b), "\x00")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

// resolve makes path number which (0 or 1) of a record absolute, as
// Falco does for fd.name: relative to the directory fd dirfd, or to the
// working directory for AT_FDCWD. The base is the directory the kernel
// walked when it recorded one, else the process table's working directory,
// else what /proc says now. The path stays relative when no base is known.
func (l *Live) resolve(r *bpf.Record, p *proctable.Process, dirfd int64, path string, which int) string {
	if path == "" || filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	pid := int32(r.Pid)
	base, ok := "", false
	row, known := syscalls.ByNr(int(r.Syscall))
	walked := known && int(row.Layout.DirFDPath) == which
	if walked {
		base, ok = r.Dir()
	}
	if !ok && int32(dirfd) == atFDCWD && p != nil && p.Cwd != "" {
		base, ok = p.Cwd, true
	}
	// When the kernel's walk fell short, what /proc says now may be
	// another directory (the process moved, the fd was reused): no guess.
	if !ok && !(walked && r.Flags&bpf.FlagCwdIncomplete != 0) {
		var err error
		if int32(dirfd) == atFDCWD {
			base, err = os.Readlink(filepath.Join(l.proc, strconv.Itoa(int(pid)), "cwd"))
		} else {
			base, err = l.fdPath(pid, dirfd)
		}
		ok = err == nil && filepath.IsAbs(base)
	}
	if !ok {
		return path
	}
	return filepath.Join(base, path)
}

// fdPath finds what an fd of a process refers to.
func (l *Live) fdPath(pid int32, fd int64) (string, error) {
	return os.Readlink(filepath.Join(l.proc, strconv.Itoa(int(pid)), "fd", strconv.FormatInt(fd, 10)))
}

// dirfdArg renders a dirfd argument: AT_FDCWD, the directory it names
// ("<d>/tmp"), or the number when /proc does not tell.
func (l *Live) dirfdArg(pid int32, dirfd int64) string {
	if dirfd >= 0 {
		if dir, err := l.fdPath(pid, dirfd); err == nil && filepath.IsAbs(dir) {
			return FDArg(dirfd, "d", "", dir, true)
		}
	}
	return FDArg(dirfd, "", "", "", false)
}

func fdNum(ret int64) int64 {
	if ret < 0 {
		return -1
	}
	return ret
}
