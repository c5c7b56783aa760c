package rego

import (
	"encoding/json"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/peregrine-sec/peregrine/policy"
)

// The input document.
//
// A Rego rule sees an event as input: Falco field a.b is input.a.b. The
// document is built from the event's values as the reference evaluator
// reads them (policy.Event.Strings), typed by the field catalog, so that a
// translated comparison and OPA agree on every event:
//
//   - every catalog field without an argument that the translation accepts
//     (see translatable; string, number and boolean fields) holds the value
//     the reference evaluator extracts: a string for string fields (an
//     event's number 123 is "123"), a number for numeric fields (an
//     event's "0" is 0; unsigned fields hold the value as an unsigned
//     64-bit number, as Falco compares them; a value that is no integer is
//     left out, as Falco ignores it), true/false for boolean fields, and
//     the canonical text of the address for address fields (fd.sip
//     holds "::1" for an event's "0:0::1"; a value that is no address is
//     left out), so that string equality is address equality;
//   - the ancestor fields (proc.aname, proc.apid, proc.aexe,
//     proc.aexepath, proc.acmdline) are arrays indexed like proc.aname[i]
//     (index 0 is the process itself), with null where the event lacks an
//     ancestor;
//   - evt.arg is an object keyed by argument name (input.evt.arg.flags),
//     its values strings;
//   - the DNS names of addresses (fd.sip.name...) are left out;
//   - every other value of the event is copied as the event holds it,
//     under its dotted name split at dots. Where a name is both a value and
//     the prefix of another (container.image and container.image.tag),
//     the deeper names win and the shorter one is left out; such fields are
//     never translated, so OPA alone decides them.
var (
	docFields     []*policy.FieldRef // translatable fields without argument
	docFieldSet   = map[string]bool{}
	ancestorNames = []string{"proc.aname", "proc.apid", "proc.aexe", "proc.aexepath", "proc.acmdline"}
	ancestorSet   = map[string]bool{}
	evtArg        = policy.LookupField("evt.arg")
	// conflicted holds the catalog fields whose input path is also a
	// prefix of another field's path, or lies below another field's.
	conflicted = map[string]bool{}
	// eitherFields match the client or the server value: several values,
	// which the input cannot hold as one.
	eitherFields = map[string]bool{"fd.ip": true, "fd.port": true, "fd.net": true, "fd.proto": true}
	// hostNames are the DNS names of socket addresses (fd.sip.name),
	// which would turn the address fields into objects. Peregrine does
	// not resolve names, so the input holds the addresses and leaves the
	// names out.
	hostNames = map[string]bool{"fd.cip.name": true, "fd.sip.name": true, "fd.lip.name": true, "fd.rip.name": true}
)

func init() {
	names := map[string]bool{}
	for _, f := range policy.Fields() {
		if !hostNames[f.Name] {
			names[f.Name] = true
		}
	}
	for n := range names {
		for i := strings.IndexByte(n, '.'); i > 0; i = nextDot(n, i) {
			if names[n[:i]] {
				conflicted[n[:i]] = true
				conflicted[n] = true
			}
		}
	}
	for _, n := range ancestorNames {
		ancestorSet[n] = true
	}
	for _, f := range policy.Fields() {
		fld := policy.LookupField(f.Name)
		if fld.Arg == policy.ArgNone && !fld.List && typeOK(fld.Type) && !conflicted[fld.Name] && !eitherFields[fld.Name] {
			docFields = append(docFields, &policy.FieldRef{Field: fld, Index: -1})
			docFieldSet[fld.Name] = true
		}
	}
}

func nextDot(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '.')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// typeOK reports whether comparisons on fields of type t translate: their
// values have one JSON type in the input.
func typeOK(t policy.FieldType) bool {
	return t.Stringy() || t.Numeric() || t == policy.TypeBool || t == policy.TypeIPAddr
}

// typedValue converts a value as the reference evaluator extracted it
// (text) to the JSON value the input holds for a field of type t; ok is
// false when the reference evaluator would ignore the value.
func typedValue(s string, t policy.FieldType) (*ast.Term, bool) {
	switch {
	case t.Numeric():
		n, ok := policy.ParseInt(s)
		if !ok {
			return nil, false
		}
		if unsigned(t) {
			return ast.NumberTerm(json.Number(strconv.FormatUint(uint64(n), 10))), true
		}
		return ast.NumberTerm(json.Number(strconv.FormatInt(n, 10))), true
	case t == policy.TypeBool:
		switch s {
		case "true":
			return ast.BooleanTerm(true), true
		case "false":
			return ast.BooleanTerm(false), true
		}
		return nil, false
	case t == policy.TypeIPAddr:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, false
		}
		return ast.StringTerm(a.String()), true
	}
	return ast.StringTerm(s), true
}

func unsigned(t policy.FieldType) bool {
	switch t {
	case policy.TypeUint64, policy.TypeUint32, policy.TypePort, policy.TypeRelTime, policy.TypeAbsTime:
		return true
	}
	return false
}

// Input returns the input document of an event (see the comment above).
func Input(ev *policy.Event) ast.Value { return inputOf(ev, nil) }

// inputOf builds the input document with only the fields need accepts
// (all when need is nil): a residual query reads a few fields, and
// extracting the whole catalog costs most of its evaluation.
func inputOf(ev *policy.Event, need func(string) bool) ast.Value {
	root := newDoc()
	// 1. Translatable fields, as the reference evaluator extracts them.
	for _, ref := range docFields {
		if need != nil && !need(ref.Field.Name) {
			continue
		}
		vals, ok := ev.Strings(ref)
		if !ok || len(vals) != 1 {
			continue
		}
		if t, ok := typedValue(vals[0], ref.Field.Type); ok {
			insert(root, ref.Field.Name, t)
		}
	}
	// The names of the fields the steps below may read: those need
	// accepts, the indexed ancestors of one it accepts, the arguments.
	var want func(string) bool
	if need != nil {
		args := need("evt.arg")
		want = func(name string) bool {
			if base, _, indexed := strings.Cut(name, "["); indexed && need(base) {
				return true
			}
			return need(name) || (args && strings.HasPrefix(name, "evt.arg"))
		}
	}
	names := ev.NamesWhere(want)
	// 2. Ancestor arrays.
	for _, a := range ancestorNames {
		if need != nil && !need(a) {
			continue
		}
		f := policy.LookupField(a)
		n := 2
		if raw, ok := ev.Raw(a); ok {
			if l, ok := raw.([]any); ok && len(l) > n {
				n = len(l)
			}
		}
		prefix := a + "["
		for _, name := range names {
			if rest, ok := strings.CutPrefix(name, prefix); ok {
				if i, err := strconv.Atoi(strings.TrimSuffix(rest, "]")); err == nil && i >= n && i < 1<<16 {
					n = i + 1
				}
			}
		}
		elems := make([]*ast.Term, 0, n)
		last := -1
		for i := 0; i < n; i++ {
			ref := &policy.FieldRef{Field: f, Arg: strconv.Itoa(i), HasArg: true, Index: i}
			t := ast.NullTerm()
			if vals, ok := ev.Strings(ref); ok && len(vals) == 1 {
				if v, ok := typedValue(vals[0], f.Type); ok {
					t, last = v, i
				}
			}
			elems = append(elems, t)
		}
		if last >= 0 {
			insert(root, a, ast.ArrayTerm(elems[:last+1]...))
		}
	}
	// 3. evt.arg, by argument name.
	args := map[string]bool{}
	for _, name := range names {
		switch {
		case strings.HasPrefix(name, "evt.arg."):
			args[name[len("evt.arg."):]] = true
		case strings.HasPrefix(name, "evt.arg[") && strings.HasSuffix(name, "]"):
			args[name[len("evt.arg["):len(name)-1]] = true
		case name == "evt.arg":
			raw, _ := ev.Raw(name)
			switch c := raw.(type) {
			case map[string]any:
				for k := range c {
					args[k] = true
				}
			case []any:
				for i := range c {
					args[strconv.Itoa(i)] = true
				}
			}
		}
	}
	if len(args) > 0 && (need == nil || need("evt.arg")) {
		var kvs [][2]*ast.Term
		for _, k := range sortedKeys(args) {
			ref := &policy.FieldRef{Field: evtArg, Arg: k, HasArg: true, Index: -1}
			if vals, ok := ev.Strings(ref); ok && len(vals) == 1 {
				kvs = append(kvs, [2]*ast.Term{ast.StringTerm(k), ast.StringTerm(vals[0])})
			}
		}
		if len(kvs) > 0 {
			insertTerm(root, []string{"evt", "arg"}, ast.ObjectTerm(kvs...))
		}
	}
	// 4. Everything else, deeper names first.
	sort.SliceStable(names, func(i, j int) bool {
		return strings.Count(names[i], ".") > strings.Count(names[j], ".")
	})
	for _, name := range names {
		if docFieldSet[name] || ancestorSet[name] || hostNames[name] || strings.HasPrefix(name, "evt.arg") ||
			strings.ContainsAny(name, "[]") || (need != nil && !need(name)) {
			continue
		}
		if base, _, ok := strings.Cut(name, "["); ok && ancestorSet[base] {
			continue
		}
		raw, _ := ev.Raw(name)
		t, err := ast.InterfaceToValue(raw)
		if err != nil {
			continue
		}
		insert(root, name, ast.NewTerm(t))
	}
	return root.value()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// docNode is a node of the input document while it is built: an object
// (kids) or a value (leaf). Objects are converted to ast at the end, so no
// ast value is changed after it is hashed.
type docNode struct {
	kids map[string]*docNode
	leaf *ast.Term
}

func newDoc() *docNode { return &docNode{kids: map[string]*docNode{}} }

// insert stores t at the dotted path name unless the path is taken or
// runs through a value that is not an object.
func insert(root *docNode, name string, t *ast.Term) {
	insertTerm(root, strings.Split(name, "."), t)
}

func insertTerm(root *docNode, path []string, t *ast.Term) {
	n := root
	for i, p := range path {
		if p == "" || n.leaf != nil {
			return
		}
		cur := n.kids[p]
		if i == len(path)-1 {
			if cur == nil {
				n.kids[p] = &docNode{leaf: t}
			}
			return
		}
		if cur == nil {
			cur = newDoc()
			n.kids[p] = cur
		}
		n = cur
	}
}

func (n *docNode) value() ast.Value {
	if n.leaf != nil {
		return n.leaf.Value
	}
	keys := make([]string, 0, len(n.kids))
	for k := range n.kids {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kvs := make([][2]*ast.Term, len(keys))
	for i, k := range keys {
		kvs[i] = [2]*ast.Term{ast.StringTerm(k), ast.NewTerm(n.kids[k].value())}
	}
	return ast.NewObject(kvs...)
}

// inputNeeds returns a filter accepting the field names whose values the
// modules can read through input (a reference input.a.b reads field a.b,
// the fields below it and the one above), or nil when a module reads the
// input whole or by a computed key.
func inputNeeds(modules []*ast.Module, bodies []ast.Body) func(string) bool {
	var paths []string
	whole := false
	visit := func(r ast.Ref) bool {
		if !r[0].Equal(ast.InputRootDocument) {
			return false
		}
		keys := stringKeys(r)
		if len(keys) == 0 {
			whole = true
		}
		paths = append(paths, strings.Join(keys, "."))
		return false
	}
	// The target of "with input as ..." (unit tests) replaces the input;
	// it reads nothing of it.
	walk := func(x any) {
		ast.NewGenericVisitor(func(x any) bool {
			switch x := x.(type) {
			case *ast.With:
				ast.WalkRefs(x.Value, visit)
				return true
			case ast.Ref:
				visit(x)
			}
			return false
		}).Walk(x)
	}
	for _, m := range modules {
		walk(m)
	}
	for _, b := range bodies {
		walk(b)
	}
	if whole {
		return nil
	}
	// read holds the paths read; above holds every proper prefix of them
	// (a field there holds an object the modules read into).
	read, above := map[string]bool{}, map[string]bool{}
	for _, p := range paths {
		read[p] = true
		for i := strings.IndexByte(p, '.'); i > 0; i = nextDot(p, i) {
			above[p[:i]] = true
		}
	}
	return func(name string) bool {
		if read[name] || above[name] {
			return true
		}
		for i := strings.IndexByte(name, '.'); i > 0; i = nextDot(name, i) {
			if read[name[:i]] {
				return true // a module reads an object holding the field
			}
		}
		return false
	}
}
