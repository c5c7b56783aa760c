package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
)

// Counters are the kernel-side counts, summed over CPUs.
type Counters struct {
	SyscallsSeen   uint64 `json:"syscalls_seen"`
	EventsSent     uint64 `json:"events_sent"`
	EventsLost     uint64 `json:"events_lost"`
	EventsFiltered uint64 `json:"events_filtered"`
	// EventsUnsaved counts syscalls the entry program could not save
	// arguments for (no task storage: memory, or another BPF program
	// using it on the CPU), which went unrecorded.
	EventsUnsaved uint64 `json:"events_unsaved"`
	// SyscallsSeenIA32 counts the 32-bit syscalls among SyscallsSeen.
	SyscallsSeenIA32 uint64 `json:"syscalls_seen_ia32"`
	// EventsFilteredContainer counts the EventsFiltered that the container
	// dimension dropped: syscalls of tasks classified as host (or as in a
	// container) that only rules for the other could want.
	EventsFilteredContainer uint64 `json:"events_filtered_container"`
}

// ReadCounters reads a capture's per-CPU counters map, summed over CPUs.
// It returns an error naming the counter it could not read.
func ReadCounters(m *ebpf.Map) (Counters, error) {
	var c Counters
	for slot, dst := range []*uint64{&c.SyscallsSeen, &c.EventsSent, &c.EventsLost, &c.EventsFiltered, &c.EventsUnsaved, &c.SyscallsSeenIA32,
		&c.EventsFilteredContainer} {
		var perCPU []uint64
		if err := m.Lookup(uint32(slot), &perCPU); err != nil {
			return c, fmt.Errorf("read counter %d: %w", slot, err)
		}
		for _, v := range perCPU {
			*dst += v
		}
	}
	return c, nil
}

// ErrNoCapture is returned when a process holds no Peregrine capture.
var ErrNoCapture = errors.New("bpf: no Peregrine capture is loaded")

// CountersOf opens the counters map of the capture that process pid (a
// running `peregrine run`) has loaded: how a harness reads what another
// process's capture sent to userspace. The caller closes the map. It
// returns ErrNoCapture when the process holds none.
func CountersOf(pid int) (*ebpf.Map, error) {
	for _, id := range heldIDs(pid, "map_id:") {
		m, err := ebpf.NewMapFromID(ebpf.MapID(id))
		if err != nil {
			continue
		}
		if info, err := m.Info(); err == nil && info.Name == captureMapCounters && info.Type == ebpf.PerCPUArray {
			return m, nil
		}
		m.Close()
	}
	return nil, ErrNoCapture
}

// SyscallProgramsOf opens the syscall programs (entry and exit, per
// syscall or raw) of the capture process pid has loaded, for their
// run-time statistics. The caller closes them.
func SyscallProgramsOf(pid int) ([]*ebpf.Program, error) {
	var out []*ebpf.Program
	for _, id := range heldIDs(pid, "prog_id:") {
		p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
		if err != nil {
			continue
		}
		if info, err := p.Info(); err == nil && strings.Contains(info.Name, "sys_e") {
			out = append(out, p)
			continue
		}
		p.Close()
	}
	if len(out) == 0 {
		return nil, ErrNoCapture
	}
	return out, nil
}

// heldIDs returns the ids a process's BPF file descriptors name in their
// fdinfo after key (map_id:, prog_id:).
func heldIDs(pid int, key string) []uint32 {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fdinfo")
	entries, _ := os.ReadDir(dir)
	seen := map[uint32]bool{}
	var out []uint32
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, key); ok {
				if id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil && !seen[uint32(id)] {
					seen[uint32(id)] = true
					out = append(out, uint32(id))
				}
			}
		}
	}
	return out
}
