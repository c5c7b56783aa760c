package bpf

import (
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// TestExitsFlushedByAge checks that an exit does not wait on its CPU for
// a full batch: a shell pinned to CPU 0 runs true, then sleep; once the
// first exit has waited EXIT_WAIT_NS, sleep's exit sends the batch, true's
// exit with it, long before 32 exits have gathered.
func TestExitsFlushedByAge(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("taskset"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("taskset (util-linux) needed in CI: %v", err)
		}
		t.Skipf("taskset: %v", err)
	}
	p, err := Load(Options{Syscalls: []string{"openat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var mu sync.Mutex
	trues := map[int32]bool{} // pids of the true processes
	exited := map[int32]bool{}
	go func() {
		var rec Record
		var exits []Exit
		for p.ReadInto(&rec) == nil {
			mu.Lock()
			switch rec.Kind {
			case KindExec:
				if rec.CommString() == "true" {
					trues[int32(rec.Pid)] = true
				}
			case KindExit:
				exits = rec.ExitsInto(exits[:0])
				for _, e := range exits {
					exited[e.Pid] = true
				}
			}
			mu.Unlock()
		}
	}()
	start := time.Now()
	if out, err := exec.Command("taskset", "-c", "0", "/bin/sh", "-c", "/bin/true; sleep 0.4; /bin/true").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := 0
		for pid := range trues {
			if exited[pid] {
				n++
			}
		}
		seen := len(trues)
		mu.Unlock()
		if seen > 0 && n > 0 {
			t.Logf("an exit of true reached userspace %v after the workload began", time.Since(start))
			return
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Fatalf("no exit of the true processes %v reached userspace in 3 s (exits seen: %d)", trues, len(exited))
}
