package bpf

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/internal/peertest"
)

// recorder keeps the records a probe delivers for a tree of processes
// (their pids, learnt from the fork records of its root).
type recorder struct {
	mu   sync.Mutex
	pids map[uint32]bool
	recs []Record
	// execCgroups are the cgroups of the last exec in the tree (when
	// hasExec), as its record walked them.
	execCgroups CgroupPair
	execGen     uint32
	hasExec     bool
}

func (c *recorder) read(p *Probe) {
	for {
		var rec Record
		if err := p.ReadInto(&rec); err != nil {
			return
		}
		c.mu.Lock()
		if rec.Kind == KindFork && c.pids[rec.Pid] {
			c.pids[uint32(rec.Ret)] = true
		}
		// A child that made no captured syscall before its exec has its
		// fork folded into the exec record (Args[1] is the parent).
		if rec.Kind == KindExec && rec.Flags&FlagForked != 0 && c.pids[uint32(rec.Args[1])] {
			c.pids[rec.Pid] = true
		}
		if rec.Kind == KindExec && c.pids[rec.Pid] && rec.Flags&FlagCgroups != 0 {
			c.execCgroups, c.execGen, c.hasExec = rec.CgroupPair(), rec.CgroupGen, true
		}
		if rec.Kind == KindSyscall && c.pids[rec.Pid] {
			// Keep the blobs: the reader reuses its buffer.
			for i, b := range rec.Blobs {
				rec.Blobs[i] = append([]byte(nil), b...)
			}
			rec.raw = nil
			c.recs = append(c.recs, rec)
		}
		c.mu.Unlock()
	}
}

// key identifies a syscall across two probes watching the same process.
func key(r *Record) string {
	s, _ := r.Str(0)
	return fmt.Sprintf("%d/%d/%d/%s", r.Tid, r.Syscall, r.Ret, s)
}

// TestKernelMatchesEmulator runs one workload under two captures at once:
// one passing every record (an observer) and one running a plan of the
// default and upstream rules. For every syscall the observer saw, the
// emulator, judging the kernel's view of its record (Record.View), must
// say what the plan's capture did: pass it with the same classes, or drop
// it. This is what makes the emulator (and the fuzzers that rely on it) a
// model of the kernel rather than of userspace.
func TestKernelMatchesEmulator(t *testing.T) {
	requireRoot(t)
	for _, set := range []string{"default", "upstream"} {
		t.Run(set, func(t *testing.T) {
			names, plan := rulesetPlan(t, set)
			observer, err := Load(Options{Syscalls: names})
			if err != nil {
				t.Fatal(err)
			}
			defer observer.Close()
			judged, err := Load(Options{Syscalls: names})
			if err != nil {
				t.Fatal(err)
			}
			defer judged.Close()
			if _, err := judged.ApplyPlan(plan.Encoding); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			port := peertest.Closing(t)
			script := strings.Join([]string{
				"read x < /etc/hostname", "cat /etc/shadow > /dev/null", "cat /etc/../etc/shadow > /dev/null",
				// Path shapes the kernel's path scan tells apart, some
				// straddling its 8-byte words.
				"cat /etc//shadow /etc/./shadow /etc/ab//x /etc/abcdef/./x /etc/shadow/ /etc/x../y /etc/y.. /etc/. > /dev/null 2>&1",
				// The last word of the longest path the scan takes (254
				// bytes): "/." across its words 30 and 31.
				"cat /etc/" + strings.Repeat("a", 242) + "/./x /etc/" + strings.Repeat("b", 243) + "//x > /dev/null 2>&1",
				"cd /etc && cat shadow > /dev/null && cd " + dir,
				": > " + dir + "/a", ": >> " + dir + "/a", "cat " + dir + "/missing 2>/dev/null",
				"ls -d /etc > /dev/null", "mkdir " + dir + "/d", "rmdir " + dir + "/d",
				"ln -s /etc/shadow " + dir + "/l", "ln " + dir + "/a " + dir + "/h", "rm " + dir + "/h",
				"chmod u+s " + dir + "/a", "touch /var/log/peregrine-agree-" + filepath.Base(dir),
				"rm -f /var/log/peregrine-agree-" + filepath.Base(dir),
				fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d; exec 3>&-", port), "true",
			}, "; ")
			cmd := exec.Command("/bin/bash", "-c", script)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			// Both captures follow this process's children from their fork
			// records, which come before the child runs.
			self := uint32(os.Getpid())
			obs, jud := &recorder{pids: map[uint32]bool{self: true}}, &recorder{pids: map[uint32]bool{self: true}}
			go obs.read(observer)
			go jud.read(judged)
			// The workload's cgroups (this process's) classified as the
			// host, as userspace does from an exec record in them: the
			// judged capture then checks the container dimension too.
			host, warmup := classifyOwnCgroups(t, judged, jud, false)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("workload: %v", err)
			}
			// Until both captures have read everything (a loaded machine
			// can take a while), at most 10 s.
			for last, deadline := -1, time.Now().Add(10*time.Second); time.Now().Before(deadline); {
				time.Sleep(300 * time.Millisecond)
				observer.Flush()
				judged.Flush()
				obs.mu.Lock()
				jud.mu.Lock()
				n := len(obs.recs) + len(jud.recs)
				jud.mu.Unlock()
				obs.mu.Unlock()
				if n == last && n > 0 {
					break
				}
				last = n
			}

			obs.mu.Lock()
			jud.mu.Lock()
			defer obs.mu.Unlock()
			defer jud.mu.Unlock()
			got := map[string][]*Record{}
			for i := range jud.recs {
				k := key(&jud.recs[i])
				got[k] = append(got[k], &jud.recs[i])
			}
			checked, dropped := 0, 0
			for i := range obs.recs {
				r := &obs.recs[i]
				v, ok := r.View()
				if !ok || r.Pid == warmup {
					continue
				}
				row := v.Syscall
				if r.CgroupPair() == host {
					v.ContainerKnown, v.InContainer = true, false // what the judged capture knew
				}
				want := plan.Encoding.Emulate(v)
				k := key(r)
				passed := len(got[k]) > 0
				var kmask compiler.Mask
				var kflags uint32
				if passed {
					kmask = compiler.Mask(got[k][0].Mask)
					kflags = got[k][0].Flags
					got[k] = got[k][1:]
				}
				state := row == "chdir" || row == "fchdir"
				checked++
				switch {
				case state:
					if !passed {
						t.Errorf("%s: a state syscall was dropped", k)
					}
				case want.IsZero() != !passed:
					t.Errorf("%s (%s): emulator %v, kernel passed %v; view %+v", k, row, !want.IsZero(), passed, v)
				case passed && kmask != want:
					t.Errorf("%s (%s): kernel classes %v, emulated %v; view %+v", k, row, kmask, want, v)
				}
				if !passed {
					dropped++
				} else if !state && r.CgroupPair() == host && plan.Encoding.Positive[compiler.DimContainer] != (compiler.Mask{}) {
					if f := kflags; f&(FlagContainerKnown|FlagInContainer) != FlagContainerKnown {
						t.Errorf("%s (%s): record flags %#x, want the host known", k, row, f)
					}
				}
			}
			if checked < 20 || dropped == 0 {
				t.Errorf("%d records checked, %d dropped: the workload exercised too little", checked, dropped)
			}
			t.Logf("%d records judged alike by the kernel and the emulator, %d dropped", checked, dropped)
		})
	}
}

// classifyOwnCgroups runs /bin/true to learn, from its exec record in c,
// the cgroups this process is in, and classifies them in p as the host's
// or (container) a container's. It returns them and the pid of /bin/true,
// whose records came before.
func classifyOwnCgroups(t testing.TB, p *Probe, c *recorder, container bool) (CgroupPair, uint32) {
	t.Helper()
	warmup := exec.Command("/bin/true")
	if err := warmup.Run(); err != nil {
		t.Fatal(err)
	}
	// Not Flush: the reader stops at the ErrFlushed it returns.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c.mu.Lock()
		pair, gen, ok := c.execCgroups, c.execGen, c.hasExec
		c.mu.Unlock()
		if ok {
			if err := p.ClassifyCgroups(pair, gen, container); err != nil {
				t.Fatal(err)
			}
			return pair, uint32(warmup.Process.Pid)
		}
		if time.Now().After(deadline) {
			t.Fatal("no exec record of /bin/true")
		}
	}
}
