// Package rego is Peregrine's Rego front end: it loads detection rules
// written in Rego (v1 syntax) and lowers them into the IR of package
// policy.
//
// Every package that defines alert is one rule; alert must be a boolean
// rule (alert if { ... }). The rule's fields come from OPA METADATA
// annotations on the package or on its alert rules:
//
//	title            -> Name         default: the package path (a.b.c)
//	description      -> Desc         default: the name
//	custom.priority  -> Priority     default: Warning (Falco's names)
//	custom.tags      -> Tags         default: none (a list of strings)
//	custom.output    -> Output       default: DefaultOutput after the name
//
// The output template uses the syntax of Falco's output key (%proc.name,
// %proc.aname[2], %evt.arg.flags, %20proc.name, %tolower(proc.name)),
// plus %% for a percent sign.
// Two annotations that set the same key to different values are an error;
// subpackages-scope annotations of enclosing packages are defaults that
// the package's own annotations may override. Source is "syscall".
//
// A rule's condition is the partial evaluation of data.<pkg>.alert == true
// with input unknown: every residual query is a branch of an Or, its
// expressions the operands of an And. Expressions that translate become
// comparisons (see translate.go for which ones, and input.go for the
// input document that makes them agree with OPA); the others of a branch
// become one policy.Residual evaluated by OPA with a query prepared at
// load, after the translated ones.
package rego

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/peregrine-sec/peregrine/policy"
)

// DefaultOutput follows the rule's name in the output of rules that set
// no custom.output.
const DefaultOutput = " (user=%user.name user_uid=%user.uid process=%proc.name proc_exepath=%proc.exepath parent=%proc.pname command=%proc.cmdline container_id=%container.id)"

// DefaultPriority is the priority of rules that set none.
const DefaultPriority = policy.PriorityWarning

// Refused are the builtins a rule may not call: they reach outside the
// event (the network, the OPA runtime) or are not functions of it (the
// clock, randomness). A rule must decide from the event alone; the
// event's time is input.evt.rawtime. Every builtin OPA marks
// non-deterministic is refused too. net.cidr_* and the JWT and crypto
// builtins compute from their arguments and are allowed.
var Refused = []string{"http.send", "net.lookup_ip_addr", "opa.runtime", "time.now_ns", "rand.intn", "uuid.rfc4122"}

// partialPrefix names the packages of the partial evaluation's support
// rules; user packages may not start with it.
const partialPrefix = "peregrine_partial_"

// residualPackage holds one rule per residual query.
const residualPackage = partialPrefix + "residual"

// Error is an error in a Rego file, with its position.
type Error struct {
	Pos policy.Pos
	Msg string
	// Source is the line of the file at Pos, to show under the message
	// (see policy.Diagnostic.Excerpt); "" when unknown.
	Source string
}

func (e *Error) Error() string {
	if e.Pos.File == "" {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

func locPos(l *ast.Location) policy.Pos {
	if l == nil {
		return policy.Pos{}
	}
	return policy.Pos{File: l.File, Line: l.Row, Column: l.Col}
}

func errorf(l *ast.Location, format string, args ...any) *Error {
	return &Error{Pos: locPos(l), Msg: fmt.Sprintf(format, args...)}
}

// astErrors converts OPA's errors (parse, compile, type) to Errors.
func astErrors(err error) error {
	var list ast.Errors
	if !errors.As(err, &list) {
		return err
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		out = append(out, &Error{Pos: locPos(e.Location), Msg: e.Code + ": " + e.Message})
	}
	return errors.Join(out...)
}

// capabilities are OPA's capabilities for this version without the
// refused builtins, and with no network access.
func capabilities() (*ast.Capabilities, map[string]bool) {
	caps := ast.CapabilitiesForThisVersion()
	refused := map[string]bool{}
	for _, n := range Refused {
		refused[n] = true
	}
	var keep []*ast.Builtin
	for _, b := range caps.Builtins {
		if b.Nondeterministic {
			refused[b.Name] = true
		}
		if !refused[b.Name] {
			keep = append(keep, b)
		}
	}
	caps.Builtins = keep
	caps.AllowNet = []string{}
	return caps, refused
}

// Loaded is what Load gives besides its errors.
type Loaded struct {
	// Rules are one per package that defines alert, sorted by package
	// path; none when there are errors.
	Rules []*policy.Rule
	// Warnings have the codes WarnNoAlert and WarnUndefinedList, and are
	// sorted by position; there may be some beside errors.
	Warnings []*policy.Diagnostic
	// Lists are the Falco lists the modules read (data.falco.lists.NAME),
	// sorted: the Falco front end does not know they are used.
	Lists []string
}

// Load reads Rego modules (file name -> source; only .rego files) and
// returns one rule per package that defines alert, the warnings and the
// Falco lists read (see Loaded; never nil). Errors are *Error values
// (joined) naming file:line:col, with the source line; so are the
// warnings.
func Load(files map[string][]byte) (*Loaded, error) {
	out, err := load(files)
	for _, w := range out.Warnings {
		w.Source = sourceLine(files[w.Pos.File], w.Pos.Line)
	}
	sort.SliceStable(out.Warnings, func(i, j int) bool { return posLess(out.Warnings[i].Pos, out.Warnings[j].Pos) })
	if err == nil {
		return out, nil
	}
	// One flat list, so that callers can split it with one Unwrap.
	errs := unjoin(err)
	for _, e := range errs {
		if re, ok := e.(*Error); ok && re.Source == "" {
			re.Source = sourceLine(files[re.Pos.File], re.Pos.Line)
		}
	}
	out.Rules = nil
	return out, errors.Join(errs...)
}

func load(files map[string][]byte) (*Loaded, error) {
	out := &Loaded{}
	caps, refused := capabilities()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	modules := map[string]*ast.Module{}
	var errs []error
	for _, n := range names {
		if path.Ext(n) != ".rego" {
			errs = append(errs, &Error{Pos: policy.Pos{File: n}, Msg: "not a .rego file"})
			continue
		}
		m, err := ast.ParseModuleWithOpts(n, string(files[n]), ast.ParserOptions{
			ProcessAnnotation: true, RegoVersion: ast.RegoV1, Capabilities: caps})
		if err != nil {
			errs = append(errs, astErrors(err))
			continue
		}
		if strings.HasPrefix(m.Package.Path.String(), "data."+partialPrefix) {
			errs = append(errs, errorf(m.Package.Location, "package names starting with %s are reserved", partialPrefix))
		}
		errs = append(errs, refusedCalls(m, refused)...)
		errs = append(errs, alertHeads(m)...)
		modules[n] = m
	}
	if len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	c := ast.NewCompiler().WithCapabilities(caps)
	if c.Compile(modules); c.Failed() {
		return out, astErrors(c.Errors)
	}
	compiled := make([]*ast.Module, len(names))
	for i, n := range names {
		compiled[i] = c.Modules[n]
	}
	errs = append(errs, unknownInputs(compiled)...)
	out.Lists, out.Warnings = falcoListRefs(c, compiled)
	// Packages that define alert, with their modules and alert rules.
	type pkg struct {
		path    ast.Ref
		modules []*ast.Module
		alerts  []*ast.Rule
	}
	pkgs := map[string]*pkg{}
	for _, n := range names {
		m := c.Modules[n]
		key := m.Package.Path.String()
		p := pkgs[key]
		if p == nil {
			p = &pkg{path: m.Package.Path}
			pkgs[key] = p
		}
		p.modules = append(p.modules, m)
		for _, r := range m.Rules {
			if isAlert(r) {
				p.alerts = append(p.alerts, r)
			}
		}
	}
	keys := make([]string, 0, len(pkgs))
	for k, p := range pkgs {
		if len(p.alerts) > 0 {
			keys = append(keys, k)
			continue
		}
		// Modules made from data documents hold no rules of the user's.
		var own, others []*ast.Module
		for _, m := range compiled {
			switch {
			case !m.Package.Path.Equal(p.path):
				others = append(others, m)
			case !strings.HasPrefix(m.Package.Location.File, DataFilePrefix):
				own = append(own, m)
			}
		}
		if w := noAlert(p.path, own, others); w != nil {
			out.Warnings = append(out.Warnings, w)
		}
	}
	sort.Strings(keys)
	var queries []*query
	var support []*ast.Module
	var rules []*policy.Rule
	seen := map[string]policy.Pos{}
	for i, k := range keys {
		p := pkgs[k]
		ref := p.path.Append(ast.StringTerm("alert"))
		if tpe := c.TypeEnv.GetByRef(ref); tpe != nil && types.Compare(tpe, types.B) != 0 {
			errs = append(errs, errorf(p.alerts[0].Location, "alert must be a boolean rule; it has type %v", tpe))
			continue
		}
		r, err := metadata(c, p.path, p.modules, p.alerts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := seen[r.Name]; dup {
			errs = append(errs, &Error{Pos: r.Pos, Msg: fmt.Sprintf("rule %q is also defined at %s", r.Name, prev)})
			continue
		}
		seen[r.Name] = r.Pos
		ns := fmt.Sprintf("%s%d", partialPrefix, i)
		pq, err := rego.New(rego.Query(ref.String()+" == true"), rego.Compiler(c), rego.Capabilities(caps),
			rego.Unknowns([]string{"input"}), rego.PartialNamespace(ns)).Partial(context.Background())
		if err != nil {
			errs = append(errs, &Error{Pos: r.Pos, Msg: fmt.Sprintf("partial evaluation of %s: %v", ref, err)})
			continue
		}
		t := &translator{compiler: c, caps: caps, support: map[string][]*ast.Rule{}, queries: &queries}
		for _, m := range pq.Support {
			for _, sr := range m.Rules {
				path := sr.Ref()
				if !path.IsGround() {
					continue
				}
				if !path[0].Equal(ast.DefaultRootDocument) {
					path = m.Package.Path.Extend(path)
				}
				t.support[path.String()] = append(t.support[path.String()], sr)
			}
		}
		support = append(support, pq.Support...)
		or := &policy.Or{}
		for _, q := range pq.Queries {
			or.Exprs = append(or.Exprs, t.body(q))
		}
		r.Condition = factor(policy.Fold(or))
		if types, all := policy.InferEventTypes(r.Condition); !all {
			r.EventTypes = append([]string{}, types...)
		}
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	if err := prepare(modules, support, caps, queries); err != nil {
		return out, err
	}
	out.Rules = rules
	return out, nil
}

// sourceLine returns line n (from 1) of src, without its end of line.
func sourceLine(src []byte, n int) string {
	if n < 1 {
		return ""
	}
	lines := strings.SplitN(string(src), "\n", n+1)
	if len(lines) < n {
		return ""
	}
	return strings.TrimRight(lines[n-1], "\r")
}

func posLess(a, b policy.Pos) bool {
	if a.File != b.File {
		return a.File < b.File
	}
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Column < b.Column
}

// unjoin splits errors.Join errors, nested too, into their parts.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, unjoin(e)...)
	}
	return out
}

// prepare compiles the user modules with the support modules and prepares
// every residual query against them.
func prepare(modules map[string]*ast.Module, support []*ast.Module, caps *ast.Capabilities, queries []*query) error {
	if len(queries) == 0 {
		return nil
	}
	all := make(map[string]*ast.Module, len(modules)+len(support))
	for n, m := range modules {
		all[n] = m
	}
	for i, m := range support {
		all[fmt.Sprintf("%s%d.rego", partialPrefix, i)] = m
	}
	// Each residual is the body of a rule of a generated package, so that
	// OPA evaluates it with the semantics of a rule body (a query would
	// capture the value of each expression).
	mod := &ast.Module{Package: &ast.Package{Path: ast.MustParseRef("data." + residualPackage)}}
	for i, q := range queries {
		name := fmt.Sprintf("r%d", i)
		r := &ast.Rule{Head: ast.RefHead(ast.Ref{ast.VarTerm(name)}, ast.BooleanTerm(true)), Body: q.body, Module: mod}
		mod.Rules = append(mod.Rules, r)
	}
	mod.SetRegoVersionSpan(ast.RegoVersionSpanOf(ast.RegoV1))
	all[residualPackage+".rego"] = mod
	c := ast.NewCompiler().WithCapabilities(caps)
	if c.Compile(all); c.Failed() {
		return fmt.Errorf("compiling the residual queries: %w", astErrors(c.Errors))
	}
	var mods []*ast.Module
	for _, m := range all {
		mods = append(mods, m)
	}
	need := inputNeeds(mods, nil)
	for i, q := range queries {
		ref := fmt.Sprintf("data.%s.r%d", residualPackage, i)
		pq, err := rego.New(rego.Query(ref), rego.Compiler(c), rego.Capabilities(caps)).
			PrepareForEval(context.Background())
		if err != nil {
			return fmt.Errorf("preparing residual query %s: %w", q.text, err)
		}
		q.pq = pq
		q.need = need
	}
	return nil
}

func isAlert(r *ast.Rule) bool {
	ref := r.Head.Ref()
	return len(ref) >= 1 && ref[0].Equal(ast.VarTerm("alert"))
}

// alertHeads refuses alert rules that cannot be boolean: sets, objects,
// functions, constants other than true and false.
func alertHeads(m *ast.Module) []error {
	var errs []error
	for _, r := range m.Rules {
		if !isAlert(r) {
			continue
		}
		h := r.Head
		switch {
		case len(h.Ref()) > 1 || h.Key != nil && h.Value == nil:
			errs = append(errs, errorf(r.Location, "alert must be a boolean rule (alert if { ... }), not a set or an object"))
		case len(h.Args) > 0:
			errs = append(errs, errorf(r.Location, "alert must be a boolean rule (alert if { ... }), not a function"))
		case h.Value != nil && ast.IsScalar(h.Value.Value):
			if _, ok := h.Value.Value.(ast.Boolean); !ok {
				errs = append(errs, errorf(h.Value.Location, "alert must be a boolean rule; its value is %v", h.Value))
			}
		case h.Value != nil && isComposite(h.Value.Value):
			errs = append(errs, errorf(h.Value.Location, "alert must be a boolean rule; its value is %v", h.Value))
		}
	}
	return errs
}

// refusedCalls reports every call of a refused builtin.
func refusedCalls(m *ast.Module, refused map[string]bool) []error {
	var errs []error
	report := func(name string, l *ast.Location) {
		if refused[name] {
			errs = append(errs, errorf(l, "builtin %s is not allowed in Peregrine rules: rules must decide from the event alone", name))
		}
	}
	ast.WalkExprs(m, func(e *ast.Expr) bool {
		if e.IsCall() {
			report(e.Operator().String(), e.Location)
		}
		return false
	})
	ast.WalkTerms(m, func(t *ast.Term) bool {
		if c, ok := t.Value.(ast.Call); ok && len(c) > 0 {
			report(c[0].String(), t.Location)
		}
		return false
	})
	return errs
}

func isComposite(v ast.Value) bool {
	switch v.(type) {
	case *ast.Array, ast.Object, ast.Set, *ast.ArrayComprehension, *ast.SetComprehension, *ast.ObjectComprehension:
		return true
	}
	return false
}
