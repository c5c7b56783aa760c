package compiler

import (
	"fmt"
	"sort"
	"strings"
)

// Class is a set of (rule, syscall) pairs with the same kernel predicate:
// one bit of the kernel mask.
type Class struct {
	Pred     *Pred
	Syscalls map[string]bool
	// Merged counts the predicates merged into this one over budget.
	Merged int
}

// key identifies a predicate, so identical ones share a class.
func (p *Pred) key() string {
	return p.Comm.String() + "|" + p.ParentComm.String() + "|" + p.Path.String() + "|" + fmt.Sprint(p.Features) + "|" + p.UID.String() + "|" + p.LocalPort.String() + "|" + p.RemotePort.String() + "|" + p.Container.String()
}

func (c *compilation) groupClasses() error {
	index := map[string]int{}
	keys := map[*Pred]string{} // a predicate shared by syscalls is keyed once
	var classes []*Class
	for i := range c.plan.Preds {
		for j := range c.plan.Preds[i] {
			sp := &c.plan.Preds[i][j]
			k, ok := keys[sp.Pred]
			if !ok {
				k = sp.Pred.key()
				keys[sp.Pred] = k
			}
			ci, ok := index[k]
			if !ok {
				ci = len(classes)
				index[k] = ci
				classes = append(classes, &Class{Pred: sp.Pred, Syscalls: map[string]bool{}})
			}
			classes[ci].Syscalls[sp.Syscall] = true
			sp.Class = ci
		}
	}
	if len(classes) > c.opts.MaxClasses {
		remap := mergeClasses(&classes, c.opts.MaxClasses)
		for i := range c.plan.Preds {
			for j := range c.plan.Preds[i] {
				c.plan.Preds[i][j].Class = remap[c.plan.Preds[i][j].Class]
			}
		}
		c.plan.Warnings = append(c.plan.Warnings, fmt.Sprintf(
			"%d distinct kernel predicates exceed the budget of %d classes: merged into %d (sound, less selective)",
			len(remap), c.opts.MaxClasses, len(classes)))
	}
	c.plan.Classes = classes
	return nil
}

// mergeClasses folds classes into at most max by uniting predicates: the
// last classes are merged into the first ones, round-robin. A merged
// class admits every event either admitted, so the filter stays sound.
// It returns the old-to-new class numbering.
func mergeClasses(classes *[]*Class, max int) []int {
	old := *classes
	remap := make([]int, len(old))
	out := make([]*Class, max)
	for i, cl := range old {
		j := i % max
		remap[i] = j
		if out[j] == nil {
			out[j] = &Class{Pred: cl.Pred, Syscalls: map[string]bool{}}
		} else {
			out[j].Pred = out[j].Pred.or(cl.Pred)
			out[j].Merged++
		}
		for s := range cl.Syscalls {
			out[j].Syscalls[s] = true
		}
	}
	*classes = out
	return remap
}

// Encoding is the content of the kernel filter's maps. For a dimension d
// and the value v the kernel sees, the classes satisfied are
//
//	Wildcard[d] | (listed(v) & Positive[d]) | (^listed(v) & Negative[d])
//
// where listed(v) is the mask stored for v; an event passes with the AND
// of that over dimensions and Syscalls[syscall]. A value the kernel could
// not read satisfies every class.
type Encoding struct {
	NumClasses int
	Syscalls   map[string]Mask
	Wildcard   [NumDims]Mask
	Positive   [NumDims]Mask
	Negative   [NumDims]Mask
	// Comm and ParentComm map a comm to the classes that list it.
	Comm, ParentComm map[string]Mask
	// Paths are the path dimension's LPM entries: Key is a prefix, or an
	// exact path with its terminating NUL; Mask carries the classes of
	// every shorter entry that is a prefix of it too, so that the longest
	// match answers alone.
	Paths []PathEntry
	// Suffixes are the entries of the reversed-path LPM trie: each key is
	// a suffix, reversed, with its mask propagated like Paths'.
	Suffixes []PathEntry
	// Features maps a feature vector to the classes that admit it.
	Features [NumFeatureVectors]Mask
	// Ranges holds, per range dimension (RangeDims order), the number line
	// cut at the bounds of every class's intervals: Ranges[d][i] covers the
	// values from its Lo up to the next one's Lo, and holds the classes
	// that admit them. Ranges[d][0].Lo is 0.
	Ranges [3][]UIDRange
	// Container holds the classes that admit tasks on the host ([0]) and
	// tasks in a container ([1]).
	Container [2]Mask
	// State are syscalls whose records always reach userspace (the
	// process table needs them), whatever the masks say.
	State map[string]bool
}

// UIDRange is a range of values (uids, ports) and the classes admitting it.
type UIDRange struct {
	Lo   uint64
	Mask Mask
}

// MaxUIDRanges is how many ranges the kernel's table holds per dimension; a plan
// with more widens the ranges (merging neighbours), which is sound.
const MaxUIDRanges = 256

// PathEntry is an entry of the path LPM trie.
type PathEntry struct {
	Key  string
	Mask Mask
}

// PathKeyMax is the longest path key the compiler writes, NUL included
// (the kernel's key holds 255 bytes after the generation byte; a path
// must be at most this long for the kernel to judge it, see
// PathNormalized). Longer keys are cut to it, which only widens them.
const PathKeyMax = 254

func (c *compilation) encodeMaps() error {
	e := &Encoding{
		NumClasses: len(c.plan.Classes),
		Syscalls:   map[string]Mask{},
		Comm:       map[string]Mask{},
		ParentComm: map[string]Mask{},
		State:      map[string]bool{},
	}
	paths, suffixes := map[string]Mask{}, map[string]Mask{}
	for ci, cl := range c.plan.Classes {
		for s := range cl.Syscalls {
			m := e.Syscalls[s]
			m.Set(ci)
			e.Syscalls[s] = m
		}
		p := cl.Pred
		encodeStrSet(e, DimComm, ci, p.Comm, e.Comm)
		encodeStrSet(e, DimParentComm, ci, p.ParentComm, e.ParentComm)
		if p.Path.All {
			e.Wildcard[DimPath].Set(ci)
		} else {
			e.Positive[DimPath].Set(ci)
			for x := range p.Path.Exact {
				key := x + "\x00"
				if len(key) > PathKeyMax {
					key = x[:PathKeyMax]
				}
				m := paths[key]
				m.Set(ci)
				paths[key] = m
			}
			for x := range p.Path.Prefix {
				key := x
				if len(key) > PathKeyMax {
					key = key[:PathKeyMax]
				}
				m := paths[key]
				m.Set(ci)
				paths[key] = m
			}
			for x := range p.Path.Suffix {
				key := reverse(x)
				if len(key) > PathKeyMax {
					key = key[:PathKeyMax]
				}
				m := suffixes[key]
				m.Set(ci)
				suffixes[key] = m
			}
		}
		e.Positive[DimFeatures].Set(ci)
		if p.Container == AllTasks {
			e.Wildcard[DimContainer].Set(ci)
		} else {
			e.Positive[DimContainer].Set(ci)
		}
		for i, s := range []TaskSet{HostTasks, ContainerTasks} {
			if p.Container&s != 0 {
				e.Container[i].Set(ci)
			}
		}
		for _, d := range RangeDims {
			if p.Range(d).All {
				e.Wildcard[d].Set(ci)
			} else {
				e.Positive[d].Set(ci)
			}
		}
		for v := 0; v < NumFeatureVectors; v++ {
			if p.Features.Has(v) {
				e.Features[v].Set(ci)
			}
		}
	}
	for i, d := range RangeDims {
		e.Ranges[i] = encodeRanges(c.plan.Classes, d)
	}
	e.Paths = propagate(paths)
	e.Suffixes = propagate(suffixes)
	c.plan.Encoding = e
	return nil
}

func encodeStrSet(e *Encoding, d Dim, ci int, s StrSet, listed map[string]Mask) {
	switch {
	case s.All:
		e.Wildcard[d].Set(ci)
		return
	case s.Neg:
		e.Negative[d].Set(ci)
	default:
		e.Positive[d].Set(ci)
	}
	for k := range s.Items {
		m := listed[k]
		m.Set(ci)
		listed[k] = m
	}
}

// MapEntries counts the kernel map entries the encoding needs.
func (e *Encoding) MapEntries() map[string]int {
	return map[string]int{
		"syscalls": len(e.Syscalls), "comm": len(e.Comm), "parent_comm": len(e.ParentComm),
		"paths": len(e.Paths), "suffixes": len(e.Suffixes), "features": NumFeatureVectors, "uid_ranges": len(e.Ranges[0]),
		"local_port_ranges": len(e.Ranges[1]), "remote_port_ranges": len(e.Ranges[2]), "containers": len(e.Container),
	}
}

// encodeRanges cuts dimension d's number line at every class's interval
// bounds.
func encodeRanges(classes []*Class, d Dim) []UIDRange {
	bounds := map[uint64]bool{0: true}
	for _, cl := range classes {
		for _, iv := range cl.Pred.Range(d).list() {
			bounds[iv.Lo] = true
			if iv.Hi < UIDMax {
				bounds[iv.Hi+1] = true
			}
		}
	}
	los := make([]uint64, 0, len(bounds))
	for b := range bounds {
		los = append(los, b)
	}
	sort.Slice(los, func(i, j int) bool { return los[i] < los[j] })
	out := make([]UIDRange, len(los))
	for i, lo := range los {
		out[i].Lo = lo
		for ci, cl := range classes {
			if cl.Pred.Range(d).contains(lo) {
				out[i].Mask.Set(ci)
			}
		}
	}
	// Over the table's size, merge neighbours: a merged range admits the
	// classes of both.
	for len(out) > MaxUIDRanges {
		merged := out[:0:0]
		for i := 0; i < len(out); i += 2 {
			r := out[i]
			if i+1 < len(out) {
				r.Mask = r.Mask.Or(out[i+1].Mask)
			}
			merged = append(merged, r)
		}
		out = merged
	}
	return out
}

// lookupRange finds the range of table holding v.
func lookupRange(table []UIDRange, v uint64) Mask {
	i := sort.Search(len(table), func(i int) bool { return table[i].Lo > v }) - 1
	if i < 0 {
		return Mask{}
	}
	return table[i].Mask
}

// propagate gives each LPM key the classes of every shorter key that is a
// prefix of it (exact keys, ending in NUL, are prefixes of nothing else),
// so that the longest match answers alone. In sorted order every key
// between a key and a longer one it is a prefix of starts with it too, so
// the prefixes of the key at hand are a stack: one pass, where comparing
// every pair of keys took minutes for 50,000.
func propagate(keys map[string]Mask) []PathEntry {
	out := make([]PathEntry, 0, len(keys))
	for k, m := range keys {
		out = append(out, PathEntry{Key: k, Mask: m})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	var stack []PathEntry // each a prefix of the next, with its classes propagated
	for i := range out {
		for len(stack) > 0 && !strings.HasPrefix(out[i].Key, stack[len(stack)-1].Key) {
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			out[i].Mask = out[i].Mask.Or(stack[len(stack)-1].Mask)
		}
		if !strings.HasSuffix(out[i].Key, "\x00") {
			stack = append(stack, out[i])
		}
	}
	return out
}

// reverse returns s with its bytes in reverse order.
func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
