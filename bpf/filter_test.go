package bpf

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/falcocompat"
)

func planFor(t *testing.T, cond string) *compiler.Plan {
	t.Helper()
	l := falcocompat.NewLoader()
	l.AddFile("r.yaml", []byte(fmt.Sprintf("- rule: r\n  desc: d\n  condition: %s\n  output: o\n  priority: info\n", cond)))
	res := l.Compile()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	plan, err := compiler.Compile(res.Ruleset, compiler.Options{Syscalls: []string{"openat"}})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// pathCounter counts the openat records the probe delivers, by path.
type pathCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *pathCounter) read(p *Probe) {
	var rec Record
	for p.ReadInto(&rec) == nil {
		if s, ok := rec.Str(0); ok && rec.Kind == KindSyscall {
			c.mu.Lock()
			c.counts[s]++
			c.mu.Unlock()
		}
	}
}

// openatProbe loads the capture for openat alone and counts its records
// by path; both stop when the test ends.
func openatProbe(t *testing.T) (*Probe, *pathCounter) {
	t.Helper()
	requireRoot(t)
	p, err := Load(Options{Syscalls: []string{"openat"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c := &pathCounter{counts: map[string]int{}}
	go c.read(p)
	return p, c
}

// sentFor counts the records that reach userspace while a child opens
// path five times.
func (c *pathCounter) sentFor(t *testing.T, path string) int {
	t.Helper()
	return c.sentDuring(path, func() {
		if out, err := exec.Command("/bin/sh", "-c", "for i in 1 2 3 4 5; do : < "+path+"; done").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	})
}

// sentDuring counts the records of path that reach userspace while open
// runs.
func (c *pathCounter) sentDuring(path string, open func()) int {
	c.mu.Lock()
	before := c.counts[path]
	c.mu.Unlock()
	open()
	time.Sleep(MaxPollInterval + 3*PollInterval)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[path] - before
}

// TestApplyPlan checks that a plan filters in the kernel, that a plan
// whose maps cannot be written is refused with the previous one left
// running, and that a later plan replaces it.
func TestApplyPlan(t *testing.T) {
	p, c := openatProbe(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, nil, 0o644)
	os.WriteFile(b, nil, 0o644)
	if _, err := p.ApplyPlan(planFor(t, "evt.type = openat and fd.name = "+a).Encoding); err != nil {
		t.Fatal(err)
	}
	if n := c.sentFor(t, a); n < 5 {
		t.Errorf("plan A: %d records for 5 opens of %s, want at least 5", n, a)
	}
	if n := c.sentFor(t, b); n != 0 {
		t.Errorf("plan A: %d records for opens of %s, want 0", n, b)
	}
	// A plan with more path entries than the trie holds fails to write.
	big := *planFor(t, "evt.type = openat and fd.name = "+b).Encoding
	for i := 0; i < 70000; i++ {
		big.Paths = append(big.Paths, compiler.PathEntry{Key: fmt.Sprintf("/many/%d\x00", i), Mask: compiler.AllClasses(1)})
	}
	if _, err := p.ApplyPlan(&big); err == nil {
		t.Fatal("a plan larger than the maps was applied")
	} else {
		t.Logf("refused as expected: %.200v", err)
	}
	if n := c.sentFor(t, a); n < 5 {
		t.Errorf("after the refused plan: %d records for opens of %s, want plan A still running", n, a)
	}
	if n := c.sentFor(t, b); n != 0 {
		t.Errorf("after the refused plan: %d records for opens of %s, want 0", n, b)
	}
	// A good plan replaces plan A.
	if _, err := p.ApplyPlan(planFor(t, "evt.type = openat and fd.name = "+b).Encoding); err != nil {
		t.Fatal(err)
	}
	if n := c.sentFor(t, b); n < 5 {
		t.Errorf("plan B: %d records for opens of %s", n, b)
	}
	if n := c.sentFor(t, a); n != 0 {
		t.Errorf("plan B: %d records for opens of %s, want 0", n, a)
	}
}

// TestUIDDimension checks the uid ranges in the kernel: a plan for uid
// 4242 drops root's opens, one for uids below 1000 passes them.
func TestUIDDimension(t *testing.T) {
	p, c := openatProbe(t)
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, nil, 0o644)
	if _, err := p.ApplyPlan(planFor(t, "evt.type = openat and user.uid = 4242 and fd.name = "+f).Encoding); err != nil {
		t.Fatal(err)
	}
	if n := c.sentFor(t, f); n != 0 {
		t.Errorf("uid 4242 plan: %d records for root's opens, want 0", n)
	}
	if _, err := p.ApplyPlan(planFor(t, "evt.type = openat and user.uid < 1000 and fd.name = "+f).Encoding); err != nil {
		t.Fatal(err)
	}
	if n := c.sentFor(t, f); n < 5 {
		t.Errorf("uid < 1000 plan: %d records for root's 5 opens", n)
	}
}

// TestPortDimension checks the remote-port ranges in the kernel: with a
// plan on one port, connects to another are dropped.
func TestPortDimension(t *testing.T) {
	requireRoot(t)
	var ports [2]int
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	p, err := Load(Options{Syscalls: []string{"connect"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var mu sync.Mutex
	seen := map[int]int{}
	go func() {
		var rec Record
		for p.ReadInto(&rec) == nil {
			if rec.Kind == KindSyscall && rec.Flags&FlagHasSock != 0 {
				mu.Lock()
				seen[int(rec.Sock.RemotePort)]++
				mu.Unlock()
			}
		}
	}()
	l := falcocompat.NewLoader()
	l.AddFile("r.yaml", []byte(fmt.Sprintf("- rule: r\n  desc: d\n  condition: evt.type = connect and fd.rport = %d\n  output: o\n  priority: info\n", ports[0])))
	res := l.Compile()
	plan, err := compiler.Compile(res.Ruleset, compiler.Options{Syscalls: []string{"connect"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ApplyPlan(plan.Encoding); err != nil {
		t.Fatal(err)
	}
	for _, port := range ports {
		cmd := exec.Command("bash", "-c", fmt.Sprintf("for i in 1 2 3; do exec 3<>/dev/tcp/127.0.0.1/%d; exec 3>&-; done", port))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	time.Sleep(MaxPollInterval + 3*PollInterval)
	mu.Lock()
	defer mu.Unlock()
	if seen[ports[0]] < 3 || seen[ports[1]] != 0 {
		t.Errorf("connect records by remote port %v, want 3 or more to %d and none to %d", seen, ports[0], ports[1])
	}
}

// TestSuffixDimension checks the reversed-path trie: endswith and
// fd.filename filter in the kernel.
func TestSuffixDimension(t *testing.T) {
	p, c := openatProbe(t)
	dir := t.TempDir()
	hit, miss, named := filepath.Join(dir, "x.secret"), filepath.Join(dir, "x.public"), filepath.Join(dir, "passwd.bak")
	for _, f := range []string{hit, miss, named} {
		os.WriteFile(f, nil, 0o644)
	}
	if _, err := p.ApplyPlan(planFor(t, "evt.type = openat and (fd.name endswith .secret or fd.filename = passwd.bak)").Encoding); err != nil {
		t.Fatal(err)
	}
	if n := c.sentFor(t, hit); n < 5 {
		t.Errorf("%d records for opens of %s, want 5", n, hit)
	}
	if n := c.sentFor(t, named); n < 5 {
		t.Errorf("%d records for opens of %s, want 5", n, named)
	}
	if n := c.sentFor(t, miss); n != 0 {
		t.Errorf("%d records for opens of %s, want 0", n, miss)
	}
}

// TestCommVerdictFollowsPlans checks the per-task cache of the comm
// verdict: one long-lived shell opens the same file under plans 1 and 3,
// which use the same generation of maps; plan 3 rejects the shell's comm,
// so none of its opens may be sent.
func TestCommVerdictFollowsPlans(t *testing.T) {
	p, c := openatProbe(t)
	path := filepath.Join(t.TempDir(), "x")
	os.WriteFile(path, nil, 0o644)

	sh := exec.Command("/bin/sh", "-s")
	stdin, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); sh.Wait() }()
	lines := bufio.NewReader(stdout)
	// opens has the shell open path five times and counts what is sent.
	opens := func() int {
		t.Helper()
		return c.sentDuring(path, func() {
			fmt.Fprintf(stdin, "for i in 1 2 3 4 5; do : < %s; done; echo done\n", path)
			if l, err := lines.ReadString('\n'); err != nil || l != "done\n" {
				t.Fatalf("shell: %q, %v", l, err)
			}
		})
	}
	apply := func(cond string) uint32 {
		t.Helper()
		plan, err := p.ApplyPlan(planFor(t, cond).Encoding)
		if err != nil {
			t.Fatal(err)
		}
		return plan & 1 // the generation of maps it runs in
	}
	g1 := apply("evt.type = openat and proc.name = sh and fd.name = " + path)
	if n := opens(); n < 5 {
		t.Fatalf("plan 1 admits the shell: %d records for 5 opens", n)
	}
	// Plan 2 comes and goes while the shell makes no captured syscall, so
	// the shell's cached verdict is still plan 1's when plan 3 runs.
	apply("evt.type = openat and fd.name = /nowhere")
	if g3 := apply("evt.type = openat and proc.name = zsh and fd.name = " + path); g3 != g1 {
		t.Fatalf("plans 1 and 3 use generations %d and %d; the test needs the same", g1, g3)
	}
	if n := opens(); n != 0 {
		t.Errorf("plan 3 rejects the shell's comm: %d records, want 0 (a verdict of plan 1 reused?)", n)
	}
}

// TestPathScanLastWord: the kernel's path scan reads the longest path it
// takes (254 bytes) to its end: a "../" in its last 8-byte word is seen,
// so a rule on it is not dropped, and a clean path of that length is.
func TestPathScanLastWord(t *testing.T) {
	p, c := openatProbe(t)
	dir := t.TempDir()
	// dir/PAD/x/../f, 253 bytes, the "../" at byte 249.
	pad := strings.Repeat("p", 246-len(dir)-1)
	if len(pad) < 1 {
		t.Fatalf("temporary directory %s too long", dir)
	}
	base := filepath.Join(dir, pad)
	if err := os.MkdirAll(filepath.Join(base, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(base, "f"), nil, 0o644)
	os.WriteFile(filepath.Join(base, "x", "g"), nil, 0o644)
	dotdot := base + "/x/../f"
	clean := base + "/x/g"
	if len(dotdot) != 253 || strings.Index(dotdot, "../") != 249 {
		t.Fatalf("path of %d bytes, ../ at %d", len(dotdot), strings.Index(dotdot, "../"))
	}
	if _, err := p.ApplyPlan(planFor(t, "evt.type = openat and fd.nameraw contains '../'").Encoding); err != nil {
		t.Fatal(err)
	}
	if n := c.sentFor(t, dotdot); n < 5 {
		t.Errorf("%d records for 5 opens of a path whose last word holds ../", n)
	}
	if n := c.sentFor(t, clean); n != 0 {
		t.Errorf("%d records for opens of a clean path, want 0", n)
	}
}
