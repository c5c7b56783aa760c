package bpf

import (
	"errors"
	"fmt"

	"github.com/peregrine-sec/peregrine/compiler"
)

// Kernel filter dimensions, in the C program's numbering (DIM_*).
var dimIndex = [compiler.NumDims]uint32{
	compiler.DimComm: 0, compiler.DimParentComm: 1, compiler.DimPath: 2, compiler.DimFeatures: 3, compiler.DimUID: 4,
	compiler.DimLocalPort: 5, compiler.DimRemotePort: 6, compiler.DimContainer: 7,
}

const (
	numDims      = 8
	numRangeDims = 3   // NUM_RANGE_DIMS
	uidRanges    = 256 // UID_RANGES
)

// filterGen is what one generation of the filter maps holds, so that the
// next plan written to it can remove what the last one left.
type filterGen struct {
	syscalls []uint32
	comms    []captureCommKey
	paths    []capturePathKey
	suffixes []capturePathKey
}

// passAll writes, to both generations, a filter that lets every captured
// syscall through: what runs until a plan is applied.
func (p *Probe) passAll(names []string) error {
	var enc compiler.Encoding
	enc.Syscalls = map[string]compiler.Mask{}
	all := compiler.AllClasses(compiler.MaskBits)
	for _, n := range names {
		enc.Syscalls[n] = all
	}
	for d := range enc.Wildcard {
		enc.Wildcard[d] = all
	}
	for v := range enc.Features {
		enc.Features[v] = all
	}
	for i := range enc.Ranges {
		enc.Ranges[i] = []compiler.UIDRange{{Lo: 0, Mask: all}}
	}
	for gen := uint32(0); gen < 2; gen++ {
		if err := p.writeGen(gen, &enc); err != nil {
			return err
		}
	}
	return nil
}

// ApplyPlan writes a compiled plan into the inactive generation of the
// filter maps and then makes it the active one: each event is judged
// wholly by the old plan or wholly by the new. It returns the new plan's
// number, the count of plans applied, which the records it judges carry
// (Record.Plan) so that userspace reads their masks with the right plan;
// or an error, leaving the running plan in place, when a map update fails.
func (p *Probe) ApplyPlan(enc *compiler.Encoding) (uint32, error) {
	var ctl captureFilterCtl
	if err := p.objs.FilterCtl.Lookup(uint32(0), &ctl); err != nil {
		return 0, fmt.Errorf("read filter generation: %w", err)
	}
	// Gen counts the plans applied; its low bit is the generation of maps
	// in use. The kernel tells plans apart by the whole count (a syscall's
	// entry and exit may straddle two switches).
	plan := ctl.Gen + 1
	next := plan & 1
	if err := p.writeGen(next, enc); err != nil {
		return 0, fmt.Errorf("write filter generation %d: %w", next, err)
	}
	ctl.Gen = plan
	if err := p.objs.FilterCtl.Put(uint32(0), &ctl); err != nil {
		return 0, fmt.Errorf("switch filter generation: %w", err)
	}
	return plan, nil
}

// NextPlan returns the number the next ApplyPlan will give its plan.
func (p *Probe) NextPlan() (uint32, error) {
	var ctl captureFilterCtl
	if err := p.objs.FilterCtl.Lookup(uint32(0), &ctl); err != nil {
		return 0, fmt.Errorf("read filter generation: %w", err)
	}
	return ctl.Gen + 1, nil
}

func toMask(m compiler.Mask) captureMask { return captureMask{W: m} }

// writeGen replaces generation gen's contents with enc. It stops at the
// first map update that fails and returns it: the generation is then
// incomplete, and must not be made active.
func (p *Probe) writeGen(gen uint32, enc *compiler.Encoding) error {
	old := &p.gens[gen]
	for _, k := range old.syscalls {
		if err := p.objs.FilterSyscalls.Put(gen*maxSyscalls+k, captureMask{}); err != nil {
			return fmt.Errorf("clear syscall %d: %w", k, err)
		}
	}
	for i := range old.comms {
		if err := p.objs.FilterComms.Delete(&old.comms[i]); err != nil && !errors.Is(err, errKeyNotExist) {
			return fmt.Errorf("clear comm entry: %w", err)
		}
	}
	for i := range old.paths {
		if err := p.objs.FilterPaths.Delete(&old.paths[i]); err != nil && !errors.Is(err, errKeyNotExist) {
			return fmt.Errorf("clear path entry: %w", err)
		}
	}
	for i := range old.suffixes {
		if err := p.objs.FilterSuffixes.Delete(&old.suffixes[i]); err != nil && !errors.Is(err, errKeyNotExist) {
			return fmt.Errorf("clear suffix entry: %w", err)
		}
	}
	*old = filterGen{}
	for name, m := range enc.Syscalls {
		s, ok := lookup(name)
		if !ok {
			continue // a syscall the capture cannot deliver
		}
		old.syscalls = append(old.syscalls, uint32(s.Nr))
		if err := p.objs.FilterSyscalls.Put(gen*maxSyscalls+uint32(s.Nr), toMask(m)); err != nil {
			return fmt.Errorf("syscall %s: %w", name, err)
		}
	}
	for d := compiler.Dim(0); d < compiler.NumDims; d++ {
		dm := captureDimMasks{Wildcard: toMask(enc.Wildcard[d]), Positive: toMask(enc.Positive[d]), Negative: toMask(enc.Negative[d])}
		if err := p.objs.FilterDims.Put(gen*numDims+dimIndex[d], &dm); err != nil {
			return fmt.Errorf("dimension %s: %w", d, err)
		}
	}
	for v, m := range enc.Features {
		if err := p.objs.FilterFeatures.Put(gen*compiler.NumFeatureVectors+uint32(v), toMask(m)); err != nil {
			return fmt.Errorf("features %d: %w", v, err)
		}
	}
	for i, m := range enc.Container {
		if err := p.objs.FilterContainers.Put(gen*2+uint32(i), toMask(m)); err != nil {
			return fmt.Errorf("container entry %d: %w", i, err)
		}
	}
	if err := p.objs.FilterUsage.Put(gen, usage(enc)); err != nil {
		return fmt.Errorf("usage flags: %w", err)
	}
	for slot, table := range enc.Ranges {
		if len(table) > uidRanges {
			return fmt.Errorf("%d ranges for %s: the kernel holds %d", len(table), compiler.RangeDims[slot], uidRanges)
		}
		t := gen*numRangeDims + uint32(slot)
		for i, r := range table {
			if err := p.objs.FilterRanges.Put(t*uidRanges+uint32(i), &captureUidRange{Lo: r.Lo, Mask: toMask(r.Mask)}); err != nil {
				return fmt.Errorf("%s range %d: %w", compiler.RangeDims[slot], i, err)
			}
		}
		if err := p.objs.FilterRangeCount.Put(t, uint32(len(table))); err != nil {
			return fmt.Errorf("%s range count: %w", compiler.RangeDims[slot], err)
		}
	}
	for _, set := range []struct {
		dim compiler.Dim
		m   map[string]compiler.Mask
	}{{compiler.DimComm, enc.Comm}, {compiler.DimParentComm, enc.ParentComm}} {
		for comm, m := range set.m {
			k := captureCommKey{Gen: gen, Dim: dimIndex[set.dim]}
			for i := 0; i < len(comm) && i < len(k.Comm)-1; i++ {
				k.Comm[i] = int8(comm[i])
			}
			old.comms = append(old.comms, k)
			if err := p.objs.FilterComms.Put(&k, toMask(m)); err != nil {
				return fmt.Errorf("%s entry %q (%d entries): %w", set.dim, comm, len(set.m), err)
			}
		}
	}
	for i, pe := range enc.Paths {
		k := capturePathKey{Prefixlen: uint32(8 * (1 + len(pe.Key)))}
		k.Data[0] = uint8(gen)
		copy(k.Data[1:], pe.Key)
		old.paths = append(old.paths, k)
		if err := p.objs.FilterPaths.Put(&k, toMask(pe.Mask)); err != nil {
			return fmt.Errorf("path entry %d of %d (the trie holds %d): %w", i, len(enc.Paths), p.objs.FilterPaths.MaxEntries(), err)
		}
	}
	for i, pe := range enc.Suffixes {
		k := capturePathKey{Prefixlen: uint32(8 * (1 + len(pe.Key)))}
		k.Data[0] = uint8(gen)
		copy(k.Data[1:], pe.Key)
		old.suffixes = append(old.suffixes, k)
		if err := p.objs.FilterSuffixes.Put(&k, toMask(pe.Mask)); err != nil {
			return fmt.Errorf("suffix entry %d of %d (the trie holds %d): %w", i, len(enc.Suffixes), p.objs.FilterSuffixes.MaxEntries(), err)
		}
	}
	return nil
}

// Usage flags of a plan (USE_* in the C program).
const (
	usePath   = 1 << 0
	useSuffix = 1 << 1
	useDotDot = 1 << 2
	// useContainer makes the kernel read the task's cgroups: only when a
	// class checks them.
	useContainer = 1 << 3
)

// usage tells the kernel which costly checks a plan needs.
func usage(enc *compiler.Encoding) uint32 {
	var u uint32
	if !enc.Positive[compiler.DimPath].IsZero() {
		u |= usePath
	}
	if len(enc.Suffixes) > 0 {
		u |= useSuffix
	}
	if !enc.Positive[compiler.DimContainer].IsZero() {
		u |= useContainer
	}
	for v := range enc.Features {
		if enc.Features[v] != enc.Features[v^compiler.FeatDotDot] {
			u |= useDotDot
			break
		}
	}
	return u
}
