package compiler

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/peregrine-sec/peregrine/policy"
)

// Tree evaluates a ruleset with conditions compiled to Go closures: every
// comparison is specialised at build time on its field's type, its
// operator and its literals, field keys are precomputed, and the
// sub-expressions that several rules share are evaluated at most once per
// event. Its semantics are the reference evaluator's (policy.Evaluator).
//
// Match allocates nothing for the usual event values; it uses scratch
// buffers held in the Tree, so a Tree is not safe for concurrent use: give
// each goroutine its own (BuildTree is cheap to call again).
type Tree struct {
	rules  []*policy.Rule
	conds  []treePred
	byType map[string][]int32 // event type -> rules to visit, in load order
	any    []int32            // rules with no event-type restriction
	memo   []treeMemo
	fields []treeFieldMemo // values of fields read by several comparisons
	gen    uint64          // Match call counter; memo slots of older calls are stale
	buf    []byte          // transformer output, reset per comparison
	strs   []string        // extracted values, reset per comparison
	key    []byte          // ancestor keys built past the precomputed ones
}

// treePred is a compiled condition or sub-expression.
type treePred func(ev *policy.Event) bool

type treeMemo struct {
	gen uint64
	val bool
}

type treeFieldMemo struct {
	gen uint64
	s   string
	ok  bool
}

// BuildTree compiles the enabled rules of rs, in load order. It returns an
// error naming the rule whose comparison cannot be prepared, as
// policy.NewEvaluator does.
func BuildTree(rs *policy.Ruleset) (*Tree, error) {
	t := &Tree{byType: map[string][]int32{}}
	t.rules = rs.Enabled()
	b := &treeBuilder{t: t, keys: map[policy.Expr]string{}, refs: map[string]int{},
		nodes: map[string]treePred{}, fields: map[string]int{}}
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
	t.memo = make([]treeMemo, b.slots)
	t.fields = make([]treeFieldMemo, len(b.fields))
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
	return t, nil
}

// Rules returns the enabled rules; a rule's number is its index here.
func (t *Tree) Rules() []*policy.Rule { return t.rules }

// Match appends to dst the numbers of the rules that match ev, in load
// order; with first, at most one: the first. candidates, when not nil,
// restricts evaluation to the rules whose bit is set (bit i of
// candidates[i/64]); the others are skipped.
func (t *Tree) Match(ev *policy.Event, first bool, candidates []uint64, dst []int) []int {
	t.gen++
	t.buf = t.buf[:0]
	typ := ""
	if v, ok := ev.Raw("evt.type"); ok {
		typ, _ = v.(string)
	}
	list, ok := t.byType[typ]
	if !ok {
		list = t.any
	}
	for _, i := range list {
		if candidates != nil {
			w := int(i >> 6)
			if w >= len(candidates) || candidates[w]&(1<<(uint(i)&63)) == 0 {
				continue
			}
		}
		if t.conds[i](ev) {
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
	keys  map[policy.Expr]string
	refs  map[string]int // key -> number of distinct parents (and rules) using it
	nodes map[string]treePred
	slots int
	// fields maps the name of each single-valued field without
	// transformers to its slot in Tree.fields.
	fields map[string]int
}

// key returns the canonical text of an expression: equal keys mean equal
// semantics. Compare.String() is that for comparisons; And, Or, Not and
// Const get tagged, length-prefixed keys, because their String() does not
// tell an empty And from an empty Or, or a Const from a comparison.
func (b *treeBuilder) key(x policy.Expr) string {
	if k, ok := b.keys[x]; ok {
		return k
	}
	var k string
	join := func(tag byte, xs []policy.Expr) string {
		var sb strings.Builder
		sb.WriteByte(tag)
		sb.WriteString(strconv.Itoa(len(xs)))
		for _, s := range xs {
			sk := b.key(s)
			sb.WriteString("[")
			sb.WriteString(strconv.Itoa(len(sk)))
			sb.WriteString(":")
			sb.WriteString(sk)
		}
		return sb.String()
	}
	switch x := x.(type) {
	case *policy.And:
		k = join('&', x.Exprs)
	case *policy.Or:
		k = join('|', x.Exprs)
	case *policy.Not:
		k = "!" + b.key(x.X)
	case *policy.Const:
		k = "F"
		if x.Value {
			k = "T"
		}
	case *policy.Compare:
		k = "=" + x.String()
	case *policy.Residual:
		// Residuals are shared only when they are the same object.
		k = fmt.Sprintf("?%p", x)
	default:
		panic(fmt.Sprintf("compiler: unknown expression %T", x))
	}
	b.keys[x] = k
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
			p = func(ev *policy.Event) bool { return !s(ev) }
		}
	case *policy.Const:
		v := x.Value
		p = func(*policy.Event) bool { return v }
	case *policy.Compare:
		p, err = b.compare(x)
	case *policy.Residual:
		ext := x.X
		p = func(ev *policy.Event) bool { return ext.Eval(ev) }
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
		return func(*policy.Event) bool { return true }
	case 1:
		return ps[0]
	case 2:
		a, b := ps[0], ps[1]
		return func(ev *policy.Event) bool { return a(ev) && b(ev) }
	}
	return func(ev *policy.Event) bool {
		for _, p := range ps {
			if !p(ev) {
				return false
			}
		}
		return true
	}
}

func treeOr(ps []treePred) treePred {
	switch len(ps) {
	case 0:
		return func(*policy.Event) bool { return false }
	case 1:
		return ps[0]
	case 2:
		a, b := ps[0], ps[1]
		return func(ev *policy.Event) bool { return a(ev) || b(ev) }
	}
	return func(ev *policy.Event) bool {
		for _, p := range ps {
			if p(ev) {
				return true
			}
		}
		return false
	}
}

// memoise wraps p so that it runs at most once per Match call.
func (b *treeBuilder) memoise(p treePred) treePred {
	t, slot := b.t, b.slots
	b.slots++
	return func(ev *policy.Event) bool {
		m := &t.memo[slot]
		if m.gen != t.gen {
			m.val = p(ev)
			m.gen = t.gen
		}
		return m.val
	}
}

// Field extraction. It mirrors policy's lookup: a chain of single-value
// steps tried in order (the first that finds a value decides), then, for
// fields with several values, a multi-value part.

type treeStepKind uint8

const (
	treeScalar    treeStepKind = iota // values[key], not null, array or object
	treeElem                          // values[key] is an array: its element idx, not null
	treeContainer                     // values[key] is an object: its key arg; or an array: element idx
)

type treeStep struct {
	kind treeStepKind
	key  string
	arg  string
	idx  int
}

func (s *treeStep) get(ev *policy.Event) (any, bool) {
	v, ok := ev.Raw(s.key)
	if !ok || v == nil {
		return nil, false
	}
	switch s.kind {
	case treeScalar:
		switch v.(type) {
		case []any, map[string]any:
			return nil, false
		}
		return v, true
	case treeElem:
		if l, ok := v.([]any); ok && s.idx < len(l) {
			if _, ok := policy.ValueString(l[s.idx]); ok {
				return l[s.idx], true
			}
		}
	case treeContainer:
		switch c := v.(type) {
		case map[string]any:
			if x, ok := c[s.arg]; ok && x != nil {
				return x, true
			}
		case []any:
			if s.idx >= 0 && s.idx < len(c) && c[s.idx] != nil {
				return c[s.idx], true
			}
		}
	}
	return nil, false
}

type treeMulti uint8

const (
	treeOne       treeMulti = iota // the steps only
	treeEither                     // the values of either[0] and either[1]
	treeList                       // the elements of the array under name
	treeAncestors                  // ancestors 1, 2... of name, until one is missing
)

// treeAncKeys is how many "name[i]" keys of ancestor fields are precomputed.
const treeAncKeys = 16

// treeField is a compiled field reference.
type treeField struct {
	steps  []treeStep
	multi  treeMulti
	name   string    // array key for treeList and treeAncestors
	either [2]string // for treeEither
	akeys  []string  // "name[i]" for treeAncestors
	parent string    // plain field for ancestor 1, "" if none
	trans  []policy.Transformer
	list   bool // several values counted as one list by len()
	// one, when not nil, returns the single value of a field with steps
	// only and no transformers.
	one func(ev *policy.Event) (string, bool)
}

func newTreeField(ref *policy.FieldRef) *treeField {
	f := &treeField{trans: ref.Transformers, list: ref.Field.List && !ref.HasArg}
	f.plan(ref.Field, ref.HasArg, ref.Arg, ref.Index)
	if f.multi == treeOne && len(f.trans) == 0 {
		if len(f.steps) == 1 && f.steps[0].kind == treeScalar {
			key := f.steps[0].key
			f.one = func(ev *policy.Event) (string, bool) {
				v, _ := ev.Raw(key)
				return policy.ValueString(v)
			}
		} else {
			f.one = f.first
		}
	}
	return f
}

func (f *treeField) scalar(key string) {
	f.steps = append(f.steps, treeStep{kind: treeScalar, key: key})
}

func (f *treeField) ancestor(name string, i int) {
	f.scalar(name + "[" + strconv.Itoa(i) + "]")
	f.steps = append(f.steps, treeStep{kind: treeElem, key: name, idx: i})
	if pair, ok := policy.AncestorPair(name); ok && i < 2 {
		f.scalar(pair[i])
	}
}

// plan builds the lookup of policy's Event.lookup for one reference.
func (f *treeField) plan(fld *policy.Field, hasArg bool, arg string, index int) {
	name := fld.Name
	if hasArg {
		f.scalar(name + "[" + arg + "]")
	}
	switch fld.Arg {
	case policy.ArgNone:
		f.scalar(name)
		if addr, ok := policy.NetAddrField(name); ok {
			if af := policy.LookupField(addr); af != nil {
				f.plan(af, false, "", -1)
			}
			return
		}
		if pair, ok := policy.EitherPair(name); ok {
			f.multi, f.either = treeEither, pair
			return
		}
		if a, i, ok := policy.AncestorOf(name); ok {
			f.ancestor(a, i)
			return
		}
		if fld.List {
			f.multi, f.name = treeList, name
		}
	case policy.ArgIndexOptional:
		if hasArg {
			f.ancestor(name, index)
			return
		}
		f.multi, f.name = treeAncestors, name
		for i := 0; i < treeAncKeys; i++ {
			f.akeys = append(f.akeys, name+"["+strconv.Itoa(i)+"]")
		}
		if pair, ok := policy.AncestorPair(name); ok {
			f.parent = pair[1]
		}
	case policy.ArgIndexOrKey, policy.ArgKeyOptional, policy.ArgKeyRequired:
		if !hasArg {
			if fld.List {
				f.multi, f.name = treeList, name
			} else {
				f.scalar(name)
			}
			return
		}
		f.scalar(name + "." + arg)
		idx, err := strconv.Atoi(arg)
		if err != nil {
			idx = -1
		}
		f.steps = append(f.steps, treeStep{kind: treeContainer, key: name, arg: arg, idx: idx})
		if name == "evt.rawarg" {
			f.plan(policy.LookupField("evt.arg"), true, arg, -1)
		}
	}
}

// first returns the value the steps find, if it is text.
func (f *treeField) first(ev *policy.Event) (string, bool) {
	for i := range f.steps {
		if v, ok := f.steps[i].get(ev); ok {
			return policy.ValueString(v)
		}
	}
	return "", false
}

// values appends the field's values, as text with the transformers
// applied, to dst. It appends nothing when the field has no value.
func (f *treeField) values(t *Tree, ev *policy.Event, dst []string) []string {
	start := len(dst)
	found := false
	for i := range f.steps {
		if v, ok := f.steps[i].get(ev); ok {
			if s, ok := policy.ValueString(v); ok {
				dst = append(dst, s)
			}
			found = true
			break
		}
	}
	if !found {
		switch f.multi {
		case treeEither:
			for _, n := range f.either {
				if v, ok := ev.Raw(n); ok {
					if s, ok := policy.ValueString(v); ok {
						dst = append(dst, s)
					}
				}
			}
		case treeList:
			if v, ok := ev.Raw(f.name); ok {
				l, _ := v.([]any)
				for _, x := range l {
					if s, ok := policy.ValueString(x); ok {
						dst = append(dst, s)
					}
				}
			}
		case treeAncestors:
			dst = f.ancestors(t, ev, dst)
		}
	}
	if len(dst) == start || len(f.trans) == 0 {
		return dst
	}
	return f.transform(t, dst, start)
}

// ancestors appends the values of ancestors 1, 2... until one is missing,
// each read as policy's Event.ancestor reads it: the name[i] key, the
// array element, the parent field.
func (f *treeField) ancestors(t *Tree, ev *policy.Event, dst []string) []string {
	v, _ := ev.Raw(f.name)
	l, _ := v.([]any)
	for i := 1; ; i++ {
		var y any
		var ok bool
		if i < len(f.akeys) {
			y, ok = ev.Raw(f.akeys[i])
		} else {
			t.key = append(strconv.AppendInt(append(append(t.key[:0], f.name...), '['), int64(i), 10), ']')
			y, ok = ev.RawKey(t.key)
		}
		x, found := y, ok && y != nil && !treeIsContainer(y)
		if !found && i < len(l) {
			_, found = policy.ValueString(l[i])
			x = l[i]
		}
		if !found && i < 2 && f.parent != "" {
			y, ok := ev.Raw(f.parent)
			x, found = y, ok && y != nil && !treeIsContainer(y)
		}
		if !found {
			return dst
		}
		if s, ok := policy.ValueString(x); ok {
			dst = append(dst, s)
		}
	}
}

func treeIsContainer(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return true
	}
	return false
}

// transform applies the transformers to dst[start:]. It returns dst[:start]
// when one fails (b64 of invalid base64).
func (f *treeField) transform(t *Tree, dst []string, start int) []string {
	list := f.list
	for _, tr := range f.trans {
		vals := dst[start:]
		switch tr {
		case policy.TransToLower:
			for i, s := range vals {
				vals[i] = t.lower(s)
			}
		case policy.TransToUpper:
			for i, s := range vals {
				vals[i] = t.upper(s)
			}
		case policy.TransBasename:
			for i, s := range vals {
				if j := strings.LastIndexByte(s, '/'); j >= 0 {
					vals[i] = s[j+1:]
				}
			}
		case policy.TransB64:
			for i, s := range vals {
				n := len(t.buf)
				var err error
				src := strings.TrimRight(s, "=")
				t.buf, err = base64.RawStdEncoding.AppendDecode(t.buf, unsafe.Slice(unsafe.StringData(src), len(src)))
				if err != nil {
					return dst[:start]
				}
				vals[i] = t.str(n)
			}
		case policy.TransLen:
			if list {
				n := len(t.buf)
				t.buf = strconv.AppendInt(t.buf, int64(len(vals)), 10)
				dst = append(dst[:start], t.str(n))
			} else {
				for i, s := range vals {
					n := len(t.buf)
					t.buf = strconv.AppendInt(t.buf, int64(len(s)), 10)
					vals[i] = t.str(n)
				}
			}
			list = false
		}
	}
	return dst
}

// str returns t.buf[n:] as a string sharing its bytes. The bytes are not
// written again before the comparison that made them ends.
func (t *Tree) str(n int) string {
	if n == len(t.buf) {
		return ""
	}
	return unsafe.String(&t.buf[n], len(t.buf)-n)
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
func (t *Tree) lower(s string) string {
	ascii, upper, _ := treeASCII(s)
	if ascii && !upper {
		return s
	}
	return t.mapCase(s, ascii, 'A', 'Z', 'a'-'A', unicode.ToLower)
}

// upper is strings.ToUpper into the scratch buffer.
func (t *Tree) upper(s string) string {
	ascii, _, lower := treeASCII(s)
	if ascii && !lower {
		return s
	}
	return t.mapCase(s, ascii, 'a', 'z', 'A'-'a', unicode.ToUpper)
}

// mapCase writes s into the scratch buffer with the bytes in [from, to]
// shifted by delta when s is ASCII, else with every rune mapped by fn.
func (t *Tree) mapCase(s string, ascii bool, from, to byte, delta int, fn func(rune) rune) string {
	n := len(t.buf)
	if ascii {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if from <= c && c <= to {
				c = byte(int(c) + delta)
			}
			t.buf = append(t.buf, c)
		}
		return t.str(n)
	}
	for _, r := range s {
		t.buf = utf8.AppendRune(t.buf, fn(r))
	}
	return t.str(n)
}

// Comparisons. Each value type (text, number, boolean, address) is a
// treeClass: how to read a value, how to test it against one literal, and
// how to compare it with a value of another field (val()).

type treeClass[T any] struct {
	conv func(string) (T, bool)
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
	left := b.field(&c.Left)
	var right *treeField
	if c.Right != nil {
		right = b.field(c.Right)
	}
	typ := k.Type()
	switch {
	case typ.Numeric():
		return treeCompile(b.t, c, k, treeNumClass(k.Unsigned()), left, right), nil
	case typ == policy.TypeBool:
		return treeCompile(b.t, c, k, treeBoolClass, left, right), nil
	case typ == policy.TypeIPAddr || typ == policy.TypeIPNet:
		return treeCompile(b.t, c, k, treeIPClass(typ == policy.TypeIPNet), left, right), nil
	}
	cl := treeStrClass(b.t)
	if left.one != nil && right == nil && c.Op != policy.OpExists {
		// Text needs no conversion: the most common comparison, made direct.
		one, m := left.one, treeMatcher(c, k.Literals(), cl)
		return func(ev *policy.Event) bool {
			s, ok := one(ev)
			return ok && m(s)
		}, nil
	}
	return treeCompile(b.t, c, k, cl, left, right), nil
}

// field compiles a field reference. The value of a single-valued field
// without transformers is read from the event once per Match call.
func (b *treeBuilder) field(ref *policy.FieldRef) *treeField {
	f := newTreeField(ref)
	if f.one == nil {
		return f
	}
	name := ref.Name()
	slot, ok := b.fields[name]
	if !ok {
		slot = len(b.fields)
		b.fields[name] = slot
	}
	t, read := b.t, f.one
	f.one = func(ev *policy.Event) (string, bool) {
		m := &t.fields[slot]
		if m.gen != t.gen {
			m.s, m.ok = read(ev)
			m.gen = t.gen
		}
		return m.s, m.ok
	}
	return f
}

// treeCompile builds the closure of one comparison, following Check.Eval.
func treeCompile[T any](t *Tree, c *policy.Compare, k *policy.Check, cl treeClass[T], left, right *treeField) treePred {
	conv := cl.conv
	if c.Op == policy.OpExists {
		if left.one != nil {
			one := left.one
			return func(ev *policy.Event) bool {
				s, ok := one(ev)
				if !ok {
					return false
				}
				_, ok = conv(s)
				return ok
			}
		}
		return func(ev *policy.Event) bool {
			t.buf = t.buf[:0]
			vals := left.values(t, ev, t.strs[:0])
			t.strs = vals[:0]
			for _, s := range vals {
				if _, ok := conv(s); ok {
					return true
				}
			}
			return false
		}
	}
	if c.Right != nil {
		return treeCompileVal(t, c, k, cl, left, right)
	}
	m := treeMatcher(c, k.Literals(), cl)
	if left.one != nil {
		one := left.one
		return func(ev *policy.Event) bool {
			s, ok := one(ev)
			if !ok {
				return false
			}
			v, ok := conv(s)
			return ok && m(v)
		}
	}
	all := k.List() && c.Op == policy.OpIn
	return func(ev *policy.Event) bool {
		t.buf = t.buf[:0]
		vals := left.values(t, ev, t.strs[:0])
		t.strs = vals[:0]
		n := 0
		for _, s := range vals {
			v, ok := conv(s)
			if !ok {
				continue
			}
			n++
			if m(v) != all {
				return !all
			}
		}
		return all && n > 0
	}
}

// treeCompileVal builds a comparison with another field: the right side's
// first value stands for the literals.
func treeCompileVal[T any](t *Tree, c *policy.Compare, k *policy.Check, cl treeClass[T], left, right *treeField) treePred {
	op := c.Op
	if op == policy.OpIn || op == policy.OpIntersects {
		op = policy.OpEq
	}
	cmp, conv := cl.cmp(op), cl.conv
	all := k.List() && c.Op == policy.OpIn
	return func(ev *policy.Event) bool {
		t.buf = t.buf[:0]
		vals := left.values(t, ev, t.strs[:0])
		nl := len(vals)
		if nl == 0 {
			return false
		}
		vals = right.values(t, ev, vals)
		t.strs = vals[:0]
		var r T
		found := false
		for _, s := range vals[nl:] {
			if r, found = conv(s); found {
				break
			}
		}
		if !found {
			return false
		}
		n := 0
		for _, s := range vals[:nl] {
			l, ok := conv(s)
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

func treeIdentity(s string) (string, bool) { return s, true }

// treeStrClass compares text (strings, paths, buffers, transformed values).
func treeStrClass(t *Tree) treeClass[string] {
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
		conv: treeIdentity,
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
		conv: policy.ParseInt,
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

func treeParseBool(s string) (bool, bool) {
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

func treeCmpBool(a, b bool) int {
	if a == b {
		return 0
	}
	return 1
}

// treeBoolClass compares booleans.
var treeBoolClass = treeClass[bool]{
	conv: treeParseBool,
	lit: func(op policy.Op, lit policy.Literal) func(bool) bool {
		r := lit.B
		return func(l bool) bool { return treeOrdered(op, treeCmpBool(l, r)) }
	},
	cmp: func(op policy.Op) func(l, r bool) bool {
		return func(l, r bool) bool { return treeOrdered(op, treeCmpBool(l, r)) }
	},
}

func treeParseAddr(s string) (netip.Addr, bool) {
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
