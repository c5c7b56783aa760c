package bpf

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// EnableRunTimeStats turns on the kernel's BPF run-time statistics (the
// run_time_ns and run_cnt of every program, which the kernel counts only
// while someone asks) until the returned Closer is closed; closing it
// restores what was there before (the kernel counts the holders; the
// kernel.bpf_stats_enabled sysctl, when set, keeps them on). It returns
// an error when the kernel refuses (no CAP_SYS_ADMIN, a kernel before
// 5.8).
func EnableRunTimeStats() (io.Closer, error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("enable BPF run-time statistics: %w", err)
	}
	return c, nil
}

// ProgramStats are the kernel's run-time statistics of one program.
type ProgramStats struct {
	Name string
	ID   ebpf.ProgramID
	// RunTime is the total time the program ran, RunCount how many times.
	RunTime  time.Duration
	RunCount uint64
}

// ProgramStats returns the run-time statistics of the capture's syscall
// programs (the entry and exit programs, per-syscall tracepoint or raw),
// which run once per syscall entry or exit: zero while the statistics are
// off (EnableRunTimeStats). It returns an error when the kernel does not
// give a program's information.
func (p *Probe) ProgramStats() ([]ProgramStats, error) {
	var out []ProgramStats
	var errs []error
	for _, prog := range []*ebpf.Program{p.objs.TpSysEnter, p.objs.TpSysExit, p.objs.RawSysEnter, p.objs.RawSysExit} {
		if prog == nil {
			continue
		}
		st, err := StatsOf(prog)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, st)
	}
	return out, errors.Join(errs...)
}

// StatsOf reads a program's run-time statistics from the kernel. It
// returns an error when the kernel does not give its information.
func StatsOf(prog *ebpf.Program) (ProgramStats, error) {
	info, err := prog.Info()
	if err != nil {
		return ProgramStats{}, fmt.Errorf("program info: %w", err)
	}
	st := ProgramStats{Name: info.Name}
	st.ID, _ = info.ID()
	ks, err := prog.Stats()
	if err != nil {
		return st, fmt.Errorf("program %s statistics: %w", info.Name, err)
	}
	st.RunTime, st.RunCount = ks.Runtime, ks.RunCount
	return st, nil
}

// RingBufferUsage returns the bytes waiting in the ring buffer and its
// size; 0, 0 once the probe is closed.
func (p *Probe) RingBufferUsage() (used, size int) {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	if p.closed || p.reader == nil {
		return 0, 0
	}
	return p.reader.AvailableBytes(), p.reader.BufferSize()
}
