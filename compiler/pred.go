package compiler

import (
	"math/bits"
	"sort"
	"strings"
)

// MaskBits is the number of classes the kernel mask holds.
const MaskBits = 256

// Mask is a set of classes: bit i is class i.
type Mask [MaskBits / 64]uint64

// Has reports whether class i is in the mask.
func (m Mask) Has(i int) bool { return m[i/64]&(1<<(i%64)) != 0 }

// Set adds class i.
func (m *Mask) Set(i int) { m[i/64] |= 1 << (i % 64) }

// Or returns the union.
func (m Mask) Or(o Mask) Mask {
	for i := range m {
		m[i] |= o[i]
	}
	return m
}

// And returns the intersection.
func (m Mask) And(o Mask) Mask {
	for i := range m {
		m[i] &= o[i]
	}
	return m
}

// AndNot returns m without the classes of o.
func (m Mask) AndNot(o Mask) Mask {
	for i := range m {
		m[i] &^= o[i]
	}
	return m
}

// IsZero reports whether the mask is empty.
func (m Mask) IsZero() bool { return m == Mask{} }

// Count returns the number of classes in the mask.
func (m Mask) Count() int {
	n := 0
	for _, w := range m {
		n += bits.OnesCount64(w)
	}
	return n
}

// AllClasses returns the mask of the first n classes.
func AllClasses(n int) Mask {
	var m Mask
	for i := 0; i < n; i++ {
		m.Set(i)
	}
	return m
}

// Dim is a dimension of the kernel filter: a value the kernel knows for an
// event, checked against each class's set for it.
type Dim uint8

// The kernel filter's dimensions.
const (
	DimComm       Dim = iota // proc.name: the task's comm
	DimParentComm            // proc.pname, proc.aname[1]: the parent's comm
	DimPath                  // fd.name of open, openat, openat2, creat: the path argument
	DimFeatures              // open access mode and flags, result, path features
	DimUID                   // user.uid: the effective uid
	DimLocalPort             // the socket's local port (fd.lport...)
	DimRemotePort            // the socket's remote port, when connected (fd.rport...)
	DimContainer             // container.id: whether the task is in a container (its cgroups)
	NumDims
)

var dimNames = [...]string{DimComm: "comm", DimParentComm: "parent_comm", DimPath: "path", DimFeatures: "features", DimUID: "uid",
	DimLocalPort: "local_port", DimRemotePort: "remote_port", DimContainer: "container"}

// TaskSet is a set of the container dimension's values: tasks on the
// host, tasks in a container.
type TaskSet uint8

// The container dimension's values, and both.
const (
	HostTasks TaskSet = 1 << iota
	ContainerTasks
	AllTasks = HostTasks | ContainerTasks
)

func (s TaskSet) String() string {
	switch s {
	case HostTasks:
		return "{host}"
	case ContainerTasks:
		return "{container}"
	case AllTasks:
		return "*"
	}
	return "{}"
}

func (d Dim) String() string { return dimNames[d] }

// CommLen is the longest comm the kernel keeps (TASK_COMM_LEN - 1).
const CommLen = 15

// StrSet is a set of strings for an exact-match dimension: every value
// (All), the listed ones, or all but the listed ones (Neg).
type StrSet struct {
	All   bool
	Neg   bool
	Items map[string]bool
}

func allStrings() StrSet { return StrSet{All: true} }

func strSet(neg bool, items ...string) StrSet {
	s := StrSet{Neg: neg, Items: map[string]bool{}}
	for _, it := range items {
		s.Items[it] = true
	}
	return s
}

func (s StrSet) String() string {
	if s.All {
		return "*"
	}
	keys := make([]string, 0, len(s.Items))
	for k := range s.Items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := "{" + strings.Join(keys, ",") + "}"
	if s.Neg {
		return "not " + out
	}
	return out
}

// PathSet is a set of absolute, normalised paths: every path (All), or
// those equal to one of Exact, starting with one of Prefix or ending with
// one of Suffix (bytewise).
type PathSet struct {
	All    bool
	Exact  map[string]bool
	Prefix map[string]bool
	Suffix map[string]bool
}

func allPaths() PathSet { return PathSet{All: true} }

func pathSet() PathSet {
	return PathSet{Exact: map[string]bool{}, Prefix: map[string]bool{}, Suffix: map[string]bool{}}
}

func (s PathSet) hasPrefixOf(p string) bool {
	for q := range s.Prefix {
		if strings.HasPrefix(p, q) {
			return true
		}
	}
	return false
}

func (s PathSet) hasSuffixOf(p string) bool {
	for q := range s.Suffix {
		if strings.HasSuffix(p, q) {
			return true
		}
	}
	return false
}

func (s PathSet) contains(p string) bool {
	return s.All || s.Exact[p] || s.hasPrefixOf(p) || s.hasSuffixOf(p)
}

// intersect returns a set holding every path in both (more when a prefix
// meets a suffix: "starts with p and ends with s" is kept as the prefix).
func (s PathSet) intersect(o PathSet) PathSet {
	switch {
	case s.All:
		return o
	case o.All:
		return s
	}
	out := pathSet()
	for e := range s.Exact {
		if o.contains(e) {
			out.Exact[e] = true
		}
	}
	for e := range o.Exact {
		if s.contains(e) {
			out.Exact[e] = true
		}
	}
	// Prefix p and prefix q meet in the longer one, when one extends the
	// other; suffixes likewise.
	for p := range s.Prefix {
		if o.hasPrefixOf(p) {
			out.Prefix[p] = true
		}
	}
	for q := range o.Prefix {
		if s.hasPrefixOf(q) {
			out.Prefix[q] = true
		}
	}
	for p := range s.Suffix {
		if o.hasSuffixOf(p) {
			out.Suffix[p] = true
		}
	}
	for q := range o.Suffix {
		if s.hasSuffixOf(q) {
			out.Suffix[q] = true
		}
	}
	// A prefix meeting a suffix: the paths with both, widened to the prefix.
	for p := range s.Prefix {
		if len(o.Suffix) > 0 {
			out.Prefix[p] = true
		}
	}
	for q := range o.Prefix {
		if len(s.Suffix) > 0 {
			out.Prefix[q] = true
		}
	}
	return out
}

func (s PathSet) String() string {
	if s.All {
		return "*"
	}
	var parts []string
	for e := range s.Exact {
		parts = append(parts, "="+e)
	}
	for p := range s.Prefix {
		parts = append(parts, p+"*")
	}
	for p := range s.Suffix {
		parts = append(parts, "*"+p)
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// Feature bits: what the kernel knows of an open and of any syscall's
// result. A FeatureSet is the set of bit vectors a class admits.
const (
	FeatRead       = 1 << iota // the open asks for read access (evt.is_open_read)
	FeatWrite                  // ... write access (evt.is_open_write)
	FeatTrunc                  // O_TRUNC
	FeatCreat                  // O_CREAT
	FeatAppend                 // O_APPEND
	FeatExcl                   // O_EXCL
	FeatCreated                // the open created the file (O_F_CREATED)
	FeatFailed                 // the syscall returned an error
	FeatDotDot                 // the raw path contains "../"
	FeatDir                    // the fd is a directory (fd.typechar d)
	NumFeatureBits = iota
)

// NumFeatureVectors is the size of the features dimension's universe.
const NumFeatureVectors = 1 << NumFeatureBits

// FeatureSet is a set of feature vectors.
type FeatureSet [NumFeatureVectors / 64]uint64

func allFeatures() FeatureSet {
	var f FeatureSet
	for i := range f {
		f[i] = ^uint64(0)
	}
	return f
}

// featuresWhere returns the vectors for which pred holds.
func featuresWhere(pred func(v int) bool) FeatureSet {
	var f FeatureSet
	for v := 0; v < NumFeatureVectors; v++ {
		if pred(v) {
			f[v/64] |= 1 << (v % 64)
		}
	}
	return f
}

// Has reports whether vector v is in the set.
func (f FeatureSet) Has(v int) bool { return f[v/64]&(1<<(v%64)) != 0 }

func (f FeatureSet) intersect(o FeatureSet) FeatureSet {
	for i := range f {
		f[i] &= o[i]
	}
	return f
}

func (f FeatureSet) union(o FeatureSet) FeatureSet {
	for i := range f {
		f[i] |= o[i]
	}
	return f
}

func (f FeatureSet) complement() FeatureSet {
	for i := range f {
		f[i] = ^f[i]
	}
	return f
}

func (f FeatureSet) empty() bool { return f == FeatureSet{} }

func (f FeatureSet) all() bool { return f == allFeatures() }

func (f FeatureSet) count() int {
	n := 0
	for _, w := range f {
		n += bits.OnesCount64(w)
	}
	return n
}

// Pred is a kernel predicate: a conjunction over dimensions of set
// membership. False means no event can satisfy it.
type Pred struct {
	False      bool
	Comm       StrSet
	ParentComm StrSet
	Path       PathSet
	Features   FeatureSet
	UID        IntSet
	LocalPort  IntSet
	RemotePort IntSet
	Container  TaskSet
}

// Range returns the interval set of a range dimension.
func (p *Pred) Range(d Dim) IntSet {
	switch d {
	case DimLocalPort:
		return p.LocalPort
	case DimRemotePort:
		return p.RemotePort
	}
	return p.UID
}

// RangeDims are the dimensions whose values are numbers checked by ranges.
var RangeDims = []Dim{DimUID, DimLocalPort, DimRemotePort}

// Truth returns the predicate every event satisfies.
func Truth() *Pred {
	return &Pred{Comm: allStrings(), ParentComm: allStrings(), Path: allPaths(), Features: allFeatures(), UID: allInts(),
		LocalPort: allInts(), RemotePort: allInts(), Container: AllTasks}
}

func falsePred() *Pred { return &Pred{False: true} }

func (p *Pred) or(o *Pred) *Pred { return orAll([]*Pred{p, o}) }

// andAll intersects predicates, dimension by dimension. It works on all
// of them at once, in time linear in their sizes: intersecting them one
// by one would copy the growing result at each step, quadratic in the
// operands of a long conjunction.
func andAll(ps []*Pred) *Pred {
	for _, p := range ps {
		if p.False {
			return falsePred()
		}
	}
	// An empty dimension is kept, not folded to false: it admits no
	// value the kernel knows, but an event the kernel could not read
	// still passes, as an event lacking the field can still match (a
	// negated comparison on a missing field is true).
	out := &Pred{Features: allFeatures(), Container: AllTasks}
	out.Comm = intersectStrs(ps, func(p *Pred) StrSet { return p.Comm })
	out.ParentComm = intersectStrs(ps, func(p *Pred) StrSet { return p.ParentComm })
	out.Path = allPaths()
	for _, p := range ps {
		out.Path = out.Path.intersect(p.Path)
		out.Features = out.Features.intersect(p.Features)
		out.Container &= p.Container
	}
	out.UID = intersectInts(ps, func(p *Pred) IntSet { return p.UID })
	out.LocalPort = intersectInts(ps, func(p *Pred) IntSet { return p.LocalPort })
	out.RemotePort = intersectInts(ps, func(p *Pred) IntSet { return p.RemotePort })
	return out
}

// orAll unites predicates, dimension by dimension, in time linear in
// their sizes (see andAll). With none, or only false ones, it is false.
func orAll(ps []*Pred) *Pred {
	live := make([]*Pred, 0, len(ps))
	for _, p := range ps {
		if !p.False {
			live = append(live, p)
		}
	}
	switch len(live) {
	case 0:
		return falsePred()
	case 1:
		return live[0]
	}
	out := &Pred{}
	out.Comm = unionStrs(live, func(p *Pred) StrSet { return p.Comm })
	out.ParentComm = unionStrs(live, func(p *Pred) StrSet { return p.ParentComm })
	out.Path = unionPaths(live)
	for _, p := range live {
		out.Features = out.Features.union(p.Features)
		out.Container |= p.Container
	}
	out.UID = unionInts(live, func(p *Pred) IntSet { return p.UID })
	out.LocalPort = unionInts(live, func(p *Pred) IntSet { return p.LocalPort })
	out.RemotePort = unionInts(live, func(p *Pred) IntSet { return p.RemotePort })
	return out
}

// unionStrs unites one dimension of several predicates: the listed values
// of every positive set, or, when some set is negative, all but the values
// every negative set excludes and no positive set lists.
func unionStrs(ps []*Pred, dim func(*Pred) StrSet) StrSet {
	pos := map[string]bool{}
	var neg map[string]bool // nil: no negative set yet
	for _, p := range ps {
		s := dim(p)
		switch {
		case s.All:
			return allStrings()
		case !s.Neg:
			for k := range s.Items {
				pos[k] = true
			}
		case neg == nil:
			neg = make(map[string]bool, len(s.Items))
			for k := range s.Items {
				neg[k] = true
			}
		default:
			for k := range neg {
				if !s.Items[k] {
					delete(neg, k)
				}
			}
		}
	}
	if neg == nil {
		return StrSet{Items: pos}
	}
	for k := range pos {
		delete(neg, k)
	}
	return StrSet{Neg: true, Items: neg}
}

// intersectStrs intersects one dimension of several predicates: the
// values every positive set lists and no negative set excludes, or, with
// no positive set, all but the values some negative set excludes.
func intersectStrs(ps []*Pred, dim func(*Pred) StrSet) StrSet {
	var pos map[string]bool // nil: no positive set yet
	neg := map[string]bool{}
	all := true
	for _, p := range ps {
		s := dim(p)
		switch {
		case s.All:
			continue
		case s.Neg:
			for k := range s.Items {
				neg[k] = true
			}
		case pos == nil:
			pos = make(map[string]bool, len(s.Items))
			for k := range s.Items {
				pos[k] = true
			}
		default:
			for k := range pos {
				if !s.Items[k] {
					delete(pos, k)
				}
			}
		}
		all = false
	}
	switch {
	case all:
		return allStrings()
	case pos == nil:
		return StrSet{Neg: true, Items: neg}
	}
	for k := range neg {
		delete(pos, k)
	}
	return StrSet{Items: pos}
}

func unionPaths(ps []*Pred) PathSet {
	out := pathSet()
	for _, p := range ps {
		if p.Path.All {
			return allPaths()
		}
		for e := range p.Path.Exact {
			out.Exact[e] = true
		}
		for e := range p.Path.Prefix {
			out.Prefix[e] = true
		}
		for e := range p.Path.Suffix {
			out.Suffix[e] = true
		}
	}
	return out
}

// unionInts unites interval sets by sorting all their intervals once.
func unionInts(ps []*Pred, dim func(*Pred) IntSet) IntSet {
	var ivs []Interval
	for _, p := range ps {
		s := dim(p)
		if s.All {
			return allInts()
		}
		ivs = append(ivs, s.Ivs...)
	}
	return normalizeInts(ivs)
}

// intersectInts intersects interval sets as the complement of the union
// of their complements.
func intersectInts(ps []*Pred, dim func(*Pred) IntSet) IntSet {
	var ivs []Interval
	all := true
	for _, p := range ps {
		if s := dim(p); !s.All {
			ivs = append(ivs, s.complement().list()...)
			all = false
		}
	}
	if all {
		return allInts()
	}
	return normalizeInts(ivs).complement()
}

// Wildcard reports whether the predicate leaves dimension d unchecked.
func (p *Pred) Wildcard(d Dim) bool {
	switch d {
	case DimComm:
		return p.Comm.All
	case DimParentComm:
		return p.ParentComm.All
	case DimPath:
		return p.Path.All
	case DimUID, DimLocalPort, DimRemotePort:
		return p.Range(d).All
	case DimContainer:
		return p.Container == AllTasks
	}
	return p.Features.all()
}

// IsTrue reports whether the predicate checks nothing.
func (p *Pred) IsTrue() bool {
	if p.False {
		return false
	}
	for d := Dim(0); d < NumDims; d++ {
		if !p.Wildcard(d) {
			return false
		}
	}
	return true
}

// String renders the predicate, dimension by dimension.
func (p *Pred) String() string {
	if p.False {
		return "false"
	}
	var parts []string
	if !p.Comm.All {
		parts = append(parts, "comm "+p.Comm.String())
	}
	if !p.ParentComm.All {
		parts = append(parts, "parent_comm "+p.ParentComm.String())
	}
	if !p.Path.All {
		parts = append(parts, "path "+p.Path.String())
	}
	if !p.Features.all() {
		parts = append(parts, "features "+describeFeatures(p.Features))
	}
	for _, d := range RangeDims {
		if r := p.Range(d); !r.All {
			parts = append(parts, d.String()+" "+r.String())
		}
	}
	if p.Container != AllTasks {
		parts = append(parts, "container "+p.Container.String())
	}
	if len(parts) == 0 {
		return "true"
	}
	return strings.Join(parts, " and ")
}

var featureNames = [...]string{"read", "write", "trunc", "creat", "append", "excl", "created", "failed", "dotdot", "dir"}

// describeFeatures names the bits the set fixes: "write failed=0".
func describeFeatures(f FeatureSet) string {
	var parts []string
	for b := 0; b < NumFeatureBits; b++ {
		with := f.intersect(featuresWhere(func(v int) bool { return v&(1<<b) != 0 }))
		without := f.intersect(featuresWhere(func(v int) bool { return v&(1<<b) == 0 }))
		switch {
		case without.empty():
			parts = append(parts, featureNames[b])
		case with.empty():
			parts = append(parts, "!"+featureNames[b])
		}
	}
	if len(parts) == 0 {
		return "(" + itoa(f.count()) + " vectors)"
	}
	return strings.Join(parts, ",")
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
