package compiler

import (
	"math"
	"strconv"
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/syscalls"
)

// The syscall facts the projections need, derived from the syscall
// table (package syscalls): which syscalls the features' open bits apply
// to, which show open flags in userspace, which fields hold the path the
// path dimension checks and which the ports of a socket.
var (
	// OpenSyscalls are the syscalls the kernel judges open flags of (the
	// opens and creat): the open bits of the features dimension apply to
	// them only.
	OpenSyscalls = rowSet(func(s *syscalls.Syscall) bool { return s.Opens() })
	// OpenFlagSyscalls are those whose open flags userspace shows, as
	// Falco does, in evt.arg.flags and evt.is_open_read/write: creat has
	// no flags argument in Falco and is never an open for read or write
	// there, so comparisons on those fields are not projected for it.
	OpenFlagSyscalls = rowSet(func(s *syscalls.Syscall) bool { return s.OpenFlags() })
	// PathFields maps each syscall whose first path the kernel's path
	// dimension checks to the fields that hold that path (made absolute,
	// which leaves an absolute, normalised path as it is).
	PathFields = func() map[string]map[string]bool {
		m := map[string]map[string]bool{}
		for i := range syscalls.Table {
			if f := syscalls.Table[i].PathFields(); f != nil {
				m[syscalls.Table[i].Name] = f
			}
		}
		return m
	}()
	// PortFields maps each socket syscall to the fields that hold the
	// local port ([0]) and the remote port ([1]) of its socket, by the
	// process's role.
	PortFields = func() map[string][2][]string {
		m := map[string][2][]string{}
		for i := range syscalls.Table {
			if f := syscalls.Table[i].PortFields(); f != nil {
				m[syscalls.Table[i].Name] = *f
			}
		}
		return m
	}()
)

// rowSet is the set of the syscall table's rows that keep accepts.
func rowSet(keep func(*syscalls.Syscall) bool) map[string]bool {
	m := map[string]bool{}
	for i := range syscalls.Table {
		if keep(&syscalls.Table[i]) {
			m[syscalls.Table[i].Name] = true
		}
	}
	return m
}

// Project returns a kernel predicate implied by x for events of the given
// syscall: every event that satisfies x satisfies the predicate. x must
// be normalised and specialised for the syscall. Comparisons no dimension
// can check become true; a conjunction intersects its operands'
// predicates and a disjunction unites them, dimension by dimension.
func Project(x policy.Expr, syscall string) *Pred {
	return project(x, syscall, map[string]*Pred{})
}

// project is Project with the projections of the comparisons met so far,
// by text: a macro written out many times repeats its comparisons, and
// each would otherwise make a predicate of its own.
func project(x policy.Expr, syscall string, atoms map[string]*Pred) *Pred {
	switch x := x.(type) {
	case *policy.Const:
		if x.Value {
			return Truth()
		}
		return falsePred()
	case *policy.And:
		ps := make([]*Pred, 0, len(x.Exprs))
		for _, s := range x.Exprs {
			p := project(s, syscall, atoms)
			if p.False {
				return p
			}
			ps = append(ps, p)
		}
		return andAll(ps)
	case *policy.Or:
		ps := make([]*Pred, 0, len(x.Exprs))
		for _, s := range x.Exprs {
			ps = append(ps, project(s, syscall, atoms))
		}
		return orAll(ps)
	case *policy.Not:
		if c, ok := x.X.(*policy.Compare); ok {
			return memoAtom(c, true, syscall, atoms)
		}
		return Truth()
	case *policy.Compare:
		return memoAtom(x, false, syscall, atoms)
	}
	return Truth()
}

// memoAtom is atom, once per comparison text. The predicates are shared:
// andAll and orAll never change their operands.
func memoAtom(c *policy.Compare, neg bool, syscall string, atoms map[string]*Pred) *Pred {
	k := c.String()
	if neg {
		k = "!" + k
	}
	if p, ok := atoms[k]; ok {
		return p
	}
	p := atom(c, neg, syscall)
	atoms[k] = p
	return p
}

// Exact reports whether the kernel predicate Project gives for x is
// exactly x for that syscall, not only implied by it: then the kernel
// decides the rule alone. x must be normalised and specialised.
func Exact(x policy.Expr, syscall string) bool {
	_, exact, _ := exactness(x, syscall)
	return exact
}

// exactness returns whether the projection of x is exact and the set of
// dimensions it constrains (as a bit set).
func exactness(x policy.Expr, syscall string) (bool, bool, uint) {
	switch x := x.(type) {
	case *policy.Const:
		return true, true, 0
	case *policy.And:
		var dims uint
		for _, s := range x.Exprs {
			_, ex, d := exactness(s, syscall)
			if !ex {
				return false, false, 0
			}
			dims |= d
		}
		return true, true, dims
	case *policy.Or:
		// A union is exact when every operand constrains the same single
		// dimension: the union of sets in one dimension is exact.
		var dims uint
		for _, s := range x.Exprs {
			_, ex, d := exactness(s, syscall)
			if !ex {
				return false, false, 0
			}
			dims |= d
		}
		return true, dims&(dims-1) == 0, dims
	case *policy.Not:
		c, ok := x.X.(*policy.Compare)
		if !ok {
			return false, false, 0
		}
		return atomExact(c, true, syscall)
	case *policy.Compare:
		return atomExact(x, false, syscall)
	}
	return false, false, 0
}

func atomExact(c *policy.Compare, neg bool, syscall string) (bool, bool, uint) {
	if !plain(c) {
		return false, false, 0
	}
	name := fieldName(&c.Left)
	switch name {
	case "proc.name":
		return true, c.Op == policy.OpEq || c.Op == policy.OpIn || c.Op == policy.OpNe, 1 << DimComm
	case "proc.pname":
		return true, c.Op == policy.OpEq || c.Op == policy.OpIn || c.Op == policy.OpNe, 1 << DimParentComm
	case "user.uid":
		_, ok := intAtom(c, UIDMax)
		return true, ok, 1 << DimUID
	case "container.id":
		_, exact := containerValues(c)
		return true, exact, 1 << DimContainer
	}
	if roles, ok := PortFields[syscall]; ok {
		for i, d := range []Dim{DimLocalPort, DimRemotePort} {
			for _, f := range roles[i] {
				if f == name {
					_, ok := intAtom(c, 65535)
					return true, ok, 1 << d
				}
			}
		}
	}
	if !neg && PathFields[syscall][name] {
		return true, c.Op == policy.OpEq || c.Op == policy.OpIn || c.Op == policy.OpStartsWith, 1 << DimPath
	}
	if _, exact, ok := featureAtom(c, name, syscall); ok {
		return true, exact, 1 << DimFeatures
	}
	return false, false, 0
}

// plain reports whether a comparison is on a field itself, against
// literals: no transformer, no right-hand field, no modifier.
func plain(c *policy.Compare) bool {
	return len(c.Left.Transformers) == 0 && c.Right == nil && c.Modifier == policy.ModNone
}

// atom projects one comparison, negated or not.
func atom(c *policy.Compare, neg bool, syscall string) *Pred {
	if !plain(c) {
		return Truth()
	}
	name := fieldName(&c.Left)
	switch name {
	case "proc.name":
		return commAtom(c, neg, func(p *Pred, s StrSet) { p.Comm = s })
	case "proc.pname":
		return commAtom(c, neg, func(p *Pred, s StrSet) { p.ParentComm = s })
	}
	switch name {
	case "user.uid":
		return uidPred(c, neg)
	case "container.id":
		return containerPred(c, neg)
	}
	if roles, ok := PortFields[syscall]; ok {
		for i, d := range []Dim{DimLocalPort, DimRemotePort} {
			for _, f := range roles[i] {
				if f == name {
					return portPred(c, neg, d)
				}
			}
		}
	}
	if fields := PathFields[syscall]; fields != nil {
		switch {
		case fields[name]:
			if !neg {
				return pathAtom(c)
			}
			return Truth()
		case name == "fd.directory" && fields["fd.name"]:
			if !neg {
				return directoryAtom(c)
			}
			return Truth()
		case name == "fd.filename" && fields["fd.name"]:
			if !neg {
				return filenameAtom(c)
			}
			return Truth()
		}
	}
	if f, exact, ok := featureAtom(c, name, syscall); ok {
		if neg {
			if !exact {
				// The complement of a wider set would be too narrow.
				return Truth()
			}
			f = f.complement()
		}
		p := Truth()
		p.Features = f
		return p
	}
	return Truth()
}

// containerPred projects a comparison on container.id.
func containerPred(c *policy.Compare, neg bool) *Pred {
	s, exact := containerValues(c)
	if neg {
		if !exact {
			return Truth() // not one container: the host, or another one
		}
		s = AllTasks &^ s
	}
	p := Truth()
	p.Container = s
	return p
}

// containerValues returns the tasks whose container.id can satisfy c, and
// whether exactly those do: "host" is every task outside containers, any
// other id some tasks in a container.
func containerValues(c *policy.Compare) (TaskSet, bool) {
	switch c.Op {
	case policy.OpEq, policy.OpIn, policy.OpIntersects:
		var s TaskSet
		exact := true
		for _, v := range c.Values {
			if v == policy.Host {
				s |= HostTasks
			} else {
				s |= ContainerTasks
				exact = false
			}
		}
		return s, exact
	case policy.OpNe:
		if c.Values[0] == policy.Host {
			return ContainerTasks, true
		}
	}
	return AllTasks, false
}

// uidPred projects a comparison on user.uid.
func uidPred(c *policy.Compare, neg bool) *Pred {
	s, ok := intAtom(c, UIDMax)
	if !ok {
		return Truth() // a value no uid can equal: leave it to userspace
	}
	if neg {
		s = s.complement()
	}
	p := Truth()
	p.UID = s
	return p
}

// portPred projects a comparison on a port field onto dimension d.
func portPred(c *policy.Compare, neg bool, d Dim) *Pred {
	s, ok := intAtom(c, 65535)
	if !ok {
		return Truth()
	}
	if neg {
		s = s.complement()
	}
	p := Truth()
	if d == DimLocalPort {
		p.LocalPort = s
	} else {
		p.RemotePort = s
	}
	return p
}

// intAtom projects a numeric comparison whose values are decimal numbers
// in [0, max] onto an interval set.
func intAtom(c *policy.Compare, max int64) (IntSet, bool) {
	vals := make([]uint64, 0, len(c.Values))
	for _, v := range c.Values {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 || n > max {
			return IntSet{}, false
		}
		vals = append(vals, uint64(n))
	}
	op := c.Op.String()
	if c.Op == policy.OpIntersects {
		op = "in"
	}
	return uidAtom(op, vals)
}

// commAtom projects a comparison on a comm: =, in, != and their negations.
func commAtom(c *policy.Compare, neg bool, set func(*Pred, StrSet)) *Pred {
	var s StrSet
	switch c.Op {
	case policy.OpEq, policy.OpIn, policy.OpIntersects:
		s = strSet(neg, comms(c.Values)...)
	case policy.OpNe:
		s = strSet(!neg, comms(c.Values)...)
	default:
		return Truth()
	}
	p := Truth()
	set(p, s)
	return p
}

// comms keeps the values a comm can take: at most CommLen bytes, no NUL.
func comms(vals []string) []string {
	var out []string
	for _, v := range vals {
		if len(v) <= CommLen && !strings.ContainsRune(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

// pathAtom projects a positive comparison on the opened path.
func pathAtom(c *policy.Compare) *Pred {
	s := pathSet()
	switch c.Op {
	case policy.OpEq, policy.OpIn, policy.OpIntersects:
		for _, v := range c.Values {
			s.Exact[v] = true
		}
	case policy.OpStartsWith:
		if c.Values[0] == "" {
			return Truth()
		}
		s.Prefix[c.Values[0]] = true
	case policy.OpEndsWith:
		if c.Values[0] == "" {
			return Truth()
		}
		s.Suffix[c.Values[0]] = true
	case policy.OpRegex:
		// A full-match regex starting with literal text implies the path
		// starts with it.
		prefix := regexLiteralPrefix(c.Values[0])
		if prefix == "" {
			return Truth()
		}
		s.Prefix[prefix] = true
	case policy.OpGlob:
		// Every match starts with the pattern's literal head (up to the
		// first '*', '?', '[' or '\'); a pattern without any is an exact
		// path.
		v := c.Values[0]
		i := strings.IndexAny(v, `*?[\`)
		switch {
		case i < 0:
			s.Exact[v] = true
		case i == 0:
			return Truth()
		default:
			s.Prefix[v[:i]] = true
		}
	case policy.OpPmatch:
		for _, v := range c.Values {
			if policy.HasGlobMeta(v) {
				return Truth()
			}
			n := normalizeComponents(v)
			if n == "/" {
				return Truth()
			}
			s.Exact[n] = true
			s.Prefix[n+"/"] = true
		}
	default:
		return Truth()
	}
	p := Truth()
	p.Path = s
	return p
}

// directoryAtom projects fd.directory = D: the path starts with D/.
func directoryAtom(c *policy.Compare) *Pred {
	if c.Op != policy.OpEq && c.Op != policy.OpIn && c.Op != policy.OpIntersects {
		return Truth()
	}
	s := pathSet()
	for _, d := range c.Values {
		if d == "/" || d == "" || !strings.HasPrefix(d, "/") {
			return Truth()
		}
		s.Prefix[strings.TrimSuffix(d, "/")+"/"] = true
	}
	p := Truth()
	p.Path = s
	return p
}

// regexLiteralPrefix returns the literal text every full match of the
// POSIX regex re starts with, or "" when it cannot tell: a top-level
// alternation, a group or class first, a flag, or a quantifier on the last
// literal character (which may then be absent) end or void the prefix.
func regexLiteralPrefix(re string) string {
	depth, inClass := 0, false
	for i := 0; i < len(re); i++ {
		switch c := re[i]; {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			return "" // a top-level alternation: no common prefix known
		}
	}
	re = strings.TrimPrefix(re, "^")
	var b strings.Builder
	for i := 0; i < len(re); i++ {
		c := re[i]
		lit, n := c, 1
		if c == '\\' {
			if i+1 >= len(re) {
				break
			}
			lit, n = re[i+1], 2
			if strings.IndexByte(".[]()*+?{}|^$\\/-", lit) < 0 {
				break // \d, \w and the like: not a literal
			}
		} else if strings.IndexByte(".[]()*+?{}|^$", c) >= 0 {
			break
		}
		if next := i + n; next < len(re) && strings.IndexByte("*?{+", re[next]) >= 0 {
			// The character is quantified: "+" keeps one of it, the
			// others may leave none.
			if re[next] == '+' {
				b.WriteByte(lit)
			}
			break
		}
		b.WriteByte(lit)
		i += n - 1
	}
	return b.String()
}

// filenameAtom projects fd.filename = F: the path ends with /F.
func filenameAtom(c *policy.Compare) *Pred {
	if c.Op != policy.OpEq && c.Op != policy.OpIn && c.Op != policy.OpIntersects {
		return Truth()
	}
	s := pathSet()
	for _, f := range c.Values {
		if f == "" || strings.Contains(f, "/") {
			return Truth()
		}
		s.Suffix["/"+f] = true
	}
	p := Truth()
	p.Path = s
	return p
}

// normalizeComponents joins the non-empty components of p under "/".
func normalizeComponents(p string) string {
	var comps []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			comps = append(comps, c)
		}
	}
	return "/" + strings.Join(comps, "/")
}

// featureAtom projects a comparison on a field the feature bits decide.
// open tells whether the syscall is an open, for which the open bits
// mean something. exact is true when the comparison holds exactly for the
// returned vectors, not only within them, so that its negation can be
// projected as the complement.
func featureAtom(c *policy.Compare, name string, syscall string) (f FeatureSet, exact, ok bool) {
	open, flagsShown := OpenSyscalls[syscall], OpenFlagSyscalls[syscall]
	bit := func(b int, want bool) FeatureSet {
		return featuresWhere(func(v int) bool { return (v&b != 0) == want })
	}
	switch name {
	case "evt.is_open_read", "evt.is_open_write":
		b := FeatRead
		if name == "evt.is_open_write" {
			b = FeatWrite
		}
		want, ok := boolCompare(c)
		if !ok || !flagsShown {
			return FeatureSet{}, false, false
		}
		return bit(b, want), true, true
	case "evt.arg.flags":
		if !flagsShown || c.Op != policy.OpContains {
			return FeatureSet{}, false, false
		}
		switch c.Values[0] {
		case "O_TRUNC":
			return bit(FeatTrunc, true), true, true
		case "O_CREAT":
			return bit(FeatCreat, true), true, true
		case "O_APPEND":
			return bit(FeatAppend, true), true, true
		case "O_EXCL":
			return bit(FeatExcl, true), true, true
		case "O_F_CREATED":
			return bit(FeatCreated, true), true, true
		case "O_RDONLY":
			return bit(FeatRead, true).intersect(bit(FeatWrite, false)), true, true
		case "O_WRONLY":
			return bit(FeatWrite, true).intersect(bit(FeatRead, false)), true, true
		case "O_RDWR":
			return bit(FeatWrite, true).intersect(bit(FeatRead, true)), true, true
		}
	case "fd.nameraw":
		if open && c.Op == policy.OpContains && c.Values[0] == "../" {
			return bit(FeatDotDot, true), true, true
		}
	case "fd.typechar":
		// Only =: "!= f" also holds for types other than f and d.
		if open && c.Op == policy.OpEq && (c.Values[0] == "d" || c.Values[0] == "f") {
			return bit(FeatDir, c.Values[0] == "d"), true, true
		}
	case "evt.failed":
		if want, ok := boolCompare(c); ok {
			return bit(FeatFailed, want), true, true
		}
	case "evt.res":
		return resAtom(c)
	case "evt.rawres":
		return numAtom(c, false)
	case "fd.num":
		if open {
			return numAtom(c, true)
		}
	}
	return FeatureSet{}, false, false
}

// boolCompare reads field = true/false and != as the value tested for.
func boolCompare(c *policy.Compare) (bool, bool) {
	if (c.Op != policy.OpEq && c.Op != policy.OpNe) || len(c.Values) != 1 {
		return false, false
	}
	v, err := strconv.ParseBool(c.Values[0])
	if err != nil || (c.Values[0] != "true" && c.Values[0] != "false") {
		return false, false
	}
	if c.Op == policy.OpNe {
		v = !v
	}
	return v, true
}

// resAtom projects evt.res: SUCCESS or an errno name.
func resAtom(c *policy.Compare) (FeatureSet, bool, bool) {
	success := featuresWhere(func(v int) bool { return v&FeatFailed == 0 })
	failure := success.complement()
	switch c.Op {
	case policy.OpEq, policy.OpIn, policy.OpIntersects:
		var f FeatureSet
		exact := true
		for _, v := range c.Values {
			if v == "SUCCESS" {
				f = f.union(success)
			} else {
				f = f.union(failure)
				exact = false // one errno among many
			}
		}
		return f, exact, true
	case policy.OpNe:
		if c.Values[0] == "SUCCESS" {
			return failure, true, true
		}
	case policy.OpStartsWith:
		switch v := c.Values[0]; {
		case v == "":
			return allFeatures(), true, true
		case strings.HasPrefix("SUCCESS", v):
			return success, v == "S" || v == "SUCCESS" || strings.HasPrefix("SUCCESS", v), true
		case v == "E":
			return failure, true, true
		case strings.HasPrefix(v, "E"):
			return failure, false, true
		}
		return FeatureSet{}, true, true
	}
	return FeatureSet{}, false, false
}

// numAtom projects a comparison of the result (evt.rawres, or fd.num of
// an open: the fd, or -1 on failure) onto success and failure. It is
// exact when, on each side, the comparison holds for all values or none.
func numAtom(c *policy.Compare, fdnum bool) (FeatureSet, bool, bool) {
	failMin := int64(math.MinInt64)
	if fdnum {
		failMin = -1
	}
	ranges := [2][2]int64{{0, math.MaxInt64}, {failMin, -1}} // success, failure
	var some, all [2]bool
	for r := range ranges {
		all[r] = c.Op != policy.OpIn && c.Op != policy.OpIntersects
	}
	for _, s := range c.Values {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return FeatureSet{}, false, false
		}
		for r, rg := range ranges {
			sm, al := numRange(c.Op, n, rg[0], rg[1])
			if c.Op == policy.OpIn || c.Op == policy.OpIntersects {
				some[r] = some[r] || sm
				all[r] = all[r] || al
			} else {
				some[r], all[r] = sm, al
			}
		}
	}
	exact := some[0] == all[0] && some[1] == all[1]
	return featuresWhere(func(v int) bool {
		if v&FeatFailed != 0 {
			return some[1]
		}
		return some[0]
	}), exact, true
}

// numRange tells whether "x op n" holds for some x in [lo, hi], and for
// all of them.
func numRange(op policy.Op, n, lo, hi int64) (some, all bool) {
	switch op {
	case policy.OpEq, policy.OpIn, policy.OpIntersects:
		return lo <= n && n <= hi, lo == hi && lo == n
	case policy.OpNe:
		return !(lo == hi && lo == n), !(lo <= n && n <= hi)
	case policy.OpLt:
		return lo < n, hi < n
	case policy.OpLe:
		return lo <= n, hi <= n
	case policy.OpGt:
		return hi > n, lo > n
	case policy.OpGe:
		return hi >= n, lo >= n
	}
	return true, false
}

// fieldName is the one spelling of the value a reference reads (its key's:
// proc.pname for proc.aname[1], evt.arg.name for evt.arg[name]), which
// the projections below are written in.
func fieldName(ref *policy.FieldRef) string {
	if k, ok := policy.KeyOfRef(ref); ok {
		return k.Name()
	}
	return ref.Name()
}
