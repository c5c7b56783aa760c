package rego

import (
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/peregrine-sec/peregrine/policy"
)

// Load-time checks of what OPA accepts but Peregrine can tell is a
// mistake: a reference to input that no event ever defines (an error), a
// package written for OPA's usual entry points that Peregrine never reads
// and a Falco list that nothing loaded defines (warnings). OPA compiles
// all three without a word; each would silently never fire, or always.

// Codes of the warnings Load returns.
const (
	// WarnNoAlert: a package defines allow, deny or violation but no
	// alert, so it raises nothing.
	WarnNoAlert = "LOAD_REGO_NO_ALERT"
	// WarnUndefinedList: a rule reads data.falco.lists.NAME and nothing
	// loaded defines it.
	WarnUndefinedList = "LOAD_REGO_UNDEFINED_LIST"
)

// inputNode is a node of the tree of the input document's paths that the
// field catalog defines: proc, then proc.name...
type inputNode struct {
	kids  map[string]*inputNode
	field *policy.Field // nil for an object that only holds fields
}

var inputTree = func() *inputNode {
	root := &inputNode{kids: map[string]*inputNode{}}
	for _, f := range policy.Fields() {
		if hostNames[f.Name] {
			continue // never in the input (see input.go)
		}
		n := root
		for _, k := range strings.Split(f.Name, ".") {
			if n.kids[k] == nil {
				n.kids[k] = &inputNode{kids: map[string]*inputNode{}}
			}
			n = n.kids[k]
		}
		n.field = policy.LookupField(f.Name)
	}
	return root
}()

// unknownKey returns the index of the first key of an input path (the
// string keys after input) below which the input never holds a value, or
// -1 when the path is one a field can fill. Below a field that takes an
// argument (evt.arg.NAME, proc.env.HOME) any key may hold one; a field
// without one holds a scalar, or an object of its deeper fields.
func unknownKey(keys []string) int {
	n := inputTree
	for i, k := range keys {
		next := n.kids[k]
		if next == nil {
			if n.field != nil && (n.field.Arg != policy.ArgNone || n.field.List) {
				return -1
			}
			return i
		}
		n = next
	}
	return -1
}

// suggest returns the path with its unknown key replaced by the nearest
// key its parent holds, when one is near and the result is known.
func suggest(keys []string, bad int) string {
	n := inputTree
	for _, k := range keys[:bad] {
		n = n.kids[k]
	}
	kids := make([]string, 0, len(n.kids))
	for k := range n.kids {
		kids = append(kids, k)
	}
	sort.Strings(kids)
	best, bestD := "", 3
	for _, k := range kids {
		if d := policy.EditDistance(keys[bad], k, bestD); d < bestD {
			best, bestD = k, d
		}
	}
	// Two edits in a key of three letters make any key a "near" one.
	if best == "" || 2*bestD > len(keys[bad]) {
		return ""
	}
	fixed := append(append(append([]string{}, keys[:bad]...), best), keys[bad+1:]...)
	if unknownKey(fixed) >= 0 {
		return ""
	}
	return "input" + refString(fixed)
}

// refLoc is the position of a reference: its term's, else its head's
// (the compiler leaves some rewritten references without one).
func refLoc(t *ast.Term, r ast.Ref) *ast.Location {
	if t.Location != nil {
		return t.Location
	}
	return r[0].Location
}

// stringKeys returns the leading string keys of r after its head: the
// part of the path a reference names statically.
func stringKeys(r ast.Ref) []string {
	var keys []string
	for _, t := range r[1:] {
		s, ok := t.Value.(ast.String)
		if !ok {
			break
		}
		keys = append(keys, string(s))
	}
	return keys
}

// eachRef calls fn, once per position and text, for every reference of
// the modules whose head is head (input or data).
func eachRef(modules []*ast.Module, head *ast.Term, fn func(r ast.Ref, l *ast.Location)) {
	seen := map[string]bool{}
	for _, m := range modules {
		ast.WalkTerms(m, func(t *ast.Term) bool {
			r, ok := t.Value.(ast.Ref)
			if !ok || !r[0].Equal(head) {
				return false
			}
			l := refLoc(t, r)
			key := locPos(l).String() + " " + r.String()
			if !seen[key] {
				seen[key] = true
				fn(r, l)
			}
			return false
		})
	}
}

// unknownInputs reports every reference to an input path that no event
// holds: input.proc.nmae, input.fd.sip.name. References that read the
// input whole, or by a key computed at evaluation (input.proc.aname[i],
// input[k]), are checked up to that key.
func unknownInputs(modules []*ast.Module) []error {
	var errs []error
	eachRef(modules, ast.InputRootDocument, func(r ast.Ref, l *ast.Location) {
		keys := stringKeys(r)
		bad := unknownKey(keys)
		if bad < 0 {
			return
		}
		path := "input" + refString(keys)
		name := strings.Join(keys[:bad+1], ".")
		switch {
		case hostNames[name]:
			errs = append(errs, errorf(l, "unknown input path %s: Peregrine does not resolve DNS names, so the input has no %s", path, name))
		default:
			msg := fmt.Sprintf("unknown input path %s: Peregrine's input has no such field", path)
			if s := suggest(keys, bad); s != "" {
				msg += "; did you mean " + s + "?"
			} else {
				msg += " (peregrine fields --rego lists them)"
			}
			errs = append(errs, errorf(l, "%s", msg))
		}
	})
	return errs
}

var falcoLists = ast.MustParseRef("data.falco.lists")

// falcoListRefs returns the Falco lists the modules read,
// data.falco.lists.NAME, and a warning for every reference to one that no
// loaded module or data document defines: the expressions reading it are
// undefined for every event, so the rule compiles as if they were false
// (or true under not).
func falcoListRefs(c *ast.Compiler, modules []*ast.Module) ([]string, []*policy.Diagnostic) {
	var warns []*policy.Diagnostic
	read := map[string]bool{}
	eachRef(modules, ast.DefaultRootDocument, func(r ast.Ref, l *ast.Location) {
		if len(r) < 4 || !r.HasPrefix(falcoLists) {
			return
		}
		name, ok := r[3].Value.(ast.String)
		if !ok {
			return
		}
		read[string(name)] = true
		if len(c.GetRules(r[:4])) > 0 {
			return
		}
		warns = append(warns, &policy.Diagnostic{Pos: locPos(l), Code: WarnUndefinedList, Item: string(name),
			Msg: fmt.Sprintf("undefined list %s: no file loaded defines it, so what reads it is undefined for every event", r[:4])})
	})
	names := make([]string, 0, len(read))
	for n := range read {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, warns
}

// opaEntryPoints are the rules OPA policies commonly decide with.
var opaEntryPoints = map[string]bool{"allow": true, "deny": true, "violation": true}

// noAlert warns of a package that defines allow, deny or violation but
// no alert, at the first such rule, unless another package reads that
// rule (the package is a library). modules are the package's.
func noAlert(pkg ast.Ref, modules []*ast.Module, readers []*ast.Module) *policy.Diagnostic {
	for _, m := range modules {
		for _, r := range m.Rules {
			head := r.Head.Ref()[0].String()
			if !opaEntryPoints[head] {
				continue
			}
			if readOutside(pkg.Append(ast.StringTerm(head)), readers) {
				return nil
			}
			return &policy.Diagnostic{Pos: locPos(r.Location), Code: WarnNoAlert, Item: strings.TrimPrefix(pkg.String(), "data."),
				Msg: fmt.Sprintf("the package defines %s but no alert: Peregrine reads only alert (alert if { ... }), so it raises nothing", head)}
		}
	}
	return nil
}

// readOutside reports whether a module of readers reads the document
// at ref, or one holding it.
func readOutside(ref ast.Ref, readers []*ast.Module) bool {
	found := false
	for _, m := range readers {
		ast.WalkRefs(m, func(r ast.Ref) bool {
			g := r.GroundPrefix()
			if r[0].Equal(ast.DefaultRootDocument) && (g.HasPrefix(ref) || ref.HasPrefix(g)) {
				found = true
			}
			return found
		})
	}
	return found
}
