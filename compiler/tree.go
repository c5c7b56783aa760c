package compiler

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/peregrine-sec/peregrine/policy"
)

// Tree evaluates a ruleset with conditions compiled to Go closures: every
// comparison is specialised at build time on its field's type, its
// operator and its literals, field keys are resolved, and the
// sub-expressions that several rules share are evaluated at most once per
// event. Its semantics are the reference evaluator's (policy.Evaluator).
//
// A Tree is immutable and safe for concurrent use; the state of one match
// (the memo of shared sub-expressions, scratch buffers) lives in a
// Matcher, one per goroutine, as a prepared query is kept apart from its
// evaluation context.
type Tree struct {
	rules  []*policy.Rule
	conds  []treePred
	byType map[string][]int32 // event type -> rules to visit, in load order
	any    []int32            // rules with no event-type restriction
	// typeBits and anyBits are byType and any as bitmaps over rule
	// numbers: Match with candidates walks their intersection.
	typeBits map[string][]uint64
	anyBits  []uint64
	slots    int       // memo slots of shared sub-expressions
	pool     sync.Pool // *Matcher, for Match
}

// Matcher matches events against a Tree. Match allocates nothing for the
// usual event values once its buffers have grown. A Matcher is not safe
// for concurrent use.
type Matcher struct {
	t    *Tree
	memo []treeMemo
	gen  uint64         // Match call counter; memo slots of older calls are stale
	buf  []byte         // transformer output, reset per comparison
	vals []policy.Value // extracted values, reset per comparison
}

// treePred is a compiled condition or sub-expression.
type treePred func(m *Matcher, ev *policy.Event) bool

type treeMemo struct {
	gen uint64
	val bool
}

var keyEvtType = policy.MustKey("evt.type")

// BuildTree compiles the enabled rules of rs, in load order. It returns an
// error naming the rule whose comparison cannot be prepared, as
// policy.NewEvaluator does.
func BuildTree(rs *policy.Ruleset) (*Tree, error) {
	t := &Tree{byType: map[string][]int32{}}
	t.rules = rs.Enabled()
	b := &treeBuilder{t: t, ids: map[policy.Expr]int{}, canon: map[string]int{}, refs: map[int]int{}, nodes: map[int]treePred{}}
	for _, r := range t.rules {
		if r.Condition == nil {
			return nil, fmt.Errorf("rule %q: no condition", r.Name)
		}
		b.count(r.Condition)
	}
	for _, r := range t.rules {
		p, err := b.compile(r.Condition)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.Name, err)
		}
		t.conds = append(t.conds, p)
	}
	t.slots = b.slots
	typed := map[string][]int32{}
	for i, r := range t.rules {
		if r.EventTypes == nil {
			t.any = append(t.any, int32(i))
			continue
		}
		for _, typ := range r.EventTypes {
			if l := typed[typ]; len(l) == 0 || l[len(l)-1] != int32(i) {
				typed[typ] = append(l, int32(i))
			}
		}
	}
	for typ, l := range typed {
		// Merge with the unrestricted rules, in load order.
		m := make([]int32, 0, len(l)+len(t.any))
		a := t.any
		for len(l) > 0 || len(a) > 0 {
			if len(a) == 0 || (len(l) > 0 && l[0] < a[0]) {
				m, l = append(m, l[0]), l[1:]
			} else {
				m, a = append(m, a[0]), a[1:]
			}
		}
		t.byType[typ] = m
	}
	bitmap := func(l []int32) []uint64 {
		b := make([]uint64, (len(t.rules)+63)/64)
		for _, i := range l {
			b[i>>6] |= 1 << (uint(i) & 63)
		}
		return b
	}
	t.typeBits = make(map[string][]uint64, len(t.byType))
	for typ, l := range t.byType {
		t.typeBits[typ] = bitmap(l)
	}
	t.anyBits = bitmap(t.any)
	return t, nil
}

// Rules returns the enabled rules; a rule's number is its index here.
func (t *Tree) Rules() []*policy.Rule { return t.rules }

// NewMatcher returns a Matcher for t.
func (t *Tree) NewMatcher() *Matcher { return &Matcher{t: t, memo: make([]treeMemo, t.slots)} }

// Match is Matcher.Match with a Matcher taken from a pool.
func (t *Tree) Match(ev *policy.Event, first bool, candidates []uint64, dst []int) []int {
	m, _ := t.pool.Get().(*Matcher)
	if m == nil {
		m = t.NewMatcher()
	}
	dst = m.Match(ev, first, candidates, dst)
	t.pool.Put(m)
	return dst
}

// Match appends to dst the numbers of the rules that match ev, in load
// order; with first, at most one: the first. candidates, when not nil,
// restricts evaluation to the rules whose bit is set (bit i of
// candidates[i/64]); the others are skipped.
func (m *Matcher) Match(ev *policy.Event, first bool, candidates []uint64, dst []int) []int {
	t := m.t
	m.gen++
	m.buf = m.buf[:0]
	typ, _ := ev.Text(keyEvtType)
	if candidates != nil {
		// The candidates of the event's type, in load order: a walk of
		// the set bits, however many rules there are.
		typed, ok := t.typeBits[typ]
		if !ok {
			typed = t.anyBits
		}
		for w := 0; w < len(typed) && w < len(candidates); w++ {
			for word := typed[w] & candidates[w]; word != 0; word &= word - 1 {
				i := w<<6 | bits.TrailingZeros64(word)
				if t.conds[i](m, ev) {
					dst = append(dst, i)
					if first {
						return dst
					}
				}
			}
		}
		return dst
	}
	list, ok := t.byType[typ]
	if !ok {
		list = t.any
	}
	for _, i := range list {
		if t.conds[i](m, ev) {
			dst = append(dst, int(i))
			if first {
				break
			}
		}
	}
	return dst
}

// treeBuilder compiles expressions, sharing one closure per canonical key.
type treeBuilder struct {
	t     *Tree
	ids   map[policy.Expr]int // expression -> its canonical key
	canon map[string]int      // canonical text -> key
	refs  map[int]int         // key -> number of distinct parents (and rules) using it
	nodes map[int]treePred
	slots int
}

// key returns the canonical key of an expression: equal keys mean equal
// semantics. Keys number canonical texts: Compare.String() for
// comparisons; for And, Or and Not a tag and the keys of their operands,
// so that a text is as long as its node's own operands, however deep the
// tree (texts holding their operands' texts would add up to the size of
// the tree times its depth).
func (b *treeBuilder) key(x policy.Expr) int {
	if k, ok := b.ids[x]; ok {
		return k
	}
	var sb strings.Builder
	join := func(tag byte, xs []policy.Expr) {
		sb.WriteByte(tag)
		for _, s := range xs {
			sb.WriteByte(' ')
			sb.WriteString(strconv.Itoa(b.key(s)))
		}
	}
	switch x := x.(type) {
	case *policy.And:
		join('&', x.Exprs)
	case *policy.Or:
		join('|', x.Exprs)
	case *policy.Not:
		join('!', []policy.Expr{x.X})
	case *policy.Const:
		if x.Value {
			sb.WriteString("T")
		} else {
			sb.WriteString("F")
		}
	case *policy.Compare:
		sb.WriteString("=" + x.String())
	case *policy.Residual:
		// Residuals are shared only when they are the same object.
		fmt.Fprintf(&sb, "?%p", x)
	default:
		panic(fmt.Sprintf("compiler: unknown expression %T", x))
	}
	k, ok := b.canon[sb.String()]
	if !ok {
		k = len(b.canon)
		b.canon[sb.String()] = k
	}
	b.ids[x] = k
	return k
}

// count records one use of x; x's operands are counted on its first use
// only, so they count the distinct expressions that use them.
func (b *treeBuilder) count(x policy.Expr) {
	k := b.key(x)
	b.refs[k]++
	if b.refs[k] > 1 {
		return
	}
	switch x := x.(type) {
	case *policy.And:
		for _, s := range x.Exprs {
			b.count(s)
		}
	case *policy.Or:
		for _, s := range x.Exprs {
			b.count(s)
		}
	case *policy.Not:
		b.count(x.X)
	}
}

func (b *treeBuilder) compile(x policy.Expr) (treePred, error) {
	k := b.key(x)
	if p, ok := b.nodes[k]; ok {
		return p, nil
	}
	var p treePred
	var err error
	switch x := x.(type) {
	case *policy.And:
		var ps []treePred
		if ps, err = b.compileAll(x.Exprs); err == nil {
			p = treeAnd(ps)
		}
	case *policy.Or:
		var ps []treePred
		if ps, err = b.compileAll(x.Exprs); err == nil {
			p = treeOr(ps)
		}
	case *policy.Not:
		var s treePred
		if s, err = b.compile(x.X); err == nil {
			p = func(m *Matcher, ev *policy.Event) bool { return !s(m, ev) }
		}
	case *policy.Const:
		v := x.Value
		p = func(*Matcher, *policy.Event) bool { return v }
	case *policy.Compare:
		p, err = b.compare(x)
	case *policy.Residual:
		ext := x.X
		p = func(_ *Matcher, ev *policy.Event) bool { return ext.Eval(ev) }
	}
	if err != nil {
		return nil, err
	}
	if b.refs[k] > 1 {
		p = b.memoise(p)
	}
	b.nodes[k] = p
	return p, nil
}

func (b *treeBuilder) compileAll(xs []policy.Expr) ([]treePred, error) {
	ps := make([]treePred, len(xs))
	for i, x := range xs {
		var err error
		if ps[i], err = b.compile(x); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

func treeAnd(ps []treePred) treePred {
	switch len(ps) {
	case 0:
		return func(*Matcher, *policy.Event) bool { return true }
	case 1:
		return ps[0]
	case 2:
		a, b := ps[0], ps[1]
		return func(m *Matcher, ev *policy.Event) bool { return a(m, ev) && b(m, ev) }
	}
	return func(m *Matcher, ev *policy.Event) bool {
		for _, p := range ps {
			if !p(m, ev) {
				return false
			}
		}
		return true
	}
}

func treeOr(ps []treePred) treePred {
	switch len(ps) {
	case 0:
		return func(*Matcher, *policy.Event) bool { return false }
	case 1:
		return ps[0]
	case 2:
		a, b := ps[0], ps[1]
		return func(m *Matcher, ev *policy.Event) bool { return a(m, ev) || b(m, ev) }
	}
	return func(m *Matcher, ev *policy.Event) bool {
		for _, p := range ps {
			if p(m, ev) {
				return true
			}
		}
		return false
	}
}

// memoise wraps p so that it runs at most once per Match call.
func (b *treeBuilder) memoise(p treePred) treePred {
	slot := b.slots
	b.slots++
	return func(m *Matcher, ev *policy.Event) bool {
		s := &m.memo[slot]
		if s.gen != m.gen {
			s.val = p(m, ev)
			s.gen = m.gen
		}
		return s.val
	}
}

// Field extraction: a reference reads the values of its key (the event
// memoises them), then applies its transformers.

// treeField is a compiled field reference.
type treeField struct {
	key   policy.Key
	multi bool // the key may hold several values
	trans []policy.Transformer
	list  bool // several values counted as one list by len()
}

func newTreeField(ref *policy.FieldRef) (*treeField, error) {
	k, ok := policy.KeyOfRef(ref)
	if !ok {
		return nil, fmt.Errorf("field %s: no such value", ref.Name())
	}
	return &treeField{key: k, multi: k.Multi(), trans: ref.Transformers, list: ref.Field.List && !ref.HasArg}, nil
}

// single reports whether the field reads one value as it is.
func (f *treeField) single() bool { return !f.multi && len(f.trans) == 0 }

// one returns the value of a single field; a list is none.
func (f *treeField) one(ev *policy.Event) (policy.Value, bool) {
	v, ok := ev.Get(f.key)
	return v, ok && v.Kind() != policy.KindList
}

// values appends the field's values, with the transformers applied, to
// dst. It appends nothing when the field has no value.
func (f *treeField) values(m *Matcher, ev *policy.Event, dst []policy.Value) []policy.Value {
	start := len(dst)
	dst = ev.Values(f.key, dst)
	if len(dst) == start || len(f.trans) == 0 {
		return dst
	}
	return f.transform(m, dst, start)
}

// transform applies the transformers to dst[start:], which it turns into
// text first. It returns dst[:start] when one fails (b64 of invalid
// base64).
func (f *treeField) transform(m *Matcher, dst []policy.Value, start int) []policy.Value {
	vals := dst[start:]
	for i, v := range vals {
		if v.Kind() != policy.KindText {
			n := len(m.buf)
			m.buf, _ = v.AppendText(m.buf)
			vals[i] = policy.Text(m.str(n))
		}
	}
	list := f.list
	for _, tr := range f.trans {
		vals := dst[start:]
		switch tr {
		case policy.TransToLower:
			for i, v := range vals {
				s, _ := v.Text()
				vals[i] = policy.Text(m.lower(s))
			}
		case policy.TransToUpper:
			for i, v := range vals {
				s, _ := v.Text()
				vals[i] = policy.Text(m.upper(s))
			}
		case policy.TransBasename:
			for i, v := range vals {
				s, _ := v.Text()
				if j := strings.LastIndexByte(s, '/'); j >= 0 {
					vals[i] = policy.Text(s[j+1:])
				}
			}
		case policy.TransB64:
			for i, v := range vals {
				s, _ := v.Text()
				n := len(m.buf)
				var err error
				src := strings.TrimRight(s, "=")
				m.buf, err = base64.RawStdEncoding.AppendDecode(m.buf, unsafe.Slice(unsafe.StringData(src), len(src)))
				if err != nil {
					return dst[:start]
				}
				vals[i] = policy.Text(m.str(n))
			}
		case policy.TransLen:
			if list {
				dst = append(dst[:start], policy.Int(int64(len(vals))))
			} else {
				for i, v := range vals {
					s, _ := v.Text()
					vals[i] = policy.Int(int64(len(s)))
				}
			}
			list = false
		}
	}
	return dst
}

// str returns m.buf[n:] as a string sharing its bytes. The bytes are not
// written again before the comparison that made them ends.
func (m *Matcher) str(n int) string {
	if n == len(m.buf) {
		return ""
	}
	return unsafe.String(&m.buf[n], len(m.buf)-n)
}

func treeASCII(s string) (ascii, upper, lower bool) {
	ascii = true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return false, false, false
		}
		upper = upper || ('A' <= c && c <= 'Z')
		lower = lower || ('a' <= c && c <= 'z')
	}
	return
}

// lower is strings.ToLower into the scratch buffer.
func (m *Matcher) lower(s string) string {
	ascii, upper, _ := treeASCII(s)
	if ascii && !upper {
		return s
	}
	return m.mapCase(s, ascii, 'A', 'Z', 'a'-'A', unicode.ToLower)
}

// upper is strings.ToUpper into the scratch buffer.
func (m *Matcher) upper(s string) string {
	ascii, _, lower := treeASCII(s)
	if ascii && !lower {
		return s
	}
	return m.mapCase(s, ascii, 'a', 'z', 'A'-'a', unicode.ToUpper)
}

// mapCase writes s into the scratch buffer with the bytes in [from, to]
// shifted by delta when s is ASCII, else with every rune mapped by fn.
func (m *Matcher) mapCase(s string, ascii bool, from, to byte, delta int, fn func(rune) rune) string {
	n := len(m.buf)
	if ascii {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if from <= c && c <= to {
				c = byte(int(c) + delta)
			}
			m.buf = append(m.buf, c)
		}
		return m.str(n)
	}
	for _, r := range s {
		m.buf = utf8.AppendRune(m.buf, fn(r))
	}
	return m.str(n)
}

// Comparisons. Each value type (text, number, boolean, address) is a
// treeClass: how to read a value, how to test it against one literal, and
// how to compare it with a value of another field (val()).

type treeClass[T any] struct {
	conv func(policy.Value) (T, bool)
	lit  func(op policy.Op, l policy.Literal) func(T) bool
	cmp  func(op policy.Op) func(l, r T) bool
	// set, when not nil, tests membership in the literals (in, intersects).
	set func(ls []policy.Literal) func(T) bool
}

func (b *treeBuilder) compare(c *policy.Compare) (treePred, error) {
	k, err := policy.PrepareCheck(c)
	if err != nil {
		return nil, err
	}
	left, err := newTreeField(&c.Left)
	if err != nil {
		return nil, err
	}
	var right *treeField
	if c.Right != nil {
		if right, err = newTreeField(c.Right); err != nil {
			return nil, err
		}
	}
	typ := k.Type()
	switch {
	case typ.Numeric():
		return treeCompile(c, k, treeNumClass(k.Unsigned()), left, right), nil
	case typ == policy.TypeBool:
		return treeCompile(c, k, treeBoolClass, left, right), nil
	case typ == policy.TypeIPAddr || typ == policy.TypeIPNet:
		return treeCompile(c, k, treeIPClass(typ == policy.TypeIPNet), left, right), nil
	}
	cl := treeStrClass()
	if left.single() && right == nil && c.Op != policy.OpExists {
		// Text needs no conversion: the most common comparison, made direct.
		m := treeMatcher(c, k.Literals(), cl)
		return func(_ *Matcher, ev *policy.Event) bool {
			v, ok := left.one(ev)
			if !ok {
				return false
			}
			s, ok := v.Text()
			return ok && m(s)
		}, nil
	}
	return treeCompile(c, k, cl, left, right), nil
}

// treeCompile builds the closure of one comparison, following Check.Eval.
func treeCompile[T any](c *policy.Compare, k *policy.Check, cl treeClass[T], left, right *treeField) treePred {
	conv := cl.conv
	if c.Op == policy.OpExists {
		if left.single() {
			return func(_ *Matcher, ev *policy.Event) bool {
				v, ok := left.one(ev)
				if !ok {
					return false
				}
				_, ok = conv(v)
				return ok
			}
		}
		return func(m *Matcher, ev *policy.Event) bool {
			m.buf = m.buf[:0]
			vals := left.values(m, ev, m.vals[:0])
			m.vals = vals[:0]
			for _, v := range vals {
				if _, ok := conv(v); ok {
					return true
				}
			}
			return false
		}
	}
	if c.Right != nil {
		return treeCompileVal(c, k, cl, left, right)
	}
	match := treeMatcher(c, k.Literals(), cl)
	if left.single() {
		return func(_ *Matcher, ev *policy.Event) bool {
			v, ok := left.one(ev)
			if !ok {
				return false
			}
			x, ok := conv(v)
			return ok && match(x)
		}
	}
	all := k.List() && c.Op == policy.OpIn
	return func(m *Matcher, ev *policy.Event) bool {
		m.buf = m.buf[:0]
		vals := left.values(m, ev, m.vals[:0])
		m.vals = vals[:0]
		n := 0
		for _, v := range vals {
			x, ok := conv(v)
			if !ok {
				continue
			}
			n++
			if match(x) != all {
				return !all
			}
		}
		return all && n > 0
	}
}

// treeCompileVal builds a comparison with another field: the right side's
// first value stands for the literals.
func treeCompileVal[T any](c *policy.Compare, k *policy.Check, cl treeClass[T], left, right *treeField) treePred {
	op := c.Op
	if op == policy.OpIn || op == policy.OpIntersects {
		op = policy.OpEq
	}
	cmp, conv := cl.cmp(op), cl.conv
	all := k.List() && c.Op == policy.OpIn
	return func(m *Matcher, ev *policy.Event) bool {
		m.buf = m.buf[:0]
		vals := left.values(m, ev, m.vals[:0])
		nl := len(vals)
		if nl == 0 {
			return false
		}
		vals = right.values(m, ev, vals)
		m.vals = vals[:0]
		var r T
		found := false
		for _, v := range vals[nl:] {
			if r, found = conv(v); found {
				break
			}
		}
		if !found {
			return false
		}
		n := 0
		for _, v := range vals[:nl] {
			l, ok := conv(v)
			if !ok {
				continue
			}
			n++
			if cmp(l, r) != all {
				return !all
			}
		}
		return all && n > 0
	}
}

// treeMatcher tests one left value against the literals, as Check.matchOne
// does (for list fields, membership of one element).
func treeMatcher[T any](c *policy.Compare, lits []policy.Literal, cl treeClass[T]) func(T) bool {
	if c.Modifier != policy.ModNone {
		ps := make([]func(T) bool, len(lits))
		for i, l := range lits {
			ps[i] = cl.lit(c.Op, l)
		}
		switch c.Modifier {
		case policy.ModAnyOf:
			return treeAnyOf(ps)
		case policy.ModAllOf:
			return func(v T) bool {
				for _, p := range ps {
					if !p(v) {
						return false
					}
				}
				return true
			}
		default:
			return func(v T) bool {
				n := 0
				for _, p := range ps {
					if p(v) {
						n++
					}
				}
				return n == 1
			}
		}
	}
	switch c.Op {
	case policy.OpIn, policy.OpIntersects:
		if cl.set != nil {
			return cl.set(lits)
		}
		ps := make([]func(T) bool, len(lits))
		for i, l := range lits {
			ps[i] = cl.lit(policy.OpEq, l)
		}
		return treeAnyOf(ps)
	case policy.OpPmatch:
		ps := make([]func(T) bool, len(lits))
		for i, l := range lits {
			ps[i] = cl.lit(policy.OpPmatch, l)
		}
		return treeAnyOf(ps)
	}
	return cl.lit(c.Op, lits[0])
}

func treeAnyOf[T any](ps []func(T) bool) func(T) bool {
	if len(ps) == 1 {
		return ps[0]
	}
	return func(v T) bool {
		for _, p := range ps {
			if p(v) {
				return true
			}
		}
		return false
	}
}

// treeOrdered is the reference's ordered: the operator applied to the
// result c of a three-way comparison.
func treeOrdered(op policy.Op, c int) bool {
	switch op {
	case policy.OpEq, policy.OpIn, policy.OpIntersects:
		return c == 0
	case policy.OpNe:
		return c != 0
	case policy.OpLt:
		return c < 0
	case policy.OpLe:
		return c <= 0
	case policy.OpGt:
		return c > 0
	case policy.OpGe:
		return c >= 0
	}
	return false
}

func treeText(v policy.Value) (string, bool) { return v.Text() }

// treeStrClass compares text (strings, paths, buffers, transformed values).
func treeStrClass() treeClass[string] {
	cmp := func(op policy.Op) func(l, r string) bool {
		switch op {
		case policy.OpContains, policy.OpBContains:
			return strings.Contains
		case policy.OpIContains:
			return policy.ContainsFold
		case policy.OpStartsWith, policy.OpBStartsWith:
			return strings.HasPrefix
		case policy.OpEndsWith:
			return strings.HasSuffix
		case policy.OpGlob:
			return func(l, r string) bool { return policy.Glob(r, l, false) }
		case policy.OpIGlob:
			return func(l, r string) bool { return policy.Glob(r, l, true) }
		case policy.OpRegex:
			return func(string, string) bool { return false }
		case policy.OpPmatch:
			return func(l, r string) bool { return policy.PathPrefixMatch(r, l) }
		case policy.OpEq, policy.OpIn, policy.OpIntersects:
			return func(l, r string) bool { return l == r }
		case policy.OpNe:
			return func(l, r string) bool { return l != r }
		}
		return func(l, r string) bool { return treeOrdered(op, strings.Compare(l, r)) }
	}
	lit := func(op policy.Op, lit policy.Literal) func(string) bool {
		r := lit.S
		switch op {
		case policy.OpEq, policy.OpIn, policy.OpIntersects:
			return func(l string) bool { return l == r }
		case policy.OpNe:
			return func(l string) bool { return l != r }
		case policy.OpContains, policy.OpBContains:
			return func(l string) bool { return strings.Contains(l, r) }
		case policy.OpStartsWith, policy.OpBStartsWith:
			return func(l string) bool { return strings.HasPrefix(l, r) }
		case policy.OpEndsWith:
			return func(l string) bool { return strings.HasSuffix(l, r) }
		case policy.OpRegex:
			re := lit.Re
			if re == nil {
				return func(string) bool { return false }
			}
			return re.MatchString
		}
		f := cmp(op)
		return func(l string) bool { return f(l, r) }
	}
	return treeClass[string]{
		conv: treeText,
		lit:  lit,
		cmp:  cmp,
		set: func(ls []policy.Literal) func(string) bool {
			if len(ls) <= 8 {
				strs := make([]string, len(ls))
				for i, l := range ls {
					strs[i] = l.S
				}
				return func(s string) bool {
					for _, r := range strs {
						if s == r {
							return true
						}
					}
					return false
				}
			}
			m := make(map[string]struct{}, len(ls))
			for _, l := range ls {
				m[l.S] = struct{}{}
			}
			return func(s string) bool { _, ok := m[s]; return ok }
		},
	}
}

// treeNumClass compares numbers, signed or unsigned.
func treeNumClass(unsigned bool) treeClass[int64] {
	cmp := func(op policy.Op) func(l, r int64) bool {
		switch op {
		case policy.OpEq, policy.OpIn, policy.OpIntersects:
			return func(l, r int64) bool { return l == r }
		case policy.OpNe:
			return func(l, r int64) bool { return l != r }
		}
		if unsigned {
			return func(l, r int64) bool { return treeOrdered(op, cmp.Compare(uint64(l), uint64(r))) }
		}
		return func(l, r int64) bool { return treeOrdered(op, cmp.Compare(l, r)) }
	}
	return treeClass[int64]{
		conv: policy.Value.Int,
		lit: func(op policy.Op, lit policy.Literal) func(int64) bool {
			f, r := cmp(op), lit.N
			return func(l int64) bool { return f(l, r) }
		},
		cmp: cmp,
		set: func(ls []policy.Literal) func(int64) bool {
			m := make(map[int64]struct{}, len(ls))
			for _, l := range ls {
				m[l.N] = struct{}{}
			}
			return func(v int64) bool { _, ok := m[v]; return ok }
		},
	}
}

func treeCmpBool(a, b bool) int {
	if a == b {
		return 0
	}
	return 1
}

// treeBoolClass compares booleans.
var treeBoolClass = treeClass[bool]{
	conv: policy.Value.Bool,
	lit: func(op policy.Op, lit policy.Literal) func(bool) bool {
		r := lit.B
		return func(l bool) bool { return treeOrdered(op, treeCmpBool(l, r)) }
	},
	cmp: func(op policy.Op) func(l, r bool) bool {
		return func(l, r bool) bool { return treeOrdered(op, treeCmpBool(l, r)) }
	},
}

func treeParseAddr(v policy.Value) (netip.Addr, bool) {
	s, ok := v.Text()
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil
}

// treeIPClass compares addresses, with an address (IPADDR) or a network
// (IPNET) on the right.
func treeIPClass(isNet bool) treeClass[netip.Addr] {
	test := func(op policy.Op, l netip.Addr, addr netip.Addr, pfx netip.Prefix) bool {
		if isNet {
			if !pfx.IsValid() {
				pfx = netip.PrefixFrom(addr, addr.BitLen())
			}
			return (op == policy.OpEq) == pfx.Contains(l)
		}
		if pfx.IsValid() {
			return (op == policy.OpEq) == pfx.Contains(l)
		}
		if l.Is4() != addr.Is4() {
			return op == policy.OpNe
		}
		return treeOrdered(op, l.Compare(addr))
	}
	return treeClass[netip.Addr]{
		conv: treeParseAddr,
		lit: func(op policy.Op, lit policy.Literal) func(netip.Addr) bool {
			return func(l netip.Addr) bool { return test(op, l, lit.Addr, lit.Net) }
		},
		cmp: func(op policy.Op) func(l, r netip.Addr) bool {
			return func(l, r netip.Addr) bool { return test(op, l, r, netip.Prefix{}) }
		},
	}
}
