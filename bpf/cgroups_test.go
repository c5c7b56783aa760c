package bpf

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// cgroupRecords keeps the openat records of one path.
type cgroupRecords struct {
	mu   sync.Mutex
	path string
	recs []Record
}

func (c *cgroupRecords) read(p *Probe) {
	var rec Record
	for p.ReadInto(&rec) == nil {
		if s, ok := rec.Str(0); ok && rec.Kind == KindSyscall && s == c.path {
			for i, b := range rec.Blobs {
				rec.Blobs[i] = append([]byte(nil), b...)
			}
			rec.raw = nil
			c.mu.Lock()
			c.recs = append(c.recs, rec)
			c.mu.Unlock()
		}
	}
}

// during returns the records of the opens run makes.
func (c *cgroupRecords) during(run func()) []Record {
	c.mu.Lock()
	before := len(c.recs)
	c.mu.Unlock()
	run()
	time.Sleep(MaxPollInterval + 3*PollInterval)
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Record(nil), c.recs[before:]...)
}

// TestContainerDimension runs a plan for containers only against a shell
// in a cgroup of its own: its opens pass while the cgroups are not
// classified, each record carrying their paths and ids; classified as the
// host they are dropped in the kernel (and counted), classified as a
// container they pass and say so; renaming the cgroup voids the class.
func TestContainerDimension(t *testing.T) {
	requireRoot(t)
	hier := "/sys/fs/cgroup/cpu"
	if _, err := os.Stat(filepath.Join(hier, "cgroup.procs")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no cgroup v1 cpu hierarchy: %v", err)
		}
		t.Skipf("no cgroup v1 cpu hierarchy: %v", err)
	}
	name := fmt.Sprintf("peregrine-test-%d", os.Getpid())
	cg := filepath.Join(hier, name)
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	renamed := cg + "-renamed"
	t.Cleanup(func() { os.Remove(cg); os.Remove(renamed) })

	p, err := Load(Options{Syscalls: []string{"openat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, nil, 0o644)
	if _, err := p.ApplyPlan(planFor(t, "evt.type = openat and container.id != host and fd.name = "+f).Encoding); err != nil {
		t.Fatal(err)
	}
	c := &cgroupRecords{path: f}
	go c.read(p)
	// A shell that moves into the cgroup, then opens f five times.
	opens := func(dir string) func() {
		return func() {
			script := "echo $$ > " + dir + "/cgroup.procs && for i in 1 2 3 4 5; do : < " + f + "; done"
			if out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
		}
	}
	filtered := func() uint64 {
		cs, err := p.Counters()
		if err != nil {
			t.Fatal(err)
		}
		return cs.EventsFilteredContainer
	}

	recs := c.during(opens(cg))
	if len(recs) < 5 {
		t.Fatalf("not classified: %d records for 5 opens, want them all (unknown passes)", len(recs))
	}
	r := recs[0]
	v2, v1, ok := r.Cgroups()
	if !ok || r.Flags&FlagContainerKnown != 0 || v1 != "/"+name || v2 != "/" {
		t.Fatalf("not classified: record flags %#x, cgroups %q %q %v; want the walk of /%s, nothing known", r.Flags, v2, v1, ok, name)
	}
	pair := r.CgroupPair()
	if pair.V1 == 0 {
		t.Fatalf("record of a task in %s has no v1 cgroup id", cg)
	}

	if err := p.ClassifyCgroups(pair, r.CgroupGen, false); err != nil {
		t.Fatal(err)
	}
	before := filtered()
	if recs := c.during(opens(cg)); len(recs) != 0 {
		t.Errorf("classified host: %d records for opens only a container rule wants, want 0", len(recs))
	}
	if n := filtered() - before; n < 5 {
		t.Errorf("classified host: the container dimension counted %d drops for 5 opens", n)
	}

	if err := p.ClassifyCgroups(pair, r.CgroupGen, true); err != nil {
		t.Fatal(err)
	}
	recs = c.during(opens(cg))
	if len(recs) < 5 {
		t.Fatalf("classified container: %d records for 5 opens", len(recs))
	}
	for _, r := range recs {
		if r.Flags&(FlagContainerKnown|FlagInContainer) != FlagContainerKnown|FlagInContainer || r.Flags&FlagCgroups != 0 {
			t.Fatalf("classified container: record flags %#x, want known, in a container, no walk", r.Flags)
		}
	}

	// A rename (cgroup v1 allows it) voids every class: the kernel passes
	// the events again, and walks the new path.
	if err := p.ClassifyCgroups(pair, r.CgroupGen, false); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(cg, renamed); err != nil {
		t.Fatal(err)
	}
	recs = c.during(opens(renamed))
	if len(recs) < 5 {
		t.Fatalf("renamed: %d records for 5 opens, want them all (the class is void)", len(recs))
	}
	if _, v1, ok := recs[0].Cgroups(); !ok || v1 != "/"+name+"-renamed" || recs[0].CgroupGen == r.CgroupGen {
		t.Errorf("renamed: walk %q (%v), generation %d (was %d)", v1, ok, recs[0].CgroupGen, r.CgroupGen)
	}
}
