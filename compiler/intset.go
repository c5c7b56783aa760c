package compiler

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// UIDMax is the largest uid; uids are 32-bit.
const UIDMax = math.MaxUint32

// Interval is a closed range of uids.
type Interval struct{ Lo, Hi uint64 }

// IntSet is a set of uids as sorted, disjoint, non-adjacent intervals.
type IntSet struct {
	All bool
	Ivs []Interval
}

func allInts() IntSet { return IntSet{All: true} }

func intervals(ivs ...Interval) IntSet { return normalizeInts(ivs) }

// normalizeInts sorts and merges intervals; the full range becomes All.
func normalizeInts(ivs []Interval) IntSet {
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].Lo < ivs[j].Lo })
	var out []Interval
	for _, iv := range ivs {
		if iv.Lo > iv.Hi {
			continue
		}
		if n := len(out); n > 0 && iv.Lo <= out[n-1].Hi+1 {
			if iv.Hi > out[n-1].Hi {
				out[n-1].Hi = iv.Hi
			}
			continue
		}
		out = append(out, iv)
	}
	if len(out) == 1 && out[0].Lo == 0 && out[0].Hi == UIDMax {
		return allInts()
	}
	return IntSet{Ivs: out}
}

func (s IntSet) list() []Interval {
	if s.All {
		return []Interval{{0, UIDMax}}
	}
	return s.Ivs
}

func (s IntSet) union(o IntSet) IntSet {
	if s.All || o.All {
		return allInts()
	}
	return normalizeInts(append(append([]Interval{}, s.Ivs...), o.Ivs...))
}

func (s IntSet) complement() IntSet {
	var out []Interval
	next := uint64(0)
	for _, iv := range s.list() {
		if iv.Lo > next {
			out = append(out, Interval{next, iv.Lo - 1})
		}
		next = iv.Hi + 1
	}
	if next <= UIDMax {
		out = append(out, Interval{next, UIDMax})
	}
	return normalizeInts(out)
}

func (s IntSet) intersect(o IntSet) IntSet {
	return s.complement().union(o.complement()).complement()
}

func (s IntSet) contains(v uint64) bool {
	for _, iv := range s.list() {
		if iv.Lo <= v && v <= iv.Hi {
			return true
		}
	}
	return false
}

func (s IntSet) String() string {
	if s.All {
		return "*"
	}
	parts := make([]string, len(s.Ivs))
	for i, iv := range s.Ivs {
		if iv.Lo == iv.Hi {
			parts[i] = fmt.Sprint(iv.Lo)
		} else {
			parts[i] = fmt.Sprintf("%d-%d", iv.Lo, iv.Hi)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// uidAtom projects a comparison on user.uid: exact for every operator
// (user.uid always has a value, the uid the kernel reports).
func uidAtom(op string, vals []uint64) (IntSet, bool) {
	var s IntSet
	switch op {
	case "=", "in":
		ivs := make([]Interval, len(vals))
		for i, v := range vals {
			ivs[i] = Interval{v, v}
		}
		s = normalizeInts(ivs)
	case "!=":
		s = intervals(Interval{vals[0], vals[0]}).complement()
	case "<":
		if vals[0] == 0 {
			return IntSet{}, true
		}
		s = intervals(Interval{0, vals[0] - 1})
	case "<=":
		s = intervals(Interval{0, vals[0]})
	case ">":
		if vals[0] >= UIDMax {
			return IntSet{}, true
		}
		s = intervals(Interval{vals[0] + 1, UIDMax})
	case ">=":
		s = intervals(Interval{vals[0], UIDMax})
	default:
		return IntSet{}, false
	}
	return s, true
}
