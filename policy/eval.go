package policy

import (
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Modifier turns a scalar string operator into a test against a list:
// "startswith anyof (a, b)".
type Modifier uint8

// Modifiers, as Falco spells them after an operator.
const (
	ModNone  Modifier = iota
	ModAnyOf          // some value of the list satisfies the operator
	ModAllOf          // every value of the list does
	ModOneOf          // exactly one value of the list does
)

var modifierNames = [...]string{ModAnyOf: "anyof", ModAllOf: "allof", ModOneOf: "oneof"}

func (m Modifier) String() string {
	if int(m) < len(modifierNames) {
		return modifierNames[m]
	}
	return fmt.Sprintf("Modifier(%d)", m)
}

// ParseModifier returns the modifier spelled s.
func ParseModifier(s string) (Modifier, bool) {
	for i, n := range modifierNames {
		if n == s && n != "" {
			return Modifier(i), true
		}
	}
	return ModNone, false
}

// ModifierOK reports whether op accepts a modifier.
func ModifierOK(op Op) bool {
	switch op {
	case OpEq, OpNe, OpContains, OpIContains, OpBContains, OpStartsWith,
		OpBStartsWith, OpEndsWith, OpGlob, OpIGlob, OpRegex:
		return true
	}
	return false
}

// value is one value, left or right, in the form its type compares in.
type value struct {
	s    string
	n    int64
	b    bool
	addr netip.Addr
	net  netip.Prefix
	re   *regexp.Regexp
	raw  []byte
}

// Check is a comparison prepared for evaluation: its literals parsed by the
// type of the field, its regexes compiled.
type Check struct {
	c        *Compare
	typ      FieldType
	unsigned bool
	list     bool
	rhs      []value
}

// PrepareCheck validates a comparison the way Falco's filter compiler does
// (operator allowed for the field type, literals parseable as that type,
// field arguments and transformers allowed) and prepares it. The error
// says what is wrong in Falco's words; it carries no position.
func PrepareCheck(c *Compare) (*Check, error) {
	k := &Check{c: c, typ: c.Left.Type(), list: c.Left.List()}
	k.unsigned = k.typ == TypeUint64 || k.typ == TypeUint32 || k.typ == TypePort ||
		k.typ == TypeRelTime || k.typ == TypeAbsTime
	if err := checkRef(&c.Left); err != nil {
		return nil, err
	}
	if err := opAllowed(c.Op, k.typ, k.list); err != nil {
		return nil, err
	}
	if c.Op == OpExists {
		return k, nil
	}
	if c.Right != nil {
		if err := checkRef(c.Right); err != nil {
			return nil, err
		}
		if c.Op == OpPmatch || c.Op == OpRegex || k.typ == TypeIPNet {
			return nil, fmt.Errorf("operator '%s' does not support right-hand side fields", c.Op)
		}
		if noRHS[c.Left.Field.Name] {
			return nil, fmt.Errorf("field '%s' doesn't support right-hand side fields", c.Left.Name())
		}
		if rt := c.Right.Type(); !sameCompareClass(rt, k.typ) || c.Right.List() != k.list {
			return nil, fmt.Errorf("field '%s' has type '%s' while the right-hand side field '%s' has incompatible type '%s'",
				c.Left.String(), k.typ, c.Right.String(), rt)
		}
		return k, nil
	}
	for _, lit := range c.Values {
		v, err := k.parseLiteral(lit)
		if err != nil {
			return nil, err
		}
		k.rhs = append(k.rhs, v)
	}
	if !c.Op.IsList() && c.Modifier == ModNone && len(k.rhs) != 1 {
		return nil, fmt.Errorf("operator '%s' takes exactly one value", c.Op)
	}
	return k, nil
}

// noRHS lists the fields Falco does not allow on the left of a val()
// comparison, because they have several values.
var noRHS = map[string]bool{
	"proc.aname": true, "proc.apid": true, "proc.aexe": true, "proc.aexepath": true,
	"proc.acmdline": true, "proc.aenv": true, "fd.ip": true, "fd.net": true, "fd.port": true,
	"fd.proto": true, "evt.rawarg": true,
}

// noTransformer lists the fields Falco refuses transformers on.
var noTransformer = map[string]bool{
	"proc.aname": true, "fd.cip.name": true, "fd.sip.name": true, "fd.lip.name": true, "fd.rip.name": true,
}

func sameCompareClass(a, b FieldType) bool {
	if a == b {
		return true
	}
	return (a.Stringy() && b.Stringy()) || (a.Numeric() && b.Numeric())
}

func checkRef(r *FieldRef) error {
	if r.Field.Arg == ArgKeyRequired && !r.HasArg {
		return fmt.Errorf("filter_check called with nonexistent field %s: the field requires an argument", r.Field.Name)
	}
	if r.Field.Arg == ArgNone && r.HasArg {
		return fmt.Errorf("filter_check called with nonexistent field %s: the field takes no argument", r.Name())
	}
	if r.Field.Arg == ArgIndexOptional && r.HasArg && r.Index < 0 {
		return fmt.Errorf("field %s: argument %q is not a number", r.Field.Name, r.Arg)
	}
	if len(r.Transformers) > 0 && noTransformer[r.Field.Name] {
		return fmt.Errorf("field '%s' does not support transformers", r.Field.Name)
	}
	t := r.Field.Type
	for _, tr := range r.Transformers {
		switch tr {
		case TransToLower, TransToUpper, TransBasename, TransB64:
			if !t.Stringy() && t != TypeBytes {
				return fmt.Errorf("can't add field transformer: type '%s' is not supported by '%s' transformer applied on field '%s'", t, tr, r.Field.Name)
			}
			t = TypeString
		case TransLen:
			if !t.Stringy() && t != TypeBytes && !r.Field.List {
				return fmt.Errorf("can't add field transformer: type '%s' is not supported by '%s' transformer applied on field '%s'", t, tr, r.Field.Name)
			}
			t = TypeUint64
		}
	}
	return nil
}

func opAllowed(op Op, t FieldType, list bool) error {
	if op == OpExists {
		return nil
	}
	if list {
		if op == OpIn || op == OpIntersects {
			return nil
		}
		return fmt.Errorf("'%s' operator not supported list filters", op)
	}
	var ok bool
	var kind string
	switch {
	case t.Numeric():
		kind = "numeric"
		ok = op <= OpGe || op == OpIn || op == OpIntersects
	case t == TypeBool:
		kind = "numeric"
		ok = op == OpEq || op == OpNe || op == OpIn || op == OpIntersects
	case t.Stringy():
		kind = "string"
		ok = op != OpBContains && op != OpBStartsWith
	case t == TypeBytes:
		kind = "buffer"
		switch op {
		case OpEq, OpNe, OpContains, OpBContains, OpStartsWith, OpBStartsWith, OpEndsWith, OpIn, OpIntersects:
			ok = true
		}
	case t == TypeIPAddr || t == TypeIPNet:
		kind = "ip address and network"
		ok = op == OpEq || op == OpNe || op == OpIn || op == OpIntersects
	}
	if !ok {
		return fmt.Errorf("filter error: '%s' operator not supported for %s filters", op, kind)
	}
	return nil
}

// parseLiteral converts a literal to the type the check compares in.
func (k *Check) parseLiteral(lit string) (value, error) {
	op := k.c.Op
	switch {
	case op == OpBContains || op == OpBStartsWith:
		b, err := hex.DecodeString(lit)
		if err != nil {
			return value{}, fmt.Errorf("filter error: bcontains and bstartswith operator support hex strings only")
		}
		return value{raw: b, s: string(b)}, nil
	case op == OpRegex:
		re, err := regexp.CompilePOSIX("^(" + lit + ")$")
		if err != nil {
			return value{}, fmt.Errorf("invalid regex pattern: %v", err)
		}
		return value{re: re, s: lit}, nil
	case k.typ == TypePort:
		if n, err := strconv.ParseUint(lit, 10, 16); err == nil {
			return value{n: int64(n)}, nil
		}
		if n, err := net.LookupPort("tcp", lit); err == nil {
			return value{n: int64(n)}, nil
		}
		return value{}, fmt.Errorf("unrecognized protocol %s", lit)
	case k.typ.Numeric():
		n, ok := parseInt(lit)
		if !ok {
			return value{}, fmt.Errorf("%s is not a valid number", lit)
		}
		return value{n: n}, nil
	case k.typ == TypeBool:
		switch lit {
		case "true":
			return value{b: true}, nil
		case "false":
			return value{b: false}, nil
		}
		return value{}, fmt.Errorf("filter error: unrecognized boolean value %s", lit)
	case k.typ == TypeIPAddr:
		a, err := netip.ParseAddr(lit)
		if err != nil {
			family := "IPv6"
			if strings.Contains(lit, ".") {
				family = "IPv4"
			}
			return value{}, fmt.Errorf("unrecognized %s address %s", family, lit)
		}
		return value{addr: a}, nil
	case k.typ == TypeIPNet:
		if !strings.Contains(lit, "/") {
			return value{}, fmt.Errorf("unrecognized IP network %s", lit)
		}
		p, err := netip.ParsePrefix(lit)
		if err != nil {
			return value{}, fmt.Errorf("invalid netmask in %s", lit)
		}
		return value{net: p.Masked()}, nil
	case op == OpIContains || op == OpIGlob:
		return value{s: strings.ToLower(lit)}, nil
	}
	return value{s: lit}, nil
}

// parseInt reads a decimal integer as sscanf("%d") would: optional blanks
// and sign, digits to the end. Values above the int64 range wrap, as they
// do for unsigned fields in C.
func parseInt(s string) (int64, bool) {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if u, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 64); err == nil {
		return int64(u), true
	}
	return 0, false
}

// Eval evaluates the check against an event.
func (k *Check) Eval(e *Event) bool {
	left, ok := k.values(&k.c.Left, e)
	if !ok || len(left) == 0 {
		return false
	}
	if k.c.Op == OpExists {
		return true
	}
	rhs := k.rhs
	if k.c.Right != nil {
		right, ok := k.values(k.c.Right, e)
		if !ok || len(right) == 0 {
			return false
		}
		rhs = right[:1]
		if k.typ == TypeIPAddr {
			rhs = []value{right[0]}
		}
	}
	if k.list {
		switch k.c.Op {
		case OpIn:
			for _, l := range left {
				if !k.inSet(l, rhs) {
					return false
				}
			}
			return true
		case OpIntersects:
			for _, l := range left {
				if k.inSet(l, rhs) {
					return true
				}
			}
			return false
		}
	}
	for _, l := range left {
		if k.matchOne(l, rhs) {
			return true
		}
	}
	return false
}

// matchOne applies the operator (and modifier) to one left value.
func (k *Check) matchOne(l value, rhs []value) bool {
	switch k.c.Modifier {
	case ModAnyOf, ModAllOf, ModOneOf:
		n := 0
		for _, r := range rhs {
			if k.cmp(k.c.Op, l, r) {
				n++
			}
		}
		switch k.c.Modifier {
		case ModAnyOf:
			return n > 0
		case ModAllOf:
			return n == len(rhs)
		default:
			return n == 1
		}
	}
	switch k.c.Op {
	case OpIn, OpIntersects:
		return k.inSet(l, rhs)
	case OpPmatch:
		for _, r := range rhs {
			if PathPrefixMatch(r.s, l.s) {
				return true
			}
		}
		return false
	}
	return k.cmp(k.c.Op, l, rhs[0])
}

func (k *Check) inSet(l value, rhs []value) bool {
	for _, r := range rhs {
		if k.cmp(OpEq, l, r) {
			return true
		}
	}
	return false
}

// cmp compares one left value with one right value.
func (k *Check) cmp(op Op, l, r value) bool {
	switch {
	case k.typ.Numeric():
		var c int
		if k.unsigned {
			c = cmp.Compare(uint64(l.n), uint64(r.n))
		} else {
			c = cmp.Compare(l.n, r.n)
		}
		return ordered(op, c)
	case k.typ == TypeBool:
		return ordered(op, cmpBool(l.b, r.b))
	case k.typ == TypeIPAddr:
		if r.net.IsValid() {
			return (op == OpEq) == r.net.Contains(l.addr)
		}
		if l.addr.Is4() != r.addr.Is4() {
			return op == OpNe
		}
		return ordered(op, l.addr.Compare(r.addr))
	case k.typ == TypeIPNet:
		net := r.net
		if !net.IsValid() {
			net = netip.PrefixFrom(r.addr, r.addr.BitLen())
		}
		return (op == OpEq) == net.Contains(l.addr)
	}
	switch op {
	case OpContains:
		return strings.Contains(l.s, r.s)
	case OpIContains:
		// The literal is lowered already; a right-hand field is not.
		return ContainsFold(l.s, r.s)
	case OpBContains:
		return strings.Contains(l.s, r.s)
	case OpStartsWith, OpBStartsWith:
		return strings.HasPrefix(l.s, r.s)
	case OpEndsWith:
		return strings.HasSuffix(l.s, r.s)
	case OpGlob:
		return Glob(r.s, l.s, false)
	case OpIGlob:
		return Glob(r.s, l.s, true)
	case OpRegex:
		if r.re == nil {
			return false
		}
		return r.re.MatchString(l.s)
	case OpPmatch:
		return PathPrefixMatch(r.s, l.s)
	}
	return ordered(op, strings.Compare(l.s, r.s))
}

func cmpBool(a, b bool) int {
	if a == b {
		return 0
	}
	return 1
}

func ordered(op Op, c int) bool {
	switch op {
	case OpEq, OpIn, OpIntersects:
		return c == 0
	case OpNe:
		return c != 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	case OpGt:
		return c > 0
	case OpGe:
		return c >= 0
	}
	return false
}

// PathPrefixMatch reports whether path lies at or below prefix, comparing
// whole components ("/var/run" matches "/var/run/x" but not "/var/runx").
// Components of prefix that hold glob characters match by Glob. Empty
// components are ignored, so "/" matches every path.
func PathPrefixMatch(prefix, path string) bool {
	for {
		var pc, vc string
		pc, prefix = nextComponent(prefix)
		if pc == "" {
			return true
		}
		vc, path = nextComponent(path)
		if vc == "" {
			return false
		}
		if pc != vc && !(HasGlobMeta(pc) && Glob(pc, vc, false)) {
			return false
		}
	}
}

func nextComponent(p string) (string, string) {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	i := strings.IndexByte(p, '/')
	if i < 0 {
		return p, ""
	}
	return p[:i], p[i:]
}

// values extracts the values of a reference from the event, converted to
// the type the check compares in. ok is false when the event lacks the
// field.
func (k *Check) values(ref *FieldRef, e *Event) ([]value, bool) {
	strs, ok := e.Strings(ref)
	if !ok {
		return nil, false
	}
	typ := ref.Type()
	out := make([]value, 0, len(strs))
	for _, s := range strs {
		if v, ok := convert(s, typ); ok {
			out = append(out, v)
		}
	}
	return out, len(out) > 0
}

// Strings returns the values of a reference in the event as text, with
// its transformers applied. Most fields have one value; ancestor fields
// without an index and list fields may have several. ok is false when the
// event lacks the field or a transformer fails (b64 of invalid base64).
func (e *Event) Strings(ref *FieldRef) ([]string, bool) {
	k, ok := KeyOfRef(ref)
	if !ok {
		return nil, false
	}
	vals := e.Values(k, nil)
	strs := make([]string, 0, len(vals))
	for _, v := range vals {
		if s, ok := v.Text(); ok {
			strs = append(strs, s)
		}
	}
	if len(strs) == 0 {
		return nil, false
	}
	list := ref.Field.List && !ref.HasArg
	for _, tr := range ref.Transformers {
		switch tr {
		case TransToLower:
			for i := range strs {
				strs[i] = strings.ToLower(strs[i])
			}
		case TransToUpper:
			for i := range strs {
				strs[i] = strings.ToUpper(strs[i])
			}
		case TransBasename:
			for i := range strs {
				if j := strings.LastIndexByte(strs[i], '/'); j >= 0 {
					strs[i] = strs[i][j+1:]
				}
			}
		case TransB64:
			for i := range strs {
				d, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(strs[i], "="))
				if err != nil {
					return nil, false
				}
				strs[i] = string(d)
			}
		case TransLen:
			if list {
				strs = []string{strconv.Itoa(len(strs))}
			} else {
				for i := range strs {
					strs[i] = strconv.Itoa(len(strs[i]))
				}
			}
			list = false
		}
	}
	return strs, true
}

// convert turns an extracted string into a value of type t; ok is false
// when the string cannot be read as that type.
func convert(s string, t FieldType) (value, bool) {
	switch {
	case t.Numeric():
		n, ok := parseInt(s)
		return value{n: n}, ok
	case t == TypeBool:
		b, ok := toBool(s)
		return value{b: b}, ok
	case t == TypeIPAddr || t == TypeIPNet:
		a, err := netip.ParseAddr(s)
		return value{addr: a}, err == nil
	}
	return value{s: s}, true
}

func toBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch x {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}
