package bpf

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"
)

// requireRoot skips a test that needs to load eBPF programs when not run
// as root, and fails it under CI, where it must run.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test loads eBPF programs and must run as root in CI")
		}
		t.Skip("loading eBPF programs needs root (CAP_BPF, CAP_PERFMON)")
	}
}

// collect reads records until pred accepts one or the deadline passes.
func collect(t *testing.T, p *Probe, d time.Duration, pred func(*Record) bool) *Record {
	t.Helper()
	found := make(chan *Record, 1)
	go func() {
		for {
			rec, err := p.Read()
			if err != nil {
				if !errors.Is(err, ringbuf.ErrClosed) {
					t.Errorf("read: %v", err)
				}
				close(found)
				return
			}
			if pred(rec) {
				found <- rec
				return
			}
		}
	}()
	select {
	case rec := <-found:
		return rec
	case <-time.After(d):
		return nil
	}
}

func TestCaptureOpenat(t *testing.T) {
	requireRoot(t)
	for _, mode := range []AttachMode{AttachTracepoints, AttachRawTracepoints} {
		t.Run(string(mode), func(t *testing.T) {
			p, err := Load(Options{Syscalls: []string{"openat", "connect", "execve"}, Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			dir := t.TempDir()
			target := filepath.Join(dir, "peregrine-probe-test")
			cmd := exec.Command("/bin/sh", "-c", "echo hi > "+target)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := uint32(cmd.Process.Pid)
			rec := collect(t, p, 5*time.Second, func(r *Record) bool {
				s, _ := r.Str(0)
				return r.Kind == KindSyscall && r.Pid == pid && s == target
			})
			cmd.Wait()
			if rec == nil {
				t.Fatal("no openat record for the child's open")
			}
			if rec.Ret < 0 || rec.File.Ino == 0 || rec.CommString() != "sh" {
				t.Errorf("record %+v", rec)
			}
			if rec.File.FMode&FModeCreated == 0 {
				t.Errorf("f_mode %#x lacks FMODE_CREATED for a new file", rec.File.FMode)
			}
			c, err := p.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if c.SyscallsSeen == 0 || c.EventsSent == 0 || c.EventsUnsaved != 0 {
				t.Errorf("counters %+v", c)
			}
		})
	}
}

// TestExitBatches: exits come in batches that name each process with the
// start time its exec record gave, so a late exit can be told from a later
// process with the same pid; at most a batch less one lingers per CPU.
func TestExitBatches(t *testing.T) {
	requireRoot(t)
	p, err := Load(Options{Syscalls: []string{"openat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 200
	starts := map[int32]uint64{} // our children, from their exec records
	exited := map[int32]uint64{}
	self := uint32(os.Getpid()) // other processes on the machine run true too
	done := make(chan struct{})
	go func() {
		defer close(done)
		var rec Record
		for {
			if err := p.ReadInto(&rec); err != nil {
				return
			}
			switch rec.Kind {
			case KindExec:
				if rec.Flags&FlagForked != 0 && rec.CommString() == "true" && rec.Ppid == self {
					starts[int32(rec.Pid)] = rec.Args[2]
				}
			case KindExit:
				for _, e := range rec.ExitsInto(nil) {
					exited[e.Pid] = e.Start
				}
			}
		}
	}()
	for range n {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(MaxPollInterval + 3*PollInterval)
	p.Flush()
	<-done
	if len(starts) != n {
		t.Fatalf("%d exec records with FlagForked for %d execs of /bin/true", len(starts), n)
	}
	seen := 0
	for pid, start := range starts {
		if s, ok := exited[pid]; ok {
			seen++
			if s != start {
				t.Errorf("pid %d: exit names start %d, its exec record %d", pid, s, start)
			}
		}
	}
	most := (len(captureExitBatch{}.E) - 1) * runtime.NumCPU()
	if lingering := n - seen; lingering > most {
		t.Errorf("%d of %d exits not sent (at most %d may wait in per-CPU batches)", lingering, n, most)
	}
}
