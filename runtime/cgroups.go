package runtime

import (
	"sync/atomic"

	"github.com/peregrine-sec/peregrine/bpf"
	"github.com/peregrine-sec/peregrine/runtime/proctable"
)

// cgroupClasses is userspace's half of the kernel filter's container
// dimension: for each pair of cgroups (bpf.CgroupPair) whose paths a record
// carried, the cgroup the process table keeps for its tasks, and so
// whether they are in a container. Each class is written to the kernel
// too, which until then treats the pair as unknown and passes its events.
// The events of a classified pair take their container from here, not from
// what the process table read earlier: userspace and the kernel judge an
// event by the same class.
type cgroupClasses struct {
	kernel classifier // nil: no kernel to tell (replay, tests)
	pairs  map[bpf.CgroupPair]cgroupClass
	// max bounds pairs; past it the kernel's table is full too.
	max int
	// classified counts the pairs classified, refused those the kernel
	// had no room for or refused (they stay unknown: their events pass).
	// Atomic: Metrics reads them from another goroutine.
	classified, refused atomic.Uint64
}

// CgroupStats counts the sets of cgroups (bpf.CgroupPair) classified for
// the kernel filter's container dimension, and those the kernel refused
// (its table full): their events pass the dimension, judged in userspace.
type CgroupStats struct {
	Classified uint64 `json:"classified"`
	Refused    uint64 `json:"refused"`
}

func (c *cgroupClasses) stats() CgroupStats {
	return CgroupStats{Classified: c.classified.Load(), Refused: c.refused.Load()}
}

// cgroupClass is a pair's class: the cgroup of its tasks, as walked under
// rename generation gen.
type cgroupClass struct {
	gen uint32
	cg  proctable.Cgroup
}

// classifier is what the kernel offers the classes (*bpf.Probe).
type classifier interface {
	ClassifyCgroups(pair bpf.CgroupPair, gen uint32, container bool) error
	ForgetCgroups(pair bpf.CgroupPair) error
}

func newCgroupClasses(kernel classifier) *cgroupClasses {
	return &cgroupClasses{kernel: kernel, pairs: map[bpf.CgroupPair]cgroupClass{}, max: bpf.CgroupClassCapacity}
}

// of returns the cgroup of the tasks of a record's pair, when classified
// under the record's rename generation.
func (c *cgroupClasses) of(r *bpf.Record) (proctable.Cgroup, bool) {
	cl, ok := c.pairs[r.CgroupPair()]
	if !ok || cl.gen != r.CgroupGen {
		return proctable.Cgroup{}, false
	}
	return cl.cg, true
}

// learn classifies the pair of a record that carries its own task's
// cgroup paths (an exec record, or a syscall record the kernel could not
// classify), returning the cgroup; ok is false when the record carries
// none, or an incomplete walk.
func (c *cgroupClasses) learn(r *bpf.Record) (proctable.Cgroup, bool) {
	v2, v1, ok := r.Cgroups()
	if !ok {
		return proctable.Cgroup{}, false
	}
	cg := cgroupOf(v2, v1)
	pair := r.CgroupPair()
	old, known := c.pairs[pair]
	if known && old.gen == r.CgroupGen && old.cg == cg {
		return cg, true
	}
	if !known && len(c.pairs) >= c.max {
		c.evictOne()
	}
	// Userspace first: a record the kernel judges by the class finds it
	// here.
	c.pairs[pair] = cgroupClass{gen: r.CgroupGen, cg: cg}
	if c.kernel != nil {
		if err := c.kernel.ClassifyCgroups(pair, r.CgroupGen, !isHost(cg.ContainerID)); err != nil {
			c.refused.Add(1) // unknown to the kernel: its events pass
			return cg, true
		}
	}
	c.classified.Add(1)
	return cg, true
}

// evictOne forgets one pair, in the kernel first: its events pass until
// a record classifies it again.
func (c *cgroupClasses) evictOne() {
	for pair := range c.pairs {
		if c.kernel != nil && c.kernel.ForgetCgroups(pair) != nil {
			continue
		}
		delete(c.pairs, pair)
		return
	}
}
