package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// What the kernel filter knows of a task's cgroups (CONTAINER_* in the C
// program).
const (
	containerUnknown = 0
	containerHost    = 1
	containerIn      = 2
	epochUser        = 1 // EPOCH_USER: userspace's slot of cgroup_epoch
)

// CgroupPair names a task's cgroups as the kernel filter knows them: the
// kernfs ids of its v2 cgroup and of its first controller cgroup that is
// not a root (0 when there is none), the cgroups whose paths a record with
// FlagCgroups carries. The kernel never reuses these ids.
type CgroupPair struct{ V2, V1 uint64 }

// CgroupPair returns the pair of cgroups the record's task was in.
func (r *Record) CgroupPair() CgroupPair { return CgroupPair{V2: r.CgroupID, V1: r.CgroupV1ID} }

// ErrCgroupClassesFull is returned by ClassifyCgroups when the kernel's
// table of classes is full: the pair stays unknown, and its events pass.
var ErrCgroupClassesFull = errors.New("bpf: the kernel's table of cgroup classes is full")

// CgroupClassCapacity is how many pairs of cgroups the kernel can hold a
// class for (CGROUP_CLASSES).
const CgroupClassCapacity = 16384

// ClassifyCgroups tells the kernel filter whether the tasks in the cgroups
// pair are in a container, as userspace judged from the paths of a record
// read under rename generation gen (Record.CgroupGen): a rename since then
// makes the kernel treat the pair as unknown again. It returns
// ErrCgroupClassesFull when the table is full, or the map update's error.
func (p *Probe) ClassifyCgroups(pair CgroupPair, gen uint32, container bool) error {
	v := captureCgroupClass{Gen: gen, Container: containerHost}
	if container {
		v.Container = containerIn
	}
	k := captureCgroupPair{V2: pair.V2, V1: pair.V1}
	if err := p.objs.CgroupClasses.Update(&k, &v, ebpf.UpdateAny); err != nil {
		if errors.Is(err, unix.E2BIG) {
			return ErrCgroupClassesFull
		}
		return fmt.Errorf("classify cgroups %d/%d: %w", pair.V2, pair.V1, err)
	}
	// The kernel caches a task's class, unknown included, for an epoch.
	if err := p.objs.CgroupEpoch.Put(uint32(epochUser), p.userEpoch.Add(1)); err != nil {
		return fmt.Errorf("bump cgroup epoch: %w", err)
	}
	return nil
}

// ForgetCgroups removes the class of a pair of cgroups: its events pass
// the container dimension until it is classified again. A pair the kernel
// holds no class for is not an error.
func (p *Probe) ForgetCgroups(pair CgroupPair) error {
	k := captureCgroupPair{V2: pair.V2, V1: pair.V1}
	if err := p.objs.CgroupClasses.Delete(&k); err != nil && !errors.Is(err, errKeyNotExist) {
		return fmt.Errorf("forget cgroups %d/%d: %w", pair.V2, pair.V1, err)
	}
	return nil
}
