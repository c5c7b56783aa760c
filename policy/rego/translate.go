package rego

import (
	"context"
	"net"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/peregrine-sec/peregrine/policy"
)

// translator lowers the residual queries of OPA's partial evaluation into
// the IR. What it cannot lower with OPA's exact semantics becomes a
// policy.Residual that OPA evaluates.
type translator struct {
	compiler *ast.Compiler
	caps     *ast.Capabilities
	// support holds the support rules of the partial evaluation, by path.
	support map[string][]*ast.Rule
	// queries are the residual queries made, prepared once all support
	// modules are known.
	queries *[]*query
	depth   int
}

// maxSupportDepth bounds the inlining of support rules into each other.
const maxSupportDepth = 16

// body translates one conjunction: the expressions that translate, in
// order, then one residual holding all the others (which may share
// variables), so that OPA runs only when everything translated holds.
func (t *translator) body(b ast.Body) policy.Expr {
	var out []policy.Expr
	var rest ast.Body
	walks, consumed := t.ancestorWalks(b)
	for i, e := range b {
		if consumed[i] {
			continue
		}
		x, ok := walks[i]
		if !ok {
			x, ok = t.expr(e)
		}
		if !ok {
			rest = append(rest, e)
			continue
		}
		if c, isConst := x.(*policy.Const); isConst && !c.Value {
			return c // no residual needed
		}
		out = append(out, x)
	}
	if len(rest) > 0 {
		out = append(out, t.residual(rest))
	}
	return policy.Fold(&policy.And{Exprs: out})
}

// residual returns an OPA-evaluated leaf for the conjunction b.
func (t *translator) residual(b ast.Body) policy.Expr {
	q := &query{body: b.Copy(), text: b.String()}
	*t.queries = append(*t.queries, q)
	return &policy.Residual{X: q}
}

// hasVars reports whether e mentions variables other than input, data
// and the names of the functions it calls.
func hasVars(e *ast.Expr) bool {
	switch ts := e.Terms.(type) {
	case *ast.Term:
		return termHasVars(ts)
	case []*ast.Term:
		for _, t := range ts[1:] {
			if termHasVars(t) {
				return true
			}
		}
		return false
	}
	return true
}

func termHasVars(t *ast.Term) bool {
	switch v := t.Value.(type) {
	case ast.Var:
		return true
	case ast.Ref:
		h, ok := v[0].Value.(ast.Var)
		if !ok || (h != ast.InputRootDocument.Value && h != ast.DefaultRootDocument.Value) {
			return true
		}
		for _, p := range v[1:] {
			if termHasVars(p) {
				return true
			}
		}
		return false
	case ast.Call:
		for _, a := range v[1:] {
			if termHasVars(a) {
				return true
			}
		}
		return false
	}
	found := false
	ast.WalkVars(t, func(ast.Var) bool {
		found = true
		return true
	})
	return found
}

// hasRefs reports whether e reads input or data.
func hasRefs(e *ast.Expr) bool {
	found := false
	ast.WalkRefs(e, func(r ast.Ref) bool {
		h := r[0].Value
		if h.Compare(ast.InputRootDocument.Value) == 0 || h.Compare(ast.DefaultRootDocument.Value) == 0 {
			found = true
		}
		return found
	})
	return found
}

// expr translates one expression of a residual query.
func (t *translator) expr(e *ast.Expr) (policy.Expr, bool) {
	if len(e.With) > 0 || e.Generated || hasVars(e) {
		return nil, false
	}
	if !hasRefs(e) {
		return t.fold(e)
	}
	pos := *e
	pos.Negated = false
	x, ok := t.positive(&pos)
	if !ok {
		return nil, false
	}
	if !e.Negated {
		return x, true
	}
	if c, isConst := x.(*policy.Const); isConst {
		return &policy.Const{Value: !c.Value}, true
	}
	if !negationHoists(e) {
		return &policy.Not{X: x}, true
	}
	// OPA's compiler moves the input references of a negated call out of
	// the negation (not startswith(input.x, "p") is compiled to
	// __local0__ = input.x; not startswith(__local0__, "p")): the
	// expression is false, not true, when the field is undefined.
	refs := inputRefs(e)
	guard := &policy.And{}
	for _, r := range refs {
		ref, ok := fieldRef(ast.NewTerm(r))
		if !ok || ref.Field.Arg == policy.ArgIndexOptional {
			// An ancestor's null element is defined for OPA, missing for
			// the reference evaluator.
			return nil, false
		}
		guard.Exprs = append(guard.Exprs, &policy.Compare{Left: *ref, Op: policy.OpExists})
	}
	guard.Exprs = append(guard.Exprs, &policy.Not{X: x})
	return guard, true
}

// negationHoists reports whether OPA's compiler evaluates the input
// references of a negated expression outside the negation: it does for
// calls but for equality between terms that are not calls.
func negationHoists(e *ast.Expr) bool {
	if !e.IsCall() {
		return false
	}
	switch e.Operator().String() {
	case "eq", "equal":
		for _, t := range e.Operands() {
			if _, isCall := t.Value.(ast.Call); isCall {
				return true
			}
		}
		return false
	}
	return true
}

// inputRefs returns the distinct references to input in e.
func inputRefs(e *ast.Expr) []ast.Ref {
	var out []ast.Ref
	seen := map[string]bool{}
	ast.WalkRefs(e, func(r ast.Ref) bool {
		if r[0].Equal(ast.InputRootDocument) && !seen[r.String()] {
			seen[r.String()] = true
			out = append(out, r)
		}
		return false
	})
	return out
}

// fold evaluates an expression that reads no input at load time.
func (t *translator) fold(e *ast.Expr) (policy.Expr, bool) {
	rs, err := rego.New(rego.ParsedQuery(ast.NewBody(e.Copy())), rego.Compiler(t.compiler),
		rego.Capabilities(t.caps)).Eval(context.Background())
	if err != nil {
		return nil, false
	}
	return &policy.Const{Value: holds(rs)}, true
}

var flipped = map[policy.Op]policy.Op{
	policy.OpEq: policy.OpEq, policy.OpNe: policy.OpNe, policy.OpLt: policy.OpGt,
	policy.OpLe: policy.OpGe, policy.OpGt: policy.OpLt, policy.OpGe: policy.OpLe,
}

var compareOps = map[string]policy.Op{
	"eq": policy.OpEq, "equal": policy.OpEq, "neq": policy.OpNe,
	"lt": policy.OpLt, "lte": policy.OpLe, "gt": policy.OpGt, "gte": policy.OpGe,
}

var stringOps = map[string]policy.Op{
	"startswith": policy.OpStartsWith, "endswith": policy.OpEndsWith, "contains": policy.OpContains,
}

var transformers = map[string]policy.Transformer{"lower": policy.TransToLower, "upper": policy.TransToUpper}

// positive translates an expression that is not negated.
func (t *translator) positive(e *ast.Expr) (policy.Expr, bool) {
	if !e.IsCall() {
		term, ok := e.Terms.(*ast.Term)
		if !ok {
			return nil, false
		}
		return t.truthy(term)
	}
	op := e.Operator().String()
	args := e.Operands()
	if o, ok := compareOps[op]; ok && len(args) == 2 {
		return compare(args[0], args[1], o)
	}
	if o, ok := stringOps[op]; ok && len(args) == 2 {
		return stringCompare(args[0], args[1], o)
	}
	switch op {
	case "internal.member_2":
		if len(args) == 2 {
			return member(args[0], args[1])
		}
	case "lower", "upper":
		// lower(x, "v"): the call's output unified with a constant.
		if len(args) == 2 {
			call := ast.CallTerm(e.OperatorTerm().Copy(), args[0])
			return compare(call, args[1], policy.OpEq)
		}
	case "regex.match":
		if len(args) == 2 {
			return t.regexMatch(e, args[0], args[1])
		}
	case "glob.match":
		if len(args) == 3 {
			return globMatch(args[0], args[1], args[2])
		}
	case "net.cidr_contains":
		if len(args) == 2 {
			return cidrContains(args[0], args[1])
		}
	}
	return nil, false
}

// truthy translates an expression that is a single term: true when the
// term is defined and not false.
func (t *translator) truthy(term *ast.Term) (policy.Expr, bool) {
	switch v := term.Value.(type) {
	case ast.Ref:
		if ref, ok := fieldRef(term); ok && ref.Field.Arg != policy.ArgIndexOptional {
			if ref.Type() == policy.TypeBool {
				return check(&policy.Compare{Left: *ref, Op: policy.OpEq, Values: []string{"true"}})
			}
			return check(&policy.Compare{Left: *ref, Op: policy.OpExists})
		}
		return t.supportRule(v)
	case ast.Boolean:
		return &policy.Const{Value: bool(v)}, true
	}
	return nil, false
}

// supportRule inlines a support rule of the partial evaluation: a boolean
// rule is the disjunction of its bodies.
func (t *translator) supportRule(ref ast.Ref) (policy.Expr, bool) {
	rules := t.support[ref.String()]
	if len(rules) == 0 || t.depth >= maxSupportDepth {
		return nil, false
	}
	for _, r := range rules {
		h := r.Head
		if r.Default || r.Else != nil || h.Key != nil || len(h.Args) > 0 || h.Value == nil ||
			!h.Value.Equal(ast.BooleanTerm(true)) {
			return nil, false
		}
	}
	t.depth++
	defer func() { t.depth-- }()
	out := &policy.Or{}
	for _, r := range rules {
		out.Exprs = append(out.Exprs, t.body(r.Body))
	}
	if len(out.Exprs) == 1 {
		return out.Exprs[0], true
	}
	return out, true
}

// fieldRef maps a term to a field of the catalog: input.a.b is a.b,
// input.proc.aname[2] is proc.aname[2], input.evt.arg.flags is
// evt.arg[flags], lower(t) and upper(t) add a transformer. ok is false for
// anything else and for fields whose values the input document does not
// hold in one JSON type (see input.go).
func fieldRef(term *ast.Term) (*policy.FieldRef, bool) {
	switch v := term.Value.(type) {
	case ast.Call:
		tr, ok := transformers[v[0].String()]
		if !ok || len(v) != 2 {
			return nil, false
		}
		inner, ok := fieldRef(v[1])
		if !ok || !inner.Type().Stringy() {
			return nil, false
		}
		out := *inner
		out.Transformers = append(append([]policy.Transformer(nil), inner.Transformers...), tr)
		return &out, true
	case ast.Ref:
		if len(v) < 2 || !v[0].Equal(ast.InputRootDocument) {
			return nil, false
		}
		var parts []string
		for i, p := range v[1:] {
			switch k := p.Value.(type) {
			case ast.String:
				if k == "" || strings.ContainsAny(string(k), ".[]") {
					return nil, false
				}
				parts = append(parts, string(k))
			case ast.Var:
				// The index of an ancestor walk (see ancestorWalks).
				name := strings.Join(parts, ".")
				if k != anyAncestor || i != len(v)-2 || !ancestorSet[name] {
					return nil, false
				}
				f := policy.LookupField(name)
				if !f.Type.Stringy() {
					return nil, false
				}
				return &policy.FieldRef{Field: f, Index: -1}, true
			case ast.Number:
				if i != len(v)-2 {
					return nil, false
				}
				name := strings.Join(parts, ".")
				n, err := strconv.Atoi(string(k))
				if !ancestorSet[name] || err != nil || n < 0 || n >= 1<<16 {
					return nil, false
				}
				return &policy.FieldRef{Field: policy.LookupField(name), Arg: string(k), HasArg: true, Index: n}, true
			default:
				return nil, false
			}
		}
		name := strings.Join(parts, ".")
		if docFieldSet[name] {
			return &policy.FieldRef{Field: policy.LookupField(name), Index: -1}, true
		}
		if f, arg := policy.SplitDottedArg(name); f == evtArg && arg != "" && !strings.Contains(arg, ".") {
			return &policy.FieldRef{Field: f, Arg: arg, HasArg: true, Index: -1, Dotted: true}, true
		}
	}
	return nil, false
}

// literal returns the text of a constant whose JSON type is the one the
// input holds for fields of type t; ok is false otherwise, for numbers
// that are not integers in the field's range, and for negative numbers
// on unsigned fields (the input holds those fields' values unsigned).
func literal(term *ast.Term, t policy.FieldType) (string, bool) {
	switch v := term.Value.(type) {
	case ast.String:
		if t == policy.TypeIPAddr {
			// The input holds addresses canonical: another spelling
			// equals none of them.
			a, err := netip.ParseAddr(string(v))
			return string(v), err == nil && a.String() == string(v)
		}
		return string(v), t.Stringy()
	case ast.Boolean:
		return strconv.FormatBool(bool(v)), t == policy.TypeBool
	case ast.Number:
		if !t.Numeric() {
			return "", false
		}
		s := string(v)
		if unsigned(t) {
			u, err := strconv.ParseUint(s, 10, 64)
			return strconv.FormatUint(u, 10), err == nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return strconv.FormatInt(n, 10), err == nil
	}
	return "", false
}

// check keeps a comparison only when the reference evaluator accepts it.
func check(c *policy.Compare) (policy.Expr, bool) {
	if _, err := policy.PrepareCheck(c); err != nil {
		return nil, false
	}
	return c, true
}

// compare translates a comparison of a field with a constant, either way
// round.
func compare(a, b *ast.Term, op policy.Op) (policy.Expr, bool) {
	ref, ok := fieldRef(a)
	if !ok {
		if ref, ok = fieldRef(b); !ok {
			return nil, false
		}
		b, op = a, flipped[op]
	}
	if op != policy.OpEq && ref.Field.Arg == policy.ArgIndexOptional && ref.HasArg {
		// A missing ancestor is null in the input: null != "a" and
		// null < "a" hold for OPA.
		return nil, false
	}
	lit, ok := literal(b, ref.Type())
	if !ok {
		return nil, false
	}
	return check(&policy.Compare{Left: *ref, Op: op, Values: []string{lit}})
}

// stringCompare translates startswith, endswith and contains on a string
// field.
func stringCompare(a, b *ast.Term, op policy.Op) (policy.Expr, bool) {
	ref, ok := fieldRef(a)
	if !ok || !ref.Type().Stringy() {
		return nil, false
	}
	s, ok := b.Value.(ast.String)
	if !ok {
		return nil, false
	}
	return check(&policy.Compare{Left: *ref, Op: op, Values: []string{string(s)}})
}

// member translates x in collection, for a collection of constants.
func member(x, coll *ast.Term) (policy.Expr, bool) {
	ref, ok := fieldRef(x)
	if !ok {
		return nil, false
	}
	var elems []*ast.Term
	switch c := coll.Value.(type) {
	case ast.Set:
		c.Sorted().Foreach(func(t *ast.Term) { elems = append(elems, t) })
	case *ast.Array:
		c.Foreach(func(t *ast.Term) { elems = append(elems, t) })
	case ast.Object:
		c.Foreach(func(_, v *ast.Term) { elems = append(elems, v) })
	default:
		return nil, false
	}
	if len(elems) == 0 {
		return &policy.Const{Value: false}, true
	}
	vals := make([]string, 0, len(elems))
	seen := map[string]bool{}
	for _, el := range elems {
		lit, ok := literal(el, ref.Type())
		if !ok {
			return nil, false
		}
		if !seen[lit] {
			seen[lit] = true
			vals = append(vals, lit)
		}
	}
	return check(&policy.Compare{Left: *ref, Op: policy.OpIn, Values: vals})
}

// regexMatch translates regex.match("^P$", x). OPA's regex.match searches
// (RE2, Perl syntax); Peregrine's regex operator matches the whole value
// with POSIX syntax and leftmost-longest semantics, where ^ and $ also
// match at newlines and [^a] does not match one. Both agree on whether a
// value without a newline matches when the pattern is anchored at both
// ends at its top level and P is valid POSIX syntax on its own. So:
//
//	(not x contains "\n" and x regex P) or (x contains "\n" and <OPA>)
func (t *translator) regexMatch(e *ast.Expr, pat, x *ast.Term) (policy.Expr, bool) {
	ref, ok := fieldRef(x)
	if !ok || !ref.Type().Stringy() {
		return nil, false
	}
	p, ok := pat.Value.(ast.String)
	if !ok {
		return nil, false
	}
	inner, ok := anchoredInner(string(p))
	if !ok {
		return nil, false
	}
	re, ok := check(&policy.Compare{Left: *ref, Op: policy.OpRegex, Values: []string{inner}})
	if !ok {
		return nil, false
	}
	nl := &policy.Compare{Left: *ref, Op: policy.OpContains, Values: []string{"\n"}}
	return &policy.Or{Exprs: []policy.Expr{
		&policy.And{Exprs: []policy.Expr{&policy.Not{X: nl}, re}},
		&policy.And{Exprs: []policy.Expr{nl, t.residual(ast.NewBody(e.Copy()))}},
	}}, true
}

// anchoredInner returns P for a pattern ^P$ whose anchors bind the whole
// pattern, when P is valid both as RE2 and as POSIX syntax on its own.
func anchoredInner(p string) (string, bool) {
	if len(p) < 2 || p[0] != '^' || p[len(p)-1] != '$' {
		return "", false
	}
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) < 2 ||
		re.Sub[0].Op != syntax.OpBeginText || re.Sub[len(re.Sub)-1].Op != syntax.OpEndText {
		return "", false
	}
	inner := p[1 : len(p)-1]
	if _, err := syntax.Parse(inner, syntax.Perl); err != nil {
		return "", false
	}
	if _, err := syntax.Parse(inner, syntax.POSIX); err != nil {
		return "", false
	}
	if _, err := regexp.CompilePOSIX("^(" + inner + ")$"); err != nil {
		return "", false
	}
	return inner, true
}

// globMatch translates glob.match(pattern, null, x). With null delimiters
// OPA's '*' crosses every character, as Falco's glob does; with [] OPA
// uses "." as the delimiter, so that form stays with OPA. Only patterns
// made of literal characters, '*' and '?' translate: character classes,
// alternatives and escapes differ between the two glob dialects.
func globMatch(pat, delims, x *ast.Term) (policy.Expr, bool) {
	if _, ok := delims.Value.(ast.Null); !ok {
		return nil, false
	}
	p, ok := pat.Value.(ast.String)
	if !ok || strings.ContainsAny(string(p), `[]{}\`) {
		return nil, false
	}
	ref, ok := fieldRef(x)
	if !ok || !ref.Type().Stringy() {
		return nil, false
	}
	return check(&policy.Compare{Left: *ref, Op: policy.OpGlob, Values: []string{string(p)}})
}

// netOf names the network field that tests an address field's value.
var netOf = map[string]string{"fd.cip": "fd.cnet", "fd.sip": "fd.snet", "fd.lip": "fd.lnet", "fd.rip": "fd.rnet"}

// mappedIPv4 holds the IPv4-mapped IPv6 addresses.
var mappedIPv4 = netip.MustParsePrefix("::ffff:0:0/96")

// cidrContains translates net.cidr_contains("N", x) for an address field
// x. OPA parses both with Go's net package, whose IPNet.Contains treats an
// IPv4-mapped IPv6 address as IPv4: an IPv4 network (written a.b.c.d/n or
// ::ffff:a.b.c.d/96+n) contains the IPv4 addresses in it and their mapped
// forms, an IPv6 network only the IPv6 addresses that are not mapped. A
// zoned address, which the input holds as such, is no IP for OPA (the
// builtin fails) and in no network for Falco. The IR spells this with the
// network field of x (fd.snet for fd.sip), whose prefixes follow
// net/netip: an IPv4 prefix holds no IPv6 address and the reverse.
func cidrContains(cidr, x *ast.Term) (policy.Expr, bool) {
	s, ok := cidr.Value.(ast.String)
	if !ok {
		return nil, false
	}
	ref, ok := fieldRef(x)
	if !ok || ref.Type() != policy.TypeIPAddr || len(ref.Transformers) > 0 || netOf[ref.Field.Name] == "" {
		return nil, false
	}
	_, n, err := net.ParseCIDR(string(s))
	if err != nil {
		return nil, false
	}
	netRef := policy.FieldRef{Field: policy.LookupField(netOf[ref.Field.Name]), Index: -1}
	ones, bits := n.Mask.Size()
	if v4 := n.IP.To4(); v4 != nil {
		if bits == 8*net.IPv6len {
			ones -= 96
		}
		if ones < 0 {
			return nil, false
		}
		a := netip.AddrFrom4([4]byte(v4))
		p4 := netip.PrefixFrom(a, ones)
		p6 := netip.PrefixFrom(netip.AddrFrom16(a.As16()), ones+96)
		return check(&policy.Compare{Left: netRef, Op: policy.OpIn, Values: []string{p4.String(), p6.String()}})
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return nil, false
	}
	p := netip.PrefixFrom(a, ones)
	in, ok := check(&policy.Compare{Left: netRef, Op: policy.OpEq, Values: []string{p.String()}})
	if !ok || !p.Overlaps(mappedIPv4) {
		return in, ok
	}
	mapped := &policy.Compare{Left: netRef, Op: policy.OpEq, Values: []string{mappedIPv4.String()}}
	return &policy.And{Exprs: []policy.Expr{in, &policy.Not{X: mapped}}}, true
}
