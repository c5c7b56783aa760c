package compiler

import (
	"strconv"
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
)

// View is what the kernel filter knows of an event. A value that is not
// known satisfies every class in its dimension.
type View struct {
	Syscall     string
	Comm        string
	CommKnown   bool
	Parent      string
	ParentKnown bool
	// Path is the path argument of an open, when it is absolute and
	// normalised (PathKnown); the kernel cannot judge other paths.
	Path      string
	PathKnown bool
	// Features is the feature vector; bits set in Unknown are not known.
	Features int
	Unknown  int
	UID      uint64
	UIDKnown bool
	// Ports of the socket; the remote one is known when connected.
	LocalPort, RemotePort           uint64
	LocalPortKnown, RemotePortKnown bool
	// InContainer tells whether the task is in a container, when the
	// kernel knew (ContainerKnown: its cgroups were classified).
	InContainer, ContainerKnown bool
}

// PathNormalized reports whether the kernel can match p as it is:
// absolute, no empty, "." or ".." component, no trailing "/", and short
// enough for the kernel to scan whole (PathKeyMax bytes).
func PathNormalized(p string) bool {
	if len(p) == 0 || p[0] != '/' || len(p) > PathKeyMax {
		return false
	}
	if p == "/" {
		return true
	}
	if strings.HasSuffix(p, "/") {
		return false
	}
	for _, c := range strings.Split(p[1:], "/") {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}

// Emulate computes the classes the kernel filter lets through for an
// event it sees as v: a pure-Go model of the kernel program's checks.
func (e *Encoding) Emulate(v View) Mask {
	m, ok := e.Syscalls[v.Syscall]
	if !ok {
		return Mask{}
	}
	m = m.And(e.strDim(DimComm, v.Comm, v.CommKnown, e.Comm))
	m = m.And(e.strDim(DimParentComm, v.Parent, v.ParentKnown, e.ParentComm))
	if PathFields[v.Syscall] != nil && v.PathKnown {
		listed := lookupLPM(e.Paths, v.Path+"\x00").Or(lookupLPM(e.Suffixes, reverse(v.Path)))
		m = m.And(e.Wildcard[DimPath].Or(listed.And(e.Positive[DimPath])))
	}
	m = m.And(e.features(v.Features, v.Unknown))
	for i, r := range []struct {
		v     uint64
		known bool
	}{{v.UID, v.UIDKnown}, {v.LocalPort, v.LocalPortKnown}, {v.RemotePort, v.RemotePortKnown}} {
		if d := RangeDims[i]; r.known {
			m = m.And(e.Wildcard[d].Or(lookupRange(e.Ranges[i], r.v).And(e.Positive[d])))
		}
	}
	if v.ContainerKnown {
		listed := e.Container[0]
		if v.InContainer {
			listed = e.Container[1]
		}
		m = m.And(e.Wildcard[DimContainer].Or(listed.And(e.Positive[DimContainer])))
	}
	return m
}

func (e *Encoding) strDim(d Dim, val string, known bool, listed map[string]Mask) Mask {
	if !known {
		return allMask()
	}
	l := listed[val]
	return e.Wildcard[d].Or(l.And(e.Positive[d])).Or(e.Negative[d].AndNot(l))
}

func allMask() Mask {
	var m Mask
	for i := range m {
		m[i] = ^uint64(0)
	}
	return m
}

// lookupLPM is an LPM trie lookup: the mask of the longest key that
// starts s, within the kernel's key length.
func lookupLPM(entries []PathEntry, s string) Mask {
	if len(s) > PathKeyMax+1 {
		s = s[:PathKeyMax+1]
	}
	best, bestLen := Mask{}, -1
	for _, pe := range entries {
		if len(pe.Key) > bestLen && strings.HasPrefix(s, pe.Key) {
			best, bestLen = pe.Mask, len(pe.Key)
		}
	}
	return best
}

// features ORs the masks of every vector the known bits allow; when no
// bit is known the dimension passes every class.
func (e *Encoding) features(vec, unknown int) Mask {
	if unknown == NumFeatureVectors-1 {
		return allMask()
	}
	var m Mask
	base := vec &^ unknown
	// Enumerate the subsets of the unknown bits.
	for sub := unknown; ; sub = (sub - 1) & unknown {
		m = m.Or(e.Features[base|sub])
		if sub == 0 {
			break
		}
	}
	return m
}

// ViewOf builds the kernel's view of a replay event, conservatively: a
// value is known only when every field the rules could compare for it is
// present and they agree, so that the emulator never knows more than the
// event says.
func ViewOf(ev *policy.Event) View {
	v := View{Unknown: NumFeatureVectors - 1}
	v.Syscall, _ = str(ev, "evt.type")
	v.Comm, v.CommKnown = agree(ev, "proc.name")
	v.CommKnown = v.CommKnown && len(v.Comm) <= CommLen
	v.Parent, v.ParentKnown = agree(ev, "proc.pname")
	v.ParentKnown = v.ParentKnown && len(v.Parent) <= CommLen
	if u, ok := str(ev, "user.uid"); ok {
		if n, err := strconv.ParseInt(u, 10, 64); err == nil && n >= 0 && n <= UIDMax {
			v.UID, v.UIDKnown = uint64(n), true
		}
	}
	if id, ok := str(ev, "container.id"); ok {
		v.InContainer, v.ContainerKnown = id != policy.Host, true
	}
	if roles, ok := PortFields[v.Syscall]; ok {
		v.LocalPort, v.LocalPortKnown = allAgreeNumber(ev, roles[0])
		v.RemotePort, v.RemotePortKnown = allAgreeNumber(ev, roles[1])
	}
	open := OpenSyscalls[v.Syscall]
	if fields := PathFields[v.Syscall]; fields != nil {
		names := make([]string, 0, len(fields))
		for f := range fields {
			names = append(names, f)
		}
		v.Path, v.PathKnown = agree(ev, names...)
		v.PathKnown = v.PathKnown && PathNormalized(v.Path)
		// fd.directory is projected as a prefix of the path: it must be
		// the path's directory.
		if dir, ok := str(ev, "fd.directory"); ok && fields["fd.name"] && dir != policy.FDDirectory(v.Path) {
			v.PathKnown = false
		}
		if f, ok := str(ev, "fd.filename"); ok && fields["fd.name"] && f != policy.FDFilename(v.Path) {
			v.PathKnown = false
		}
	}
	// The feature bits are known together or not at all: a rule may test
	// the same fact through several fields, and a negated test on a
	// missing field is true, which per-bit knowledge cannot express. The
	// kernel always knows them; only the raw path's "../" can be unknown
	// there (an unreadable path), and no rule can contradict itself on it.
	failed, ok := failedOf(ev, open)
	if !ok {
		return v
	}
	vec := 0
	if failed {
		vec |= FeatFailed
	}
	if !open {
		v.Features, v.Unknown = vec, 0
		return v
	}
	unknown := 0
	if OpenFlagSyscalls[v.Syscall] {
		if !openFlagFeatures(ev, &vec) {
			return v
		}
	} else {
		// creat: the kernel takes creat's own flags; userspace shows
		// none of them, nor whether the file was created.
		vec |= FeatWrite | FeatTrunc | FeatCreat
		unknown = FeatCreated
	}
	tc, ok := str(ev, "fd.typechar")
	if !ok || (tc != "f" && tc != "d") {
		return v
	}
	if tc == "d" {
		vec |= FeatDir
	}
	v.Unknown = unknown | FeatDotDot
	if raw, ok := str(ev, "fd.nameraw"); ok {
		v.Unknown = unknown
		if strings.Contains(raw, "../") {
			vec |= FeatDotDot
		}
	}
	v.Features = vec
	return v
}

// openFlagFeatures adds to vec the feature bits evt.arg.flags and
// evt.is_open_read/write tell of an open; false when they are missing or
// disagree.
func openFlagFeatures(ev *policy.Event, vec *int) bool {
	flags, ok := str(ev, "evt.arg.flags")
	if !ok {
		return false
	}
	read, write := policy.OpenAccess(flags)
	// Rules test the flags with "contains", a substring test, and the
	// access mode with evt.is_open_*: both must tell the same.
	if strings.Contains(flags, "O_RDONLY") != (read && !write) || strings.Contains(flags, "O_WRONLY") != (write && !read) ||
		strings.Contains(flags, "O_RDWR") != (read && write) {
		return false
	}
	if r, ok := boolField(ev, "evt.is_open_read"); !ok || r != read {
		return false
	}
	if w, ok := boolField(ev, "evt.is_open_write"); !ok || w != write {
		return false
	}
	if read {
		*vec |= FeatRead
	}
	if write {
		*vec |= FeatWrite
	}
	for _, f := range []struct {
		bit  int
		name string
	}{{FeatTrunc, "O_TRUNC"}, {FeatCreat, "O_CREAT"}, {FeatAppend, "O_APPEND"}, {FeatExcl, "O_EXCL"}, {FeatCreated, "O_F_CREATED"}} {
		if strings.Contains(flags, f.name) {
			*vec |= f.bit
		}
	}
	return true
}

// failedOf decides whether the syscall failed. Every field that tells
// must be present and agree: a rule may test any of them, and a test on a
// missing one behaves differently (a negated test is true).
func failedOf(ev *policy.Event, open bool) (failed, ok bool) {
	var votes []bool
	s, ok := str(ev, "evt.rawres")
	if !ok {
		return false, false
	}
	n, err := parseInt64(s)
	if err != nil {
		return false, false
	}
	votes = append(votes, n < 0)
	if s, ok = str(ev, "evt.res"); !ok {
		return false, false
	}
	if _, known := policy.ResultNumber(s); !known {
		return false, false
	}
	votes = append(votes, s != "SUCCESS")
	b, ok := boolField(ev, "evt.failed")
	if !ok {
		return false, false
	}
	votes = append(votes, b)
	if open {
		s, ok := str(ev, "fd.num")
		if !ok {
			return false, false
		}
		n, err := parseInt64(s)
		if err != nil || (n < 0 && n != -1) {
			return false, false
		}
		votes = append(votes, n < 0)
	}
	for _, v := range votes[1:] {
		if v != votes[0] {
			return false, false
		}
	}
	return votes[0], true
}

func fieldRef(name string) *policy.FieldRef {
	base, arg, hasArg := name, "", false
	if i := strings.IndexByte(name, '['); i > 0 {
		base, arg, hasArg = name[:i], strings.TrimSuffix(name[i+1:], "]"), true
	}
	f := policy.LookupField(base)
	if f == nil {
		f, arg = policy.SplitDottedArg(base)
		hasArg = true
	}
	ref := &policy.FieldRef{Field: f, Arg: arg, HasArg: hasArg, Index: -1}
	if hasArg {
		if n, err := parseInt64(arg); err == nil {
			ref.Index = int(n)
		}
	}
	return ref
}

// str returns a single-valued field as text.
func str(ev *policy.Event, name string) (string, bool) {
	vals, ok := ev.Strings(fieldRef(name))
	if !ok || len(vals) != 1 {
		return "", false
	}
	return vals[0], true
}

func boolField(ev *policy.Event, name string) (bool, bool) {
	s, ok := str(ev, name)
	if !ok || (s != "true" && s != "false") {
		return false, false
	}
	return s == "true", true
}

// agree returns the common value of the fields that are present; ok is
// false when none is, or two differ.
func agree(ev *policy.Event, names ...string) (string, bool) {
	val, found := "", false
	for _, n := range names {
		s, ok := str(ev, n)
		if !ok {
			if vals, present := ev.Strings(fieldRef(n)); present && len(vals) != 1 {
				return "", false
			}
			continue
		}
		if found && s != val {
			return "", false
		}
		val, found = s, true
	}
	return val, found
}

func parseInt64(s string) (int64, error) { return strconv.ParseInt(strings.TrimSpace(s), 10, 64) }

// allAgreeNumber returns the common value of fields that must all be
// present: port comparisons are projected with their negations, and a
// negated comparison on a missing field is true.
func allAgreeNumber(ev *policy.Event, names []string) (uint64, bool) {
	var val string
	for i, n := range names {
		s, ok := str(ev, n)
		if !ok || (i > 0 && s != val) {
			return 0, false
		}
		val = s
	}
	n, err := strconv.ParseInt(val, 10, 64)
	if err != nil || n < 0 || n > 65535 {
		return 0, false
	}
	return uint64(n), true
}
