package bpf

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"github.com/peregrine-sec/peregrine/syscalls"
	"golang.org/x/sys/unix"
)

// AttachMode is how the syscall programs attach to the kernel.
type AttachMode string

// Attach modes.
const (
	// AttachTracepoints attaches to syscalls:sys_enter_NAME and
	// sys_exit_NAME for each captured syscall: other syscalls pay nothing.
	// The kernel never runs these tracepoints for 32-bit (ia32) syscalls:
	// in this mode they are not seen, unless some captured syscall has no
	// tracepoint and the raw programs are attached anyway.
	AttachTracepoints AttachMode = "tracepoint"
	// AttachRawTracepoints attaches once to the BTF raw tracepoints
	// sys_enter and sys_exit, which see every syscall, 64-bit and 32-bit:
	// every syscall pays for running the programs.
	AttachRawTracepoints AttachMode = "raw_tracepoint"
)

// X32Enabled reports whether the running kernel was built for x32
// syscalls (x86_64 with 32-bit pointers, numbers with bit 30 set), which
// Peregrine does not capture.
func X32Enabled() bool {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return false
	}
	var fn *btf.Func
	return spec.TypeByName("__x32_compat_sys_execve", &fn) == nil
}

// IA32Enabled reports whether the running kernel executes 32-bit (ia32)
// syscalls: built with IA32 emulation (its BTF has the ia32 syscall
// entry) and not booted with ia32_emulation=false. Where it does, only the
// raw tracepoints see every syscall a process can make.
func IA32Enabled() bool {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return true // unknown: assume the kernel runs them
	}
	var fn *btf.Func
	if spec.TypeByName("__ia32_sys_read", &fn) != nil {
		return false
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return true
	}
	for _, f := range strings.Fields(string(cmdline)) {
		if v, ok := strings.CutPrefix(f, "ia32_emulation="); ok {
			if on, err := strconv.ParseBool(v); err == nil {
				return on
			}
		}
	}
	return true
}

// Options configure Load.
type Options struct {
	// Syscalls are the names of the syscalls to capture.
	Syscalls []string
	// RingBufferSize is the ring buffer's size in bytes, a power of two
	// and a multiple of the page size; 0 means 8 MiB.
	RingBufferSize int
	// Mode selects the attach mode; empty means the cheapest the kernel
	// offers (see Probe).
	Mode AttachMode
}

// Probe is the loaded and attached capture program.
type Probe struct {
	objs   captureObjects
	links  []link.Link
	reader *ringbuf.Reader
	mode   AttachMode
	rec    ringbuf.Record
	// poll is the reader's current poll interval (see PollInterval),
	// and read the records read since the last poll.
	poll time.Duration
	read int
	// userEpoch is userspace's count of cgroup classes written (see
	// ClassifyCgroups).
	userEpoch atomic.Uint32
	// rawSyscalls are captured through raw tracepoints in tracepoint
	// mode, because the kernel has no tracepoint for them.
	rawSyscalls []string
	// gens remembers what each generation of the filter maps holds.
	gens [2]filterGen
	// closeMu keeps Close from unmapping the ring buffer while
	// RingBufferUsage reads its positions; closed says it is gone.
	closeMu sync.RWMutex
	closed  bool
}

// maxSyscalls is MAX_SYSCALLS: the syscall table's size per generation.
const maxSyscalls = 512

var errKeyNotExist = ebpf.ErrKeyNotExist

// RawSyscalls returns the syscalls that, in tracepoint mode, are captured
// through the raw tracepoints because the kernel has no tracepoint for
// them. While there are any, every syscall pays for the raw programs.
func (p *Probe) RawSyscalls() []string { return p.rawSyscalls }

// SeesIA32 reports whether the capture sees 32-bit (ia32) syscalls: the
// raw tracepoint programs, which alone see them, are attached.
func (p *Probe) SeesIA32() bool { return p.mode == AttachRawTracepoints || len(p.rawSyscalls) > 0 }

// TracefsDir is where syscall tracepoints are found.
const TracefsDir = "/sys/kernel/tracing"

// ensureTracefs mounts tracefs when it is not mounted, as per-syscall
// tracepoints need it.
func ensureTracefs() error {
	_, err := os.Stat(TracefsDir + "/events")
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("tracefs on %s: %w (it is root's alone: not root, the agent needs CAP_DAC_READ_SEARCH)", TracefsDir, err)
	}
	if err := unix.Mount("nodev", TracefsDir, "tracefs", 0, ""); err != nil {
		return fmt.Errorf("mount tracefs on %s: %w (mounting it needs CAP_SYS_ADMIN: mount tracefs there before starting, or attach through raw tracepoints)", TracefsDir, err)
	}
	return nil
}

// Load loads the capture program, fills its syscall table, and attaches
// it. It returns an error naming the missing capability or kernel feature
// when the kernel refuses.
func Load(opts Options) (*Probe, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", err)
	}
	spec, err := loadCapture()
	if err != nil {
		return nil, fmt.Errorf("load capture spec: %w", err)
	}
	if opts.RingBufferSize != 0 {
		if opts.RingBufferSize&(opts.RingBufferSize-1) != 0 || opts.RingBufferSize < os.Getpagesize() {
			return nil, fmt.Errorf("ring buffer size %d: want a power of two of at least %d", opts.RingBufferSize, os.Getpagesize())
		}
		spec.Maps["events"].MaxEntries = uint32(opts.RingBufferSize)
	}
	if err := spec.Variables["self_tgid"].Set(uint32(os.Getpid())); err != nil {
		return nil, fmt.Errorf("set self_tgid: %w", err)
	}
	// Wake the reader once a CPU has written an eighth of the ring buffer,
	// shared between the CPUs, since its last wakeup (at most 64 KiB):
	// sooner on a small buffer, which would fill between polls.
	cpus, err := ebpf.PossibleCPU()
	if err != nil || cpus < 1 {
		cpus = 1
	}
	spec.Maps["scratch_buf"].MaxEntries = uint32(cpus)
	wake := uint64(spec.Maps["events"].MaxEntries) / 8 / uint64(cpus)
	wake = min(max(wake, 512), 64<<10)
	if err := spec.Variables["wakeup_bytes"].Set(wake); err != nil {
		return nil, fmt.Errorf("set wakeup_bytes: %w", err)
	}
	mode := opts.Mode
	if mode == "" {
		mode, _ = DefaultMode()
	}
	execve, _ := lookup("execve")
	execveat, _ := lookup("execveat")
	for name, v := range map[string]int32{"nr_execve": int32(execve.Nr), "nr_execveat": int32(execveat.Nr)} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	// Load only the programs the mode uses, so a kernel without BTF raw
	// tracepoints can still use syscall tracepoints.
	p := &Probe{mode: mode}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, explain(err)
	}
	if err := p.setup(opts.Syscalls); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

// DefaultMode returns the attach mode Load takes when Options.Mode is
// empty, and why, with what it costs the syscalls no rule needs.
func DefaultMode() (AttachMode, string) {
	if IA32Enabled() {
		return AttachRawTracepoints, "the kernel runs 32-bit (ia32) code, whose syscalls only the raw tracepoints see: " +
			"every syscall, captured or not, pays the raw entry and exit programs"
	}
	if err := ensureTracefs(); err != nil {
		return AttachRawTracepoints, "no tracefs (" + err.Error() + "): every syscall pays the raw entry and exit programs"
	}
	return AttachTracepoints, "per-syscall tracepoints: only the captured syscalls pay the programs"
}

// Untraced returns those of names that have no syscall tracepoint on this
// kernel (it does not implement them: init_module without module
// support). The tracepoint mode captures them through the raw
// tracepoints, which every syscall then pays. It returns an error when
// tracefs is absent and cannot be mounted.
func Untraced(names []string) ([]string, error) {
	if err := ensureTracefs(); err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if s, ok := lookup(n); ok && !hasTracepoint(s.Name) {
			out = append(out, s.Name)
		}
	}
	return out, nil
}

// hasTracepoint reports whether the kernel has syscalls:sys_enter_NAME. A
// syscall the kernel does not implement (init_module without module
// support) has none.
func hasTracepoint(name string) bool {
	_, err := os.Stat(TracefsDir + "/events/syscalls/sys_enter_" + name)
	return err == nil
}

func (p *Probe) setup(names []string) error {
	for _, l := range []struct {
		name string
		prog *ebpf.Program
	}{{"sched_process_fork", p.objs.SchedFork}, {"sched_process_exec", p.objs.SchedExec}, {"sched_process_exit", p.objs.SchedExit},
		{"task_rename", p.objs.TaskRename}, {"cgroup_rename", p.objs.CgroupRename},
		{"cgroup_attach_task", p.objs.CgroupAttachTask}, {"cgroup_transfer_tasks", p.objs.CgroupTransferTasks}} {
		lk, err := link.AttachTracing(link.TracingOptions{Program: l.prog})
		if err != nil {
			return fmt.Errorf("attach %s: %w", l.name, explain(err))
		}
		p.links = append(p.links, lk)
	}
	if p.mode != AttachTracepoints && p.mode != AttachRawTracepoints {
		return fmt.Errorf("attach mode %q: want %s or %s", p.mode, AttachTracepoints, AttachRawTracepoints)
	}
	if p.mode == AttachTracepoints {
		if err := ensureTracefs(); err != nil {
			return err
		}
	}
	// In tracepoint mode a syscall without a tracepoint is still captured,
	// through the raw tracepoints: dropping it would lose events a rule
	// matches. Every syscall then pays the raw programs' map lookup.
	needRaw := p.mode == AttachRawTracepoints
	// An array's entries are zeros, which is read's number: mark every
	// ia32 number "not captured" before mapping the captured ones.
	n := p.objs.CompatNrs.MaxEntries()
	keys, none := make([]uint32, n), make([]int32, n)
	for i := range keys {
		keys[i], none[i] = uint32(i), nrNone
	}
	if _, err := p.objs.CompatNrs.BatchUpdate(keys, none, nil); err != nil {
		return fmt.Errorf("ia32 syscall table: %w", err)
	}
	for _, n := range names {
		s, ok := lookup(n)
		if !ok {
			return fmt.Errorf("syscall %q: Peregrine cannot capture it", n)
		}
		raw := p.mode == AttachRawTracepoints || !hasTracepoint(s.Name)
		if raw {
			needRaw = true
			if p.mode == AttachTracepoints {
				p.rawSyscalls = append(p.rawSyscalls, s.Name)
			}
		}
		d := desc(s, raw)
		if err := p.objs.SyscallDescs.Put(uint32(s.Nr), &d); err != nil {
			return fmt.Errorf("syscall table: %w", err)
		}
		for _, nr := range s.IA32 {
			if err := p.objs.CompatNrs.Put(uint32(nr), int32(s.Nr)); err != nil {
				return fmt.Errorf("ia32 syscall table: %w", err)
			}
		}
		if raw {
			continue
		}
		for _, dir := range []struct {
			prefix string
			prog   *ebpf.Program
		}{{"sys_enter_", p.objs.TpSysEnter}, {"sys_exit_", p.objs.TpSysExit}} {
			lk, err := link.Tracepoint("syscalls", dir.prefix+s.Name, dir.prog, nil)
			if err != nil {
				return fmt.Errorf("attach tracepoint syscalls:%s%s: %w", dir.prefix, s.Name, explain(err))
			}
			p.links = append(p.links, lk)
		}
	}
	if err := p.setupSocketcalls(names); err != nil {
		return err
	}
	if err := p.setupRawIDs(); err != nil {
		return err
	}
	if needRaw {
		for _, prog := range []*ebpf.Program{p.objs.RawSysEnter, p.objs.RawSysExit} {
			lk, err := link.AttachTracing(link.TracingOptions{Program: prog})
			if err != nil {
				return fmt.Errorf("attach raw tracepoint: %w", explain(err))
			}
			p.links = append(p.links, lk)
		}
	}
	rd, err := ringbuf.NewReader(p.objs.Events)
	if err != nil {
		return fmt.Errorf("ring buffer reader: %w", err)
	}
	p.reader = rd
	p.poll = PollInterval
	rd.SetDeadline(time.Now().Add(p.poll))
	// Until a plan is applied, every captured syscall passes.
	return p.passAll(names)
}

// setupSocketcalls fills the ia32 socketcall tables for the captured
// syscalls that socketcall multiplexes.
func (p *Probe) setupSocketcalls(names []string) error {
	captured := map[string]bool{}
	for _, n := range names {
		captured[n] = true
	}
	any := false
	for call := uint32(0); call < p.objs.Socketcalls.MaxEntries(); call++ {
		desc := captureSocketcallDesc{Nr: nrNone}
		if c, ok := syscalls.Socketcalls[int(call)]; ok && captured[c.Name] {
			s, _ := lookup(c.Name)
			desc = captureSocketcallDesc{Nr: int32(s.Nr), Nargs: uint32(c.NArgs)}
			any = true
		}
		if err := p.objs.Socketcalls.Put(call, &desc); err != nil {
			return fmt.Errorf("socketcall table: %w", err)
		}
	}
	if any {
		if err := p.objs.CompatNrs.Put(uint32(syscalls.IA32Socketcall), int32(nrSocketcall)); err != nil {
			return fmt.Errorf("ia32 syscall table: %w", err)
		}
	}
	return nil
}

// setupRawIDs fills raw_ids from the syscall descriptions and the ia32
// table: the numbers the raw programs capture in either ABI.
func (p *Probe) setupRawIDs() error {
	n := p.objs.RawIds.MaxEntries()
	keys, vals := make([]uint32, n), make([]uint8, n)
	for id := uint32(0); id < n; id++ {
		keys[id] = id
		var d captureSyscallDesc
		if id < maxSyscalls && p.objs.SyscallDescs.Lookup(id, &d) == nil && d.Wanted != 0 && d.Raw != 0 {
			vals[id] |= rawNative
		}
		var nr int32
		if p.objs.CompatNrs.Lookup(id, &nr) == nil && nr != nrNone {
			vals[id] |= rawCompat
		}
	}
	if _, err := p.objs.RawIds.BatchUpdate(keys, vals, nil); err != nil {
		return fmt.Errorf("raw syscall numbers: %w", err)
	}
	return nil
}

// raw_ids' bits (RAW_NATIVE, RAW_COMPAT).
const (
	rawNative = 1
	rawCompat = 2
)

// compat_nrs' marks (NR_NONE, NR_SOCKETCALL).
const (
	nrNone       = -1
	nrSocketcall = -2
)

// explain turns the kernel's refusals into what is missing.
func explain(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (Peregrine needs CAP_BPF and CAP_PERFMON, or root)", err)
	case errors.Is(err, unix.ENOENT) && strings.Contains(err.Error(), "tracepoint"):
		return fmt.Errorf("%w (the kernel has no such tracepoint: is CONFIG_FTRACE_SYSCALLS set and tracefs mounted?)", err)
	}
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("the kernel's verifier refused the capture program: %w", err)
	}
	return err
}

// Mode returns the attach mode in use.
func (p *Probe) Mode() AttachMode { return p.mode }

// ProgramIDs returns the kernel's ids of the loaded programs, so that a
// caller can check they are gone after Close.
func (p *Probe) ProgramIDs() []ebpf.ProgramID {
	var ids []ebpf.ProgramID
	for _, prog := range []*ebpf.Program{p.objs.TpSysEnter, p.objs.TpSysExit, p.objs.RawSysEnter,
		p.objs.RawSysExit, p.objs.SchedFork, p.objs.SchedExec, p.objs.SchedExit, p.objs.TaskRename,
		p.objs.CgroupRename, p.objs.CgroupAttachTask, p.objs.CgroupTransferTasks} {
		if info, err := prog.Info(); err == nil {
			if id, ok := info.ID(); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// PollInterval bounds how long a record can wait in the ring buffer while
// records come fast: the capture program wakes the reader only when much
// data is waiting (a wakeup per event costs a cross-CPU interrupt), so the
// reader also looks on this timer. Each poll that finds fewer than
// pollBatch records doubles the interval, up to MaxPollInterval: a wakeup
// costs about 170 µs of CPU (it also sets the Go runtime's monitor thread
// polling every 20 µs for a while), which a capture that is idle or sees
// a few thousand records a second should not pay a hundred times a
// second. A poll that finds a batch brings the interval back.
const (
	PollInterval    = 10 * time.Millisecond
	MaxPollInterval = 160 * time.Millisecond
	pollBatch       = 4096
)

// ReadInto blocks until a record arrives and decodes it into rec, reusing
// rec's buffer. It returns ringbuf.ErrClosed after Close and
// ringbuf.ErrFlushed after Flush, once the records already sent are read.
func (p *Probe) ReadInto(rec *Record) error {
	for {
		p.rec.RawSample = rec.raw
		err := p.reader.ReadInto(&p.rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if p.read >= pollBatch {
				p.poll = PollInterval
			} else {
				p.poll = min(2*p.poll, MaxPollInterval)
			}
			p.read = 0
			p.reader.SetDeadline(time.Now().Add(p.poll))
			continue
		}
		if err != nil {
			return err
		}
		p.read++
		rec.raw = p.rec.RawSample
		return rec.decode(rec.raw)
	}
}

// Read is the convenient form of ReadInto: it returns a new Record.
func (p *Probe) Read() (*Record, error) {
	rec := &Record{}
	if err := p.ReadInto(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// Counters reads the per-CPU counters.
func (p *Probe) Counters() (Counters, error) { return ReadCounters(p.objs.Counters) }

// Flush makes a blocked ReadInto return: ReadInto then returns the records
// already in the ring buffer, and ringbuf.ErrFlushed once they are read.
// Use it to stop reading without losing what the kernel has sent.
func (p *Probe) Flush() error { return p.reader.Flush() }

// Close detaches the programs and frees the maps; a blocked ReadInto
// returns ringbuf.ErrClosed.
func (p *Probe) Close() error {
	var errs []error
	p.closeMu.Lock()
	p.closed = true
	if p.reader != nil {
		if err := p.reader.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	p.closeMu.Unlock()
	// Each tracepoint detach waits for the tracepoint's readers (an RCU
	// grace period, tens of milliseconds): one after the other, 76
	// per-syscall links took 4 s to close; side by side the waits overlap.
	linkErrs := make([]error, len(p.links))
	var wg sync.WaitGroup
	for i, l := range p.links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			linkErrs[i] = l.Close()
		}()
	}
	wg.Wait()
	errs = append(errs, linkErrs...)
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}
