package falcocompat

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
)

// Compile resolves lists, macros and exceptions and lowers every rule to
// the IR. Problems found are in the result; its Ruleset is nil when there
// are errors.
func (l *Loader) Compile() *Result {
	res := l.res
	if len(res.Errors) > 0 {
		return res
	}
	l.compileLists()
	l.compileMacros()
	// Every rule is measured before any is lowered: rules that together
	// write out more than the budget are refused before the work.
	rules := l.sortedRules()
	preps := make([]*prepared, len(rules))
	for i, d := range rules {
		if l.spent() {
			return res // every later item would be refused the same way
		}
		preps[i] = l.prepareRule(d)
	}
	if l.spent() {
		return res
	}
	rs := &policy.Ruleset{}
	for i, d := range rules {
		if r := l.compileRule(d, preps[i]); r != nil {
			rs.Rules = append(rs.Rules, r)
		}
	}
	for _, m := range l.macros {
		if !m.used {
			l.warn(m.pos, warnUnusedMacro, itemRef("macro", m.name), "Macro not referred to by any other rule/macro")
		}
	}
	for _, li := range l.lists {
		if !li.used {
			l.warn(li.pos, warnUnusedList, itemRef("list", li.name), "List not referred to by any other rule/macro")
		}
	}
	res.Rules, res.Macros, res.Lists = len(rs.Rules), len(l.macros), len(l.lists)
	res.ListItems = map[string][]string{}
	for _, li := range l.lists {
		res.ListItems[li.name] = li.compiledSet
	}
	if len(res.Errors) == 0 {
		res.Ruleset = rs
	}
	return res
}

func (l *Loader) sortedRules() []*ruleDef {
	out := append([]*ruleDef(nil), l.rules...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].index < out[j].index })
	return out
}

// compileLists expands, one level deep, items that name a list visible to
// the list being compiled. A list's size is measured before it is built:
// lists that each include the one before twice would otherwise double at
// every step.
func (l *Loader) compileLists() {
	for _, li := range l.lists {
		li.size = 0
		for _, it := range li.items {
			li.size += len(quoteItem(it)) + 2
		}
	}
	for _, li := range l.lists {
		if l.spent() {
			return
		}
		size, added := 0, 0
		for _, it := range li.items {
			if i, ok := l.byName["list:"+it]; ok && l.lists[i].index < li.vis {
				n := l.lists[i].size
				size, added = addSat(size, n), addSat(added, n)
				continue
			}
			size += len(quoteItem(it)) + 2
		}
		item := itemRef("list", li.name)
		if size > l.limits.ConditionBytes {
			l.fail(li.pos, errLimit, item, fmt.Sprintf("the list is %d bytes long with the lists it includes written out: over the condition size limit of %d bytes", size, l.limits.ConditionBytes))
			li.compiledSet = li.items // unexpanded: the load has failed, but the conditions using it are still checked
			continue
		}
		if !l.expand(added) {
			l.failAt(l.budgetError(li.pos), item)
			return
		}
		var items []string
		for _, it := range li.items {
			if i, ok := l.byName["list:"+it]; ok && l.lists[i].index < li.vis {
				ref := l.lists[i]
				ref.used = true
				items = append(items, ref.items...)
				continue
			}
			items = append(items, it)
		}
		li.compiledSet = items
	}
}

// substituteLists replaces list names in a condition by their items, as
// text, the way Falco does before parsing. The origins map each byte of
// the result to the byte of text it came from. It returns false when the
// result would be longer than limit.
func (l *Loader) substituteLists(text string, limit int) (string, origins, bool) {
	org := origins{{n: len(text)}}
	for _, li := range l.lists {
		if !strings.Contains(text, li.name) {
			continue
		}
		var ok bool
		if text, org, ok = replaceList(text, org, li, limit); !ok {
			return "", nil, false
		}
	}
	return text, org, true
}

// span maps n bytes of a substituted text, from off, to the text it was
// made from: byte off+i to src+i, or, when fixed (the bytes were written
// in for a list reference), every one of them to src.
type span struct {
	off, src, n int
	fixed       bool
}

// origins are the spans of a substituted text, in order. They take a few
// words per list reference, where a map per byte would take eight bytes
// per byte of every condition.
type origins []span

// at maps an offset of the substituted text to the original text.
func (o origins) at(off int) int {
	i := sort.Search(len(o), func(i int) bool { return o[i].off+o[i].n > off })
	if i == len(o) {
		i--
	}
	if o[i].fixed {
		return o[i].src
	}
	return o[i].src + off - o[i].off
}

// appendRange appends the spans of bytes [from, to) of the text o maps,
// moved to start at offset at of a new text.
func (o origins) appendRange(out origins, from, to, at int) origins {
	i := sort.Search(len(o), func(i int) bool { return o[i].off+o[i].n > from })
	for ; i < len(o) && o[i].off < to; i++ {
		s := o[i]
		a, b := max(s.off, from), min(s.off+s.n, to)
		src := s.src
		if !s.fixed {
			src += a - s.off
		}
		out = append(out, span{off: at + a - from, src: src, n: b - a, fixed: s.fixed})
	}
	return out
}

func isListDelim(c byte) bool { return strings.IndexByte(" \t\n\r(),=", c) >= 0 }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func replaceList(text string, origin origins, li *listDef, limit int) (string, origins, bool) {
	quoted := make([]string, len(li.compiledSet))
	for i, it := range li.compiledSet {
		quoted[i] = quoteItem(it)
	}
	repl := strings.Join(quoted, ", ")
	var out strings.Builder
	var outOrigin origins
	ok := true
	// keep copies bytes [a, b) of text; insert writes s in for the
	// reference at offset at. Neither grows the text past limit.
	keep := func(a, b int) {
		if ok = ok && out.Len()+b-a <= limit; ok {
			outOrigin = origin.appendRange(outOrigin, a, b, out.Len())
			out.WriteString(text[a:b])
		}
	}
	insert := func(s string, at int) {
		if ok = ok && out.Len()+len(s) <= limit; ok {
			outOrigin = append(outOrigin, span{off: out.Len(), src: at, n: len(s), fixed: true})
			out.WriteString(s)
		}
	}
	i := 0
	for ok {
		j := strings.Index(text[i:], li.name)
		if j < 0 {
			keep(i, len(text))
			break
		}
		j += i
		end := j + len(li.name)
		if (j > 0 && !isListDelim(text[j-1])) || (end < len(text) && !isListDelim(text[end])) {
			keep(i, end)
			i = end
			continue
		}
		li.used = true
		// Swallow blanks on both sides, and for an empty list one comma.
		pre := j
		for pre > i && isSpace(text[pre-1]) {
			pre--
		}
		post := end
		for post < len(text) && isSpace(text[post]) {
			post++
		}
		if len(li.compiledSet) == 0 {
			if pre > i && text[pre-1] == ',' {
				pre--
			} else if post < len(text) && text[post] == ',' {
				post++
			}
		}
		at := origin.at(j)
		keep(i, pre)
		if pre > 0 {
			insert(" ", at)
		}
		insert(repl, at)
		if post < len(text) {
			insert(" ", at)
		}
		i = post
	}
	return out.String(), outOrigin, ok
}

// parsed is a condition parsed after list substitution.
type parsed struct {
	ast    node
	src    *source
	origin origins
	n      int // the length of the substituted text
}

func (p *parsed) pos(off int) Pos {
	if off >= p.n {
		if p.n == 0 {
			return p.src.pos(0)
		}
		return p.src.pos(p.origin.at(p.n-1) + 1)
	}
	return p.src.pos(p.origin.at(off))
}

// parse substitutes the lists in a condition and parses it. at is the
// position of the item, where an error of size is reported.
func (l *Loader) parse(src *source, at Pos) (*parsed, *posError) {
	raw := src.text()
	text, origin, ok := l.substituteLists(raw, l.limits.ConditionBytes)
	if !ok {
		return nil, &posError{at, fmt.Sprintf("the condition is longer than the condition size limit of %d bytes with its lists written out", l.limits.ConditionBytes), errLimit}
	}
	if !l.expand(len(text) - len(raw)) {
		return nil, l.budgetError(at)
	}
	p := &parsed{src: src, origin: origin, n: len(text)}
	n, err := parseCondition(text)
	if err != nil {
		var se *SyntaxError
		errors.As(err, &se)
		return nil, &posError{p.pos(se.Offset), se.Msg, ""}
	}
	p.ast = n
	return p, nil
}

// compileMacros parses macros in definition order; each sees the macros
// defined before it. Each macro's size with its macros written out is
// measured from theirs, and a macro over the limits is refused: macros
// that each name the one before twice double at every step, and would
// reach a billion bytes in thirty.
func (l *Loader) compileMacros() {
	for _, m := range l.macros {
		if l.spent() {
			return
		}
		item := itemRef("macro", m.name)
		p, perr := l.parse(&m.cond, m.pos)
		if perr != nil {
			l.failAt(perr, item)
			m.failed = true
			continue
		}
		n, err := l.resolveMacros(p, p.ast, m.vis, map[string]bool{m.name: true})
		if err != nil {
			l.failAt(err, item)
			m.failed = true
			continue
		}
		m.size, m.depth = expansion(n, p.n)
		if perr := l.checkExpansion(m.pos, m.size, m.depth); perr != nil {
			l.failAt(perr, item)
			m.failed = true
			continue
		}
		m.ast = n
		m.parsed = p
	}
}

// checkExpansion checks the size and depth of a condition with its macros
// written out against the limits.
func (l *Loader) checkExpansion(at Pos, size, depth int) *posError {
	if size > l.limits.ConditionBytes {
		return &posError{at, fmt.Sprintf("the condition is %d bytes long with its lists and macros written out: over the condition size limit of %d bytes", size, l.limits.ConditionBytes), errLimit}
	}
	if depth > l.limits.Depth {
		return &posError{at, fmt.Sprintf("the condition nests and/or/not %d deep with its macros written out: over the condition depth limit of %d", depth, l.limits.Depth), errLimit}
	}
	return nil
}

type posError struct {
	pos  Pos
	msg  string
	code string // errCompileCondition when empty
}

// failAt records err as an error of item.
func (l *Loader) failAt(err *posError, item string) {
	code := err.code
	if code == "" {
		code = errCompileCondition
	}
	l.fail(err.pos, code, item, err.msg)
}

// resolveMacros replaces macro references by the macro's condition. Only
// macros defined before vis are visible.
func (l *Loader) resolveMacros(p *parsed, n node, vis int, stack map[string]bool) (node, *posError) {
	switch n := n.(type) {
	case *andNode:
		out := &andNode{pos: n.pos}
		for _, c := range n.children {
			r, err := l.resolveMacros(p, c, vis, stack)
			if err != nil {
				return nil, err
			}
			out.children = append(out.children, r)
		}
		return out, nil
	case *orNode:
		out := &orNode{pos: n.pos}
		for _, c := range n.children {
			r, err := l.resolveMacros(p, c, vis, stack)
			if err != nil {
				return nil, err
			}
			out.children = append(out.children, r)
		}
		return out, nil
	case *notNode:
		r, err := l.resolveMacros(p, n.x, vis, stack)
		if err != nil {
			return nil, err
		}
		return &notNode{x: r, pos: n.pos}, nil
	case *identNode:
		i, ok := l.byName["macro:"+n.name]
		if !ok || l.macros[i].index >= vis {
			return nil, &posError{p.pos(n.pos), fmt.Sprintf("Undefined macro '%s' used in filter.", n.name), ""}
		}
		m := l.macros[i]
		if stack[n.name] {
			return nil, &posError{p.pos(n.pos), fmt.Sprintf("reference loop in macro '%s'", n.name), ""}
		}
		m.used = true
		if m.ast == nil {
			if m.failed {
				return nil, &posError{p.pos(n.pos), fmt.Sprintf("macro '%s' has errors", n.name), ""}
			}
			return nil, &posError{p.pos(n.pos), fmt.Sprintf("Undefined macro '%s' used in filter.", n.name), ""}
		}
		return &macroRef{name: m.name, x: m.ast, p: m.parsed, pos: n.pos, def: m}, nil
	}
	return n, nil
}

// macroRef is a resolved macro reference; its position is the reference's
// and its body keeps positions in the macro's own text.
type macroRef struct {
	name string
	x    node
	p    *parsed
	pos  int
	def  *macroDef
}

func (n *macroRef) position() int { return n.pos }

// exceptionText renders a rule's exceptions as Falco does, appended to
// "(condition)".
func (l *Loader) exceptionText(d *ruleDef, src *source) {
	for _, ex := range d.exceptions {
		text, err := ex.text()
		if err != "" {
			l.fail(posOf(ex.file, ex.node), errValidate, itemRef("rule", d.name), err)
			return
		}
		if text == "" {
			continue
		}
		src.add(" and not "+text, ex.node, nil, ex.file)
		if len(src.buf) > l.limits.ConditionBytes {
			l.fail(d.pos, errLimit, itemRef("rule", d.name), fmt.Sprintf("the condition is longer than the condition size limit of %d bytes with its exceptions written out", l.limits.ConditionBytes))
			return
		}
	}
}

func (ex *exceptionDef) text() (string, string) {
	if len(ex.values) == 0 {
		return "", ""
	}
	if !ex.fieldList {
		vals := make([]string, 0, len(ex.values))
		for _, v := range ex.values {
			if v.kind != yScalar {
				return "", "Expected values array to contain a list of strings"
			}
			vals = append(vals, quoteItem(v.value))
		}
		return "(" + ex.fields[0] + " " + ex.comps[0] + " (" + strings.Join(vals, ", ") + "))", ""
	}
	tuples := make([]string, 0, len(ex.values))
	for _, tv := range ex.values {
		if tv.kind != ySeq {
			return "", "Expected values array to contain a list of lists"
		}
		if len(tv.items) != len(ex.fields) {
			return "", "Fields and values lists must have equal length"
		}
		parts := make([]string, len(ex.fields))
		for i, v := range tv.items {
			var val string
			switch {
			case v.kind == ySeq:
				items := make([]string, len(v.items))
				for j, it := range v.items {
					items[j] = quoteItem(it.value)
				}
				val = "(" + strings.Join(items, ", ") + ")"
			case isListComp(ex.comps[i]):
				val = parenItem(v.value)
			default:
				val = quoteItem(v.value)
			}
			parts[i] = " " + ex.fields[i] + " " + ex.comps[i] + " " + val
		}
		tuples = append(tuples, "("+strings.Join(parts, " and ")+")")
	}
	return "(" + strings.Join(tuples, " or ") + ")", ""
}

// prepared is a rule's condition parsed, its macros resolved and its
// expansion measured, or what kept it from being so.
type prepared struct {
	p        *parsed
	resolved node
	// errors and warnings found, reported in turn by compileRule so
	// that diagnostics keep the order of the rules.
	errors, warnings []*LoadError
}

// prepareRule builds the rule's full condition, parses it, resolves its
// macros and charges its expansion to the budget. An error of the budget
// is recorded at once; the others are kept for compileRule.
func (l *Loader) prepareRule(d *ruleDef) *prepared {
	pr := &prepared{}
	nerr, nwarn := len(l.res.Errors), len(l.res.Warnings)
	defer func() {
		if !l.spent() {
			pr.errors = append(pr.errors, l.res.Errors[nerr:]...)
			pr.warnings = append(pr.warnings, l.res.Warnings[nwarn:]...)
			l.res.Errors, l.res.Warnings = l.res.Errors[:nerr], l.res.Warnings[:nwarn]
		}
	}()
	item := itemRef("rule", d.name)
	if d.source != "syscall" {
		l.warn(d.pos, warnUnknownSource, item, fmt.Sprintf("Unknown source %s, skipping", d.source))
		return pr
	}
	src := &d.cond
	if hasExceptionText(d) {
		// Falco wraps the condition in parentheses before appending
		// exceptions. The "(" maps to the condition's start; the ")"
		// falls in the condition's last segment, so maps to its end.
		src = &source{buf: append(append([]byte{'('}, d.cond.buf...), ')')}
		src.segs = append(src.segs, segment{node: firstNode(&d.cond), file: d.file})
		for _, sg := range d.cond.segs {
			sg.off++
			src.segs = append(src.segs, sg)
		}
		before := len(l.res.Errors)
		l.exceptionText(d, src)
		if len(l.res.Errors) > before {
			return pr
		}
	}
	p, perr := l.parse(src, d.pos)
	if perr != nil {
		l.failAt(perr, item)
		return pr
	}
	resolved, perr := l.resolveMacros(p, p.ast, int(^uint(0)>>1), map[string]bool{})
	if perr != nil {
		l.failAt(perr, item)
		return pr
	}
	// Lowering writes the macros out: measure first.
	size, depth := expansion(resolved, p.n)
	if perr := l.checkExpansion(d.pos, size, depth); perr != nil {
		l.failAt(perr, item)
		return pr
	}
	if !l.expand(size - p.n) {
		l.failAt(l.budgetError(d.pos), item)
		return pr
	}
	pr.p, pr.resolved = p, resolved
	return pr
}

// compileRule lowers a prepared rule and parses its output. It returns
// nil when the rule has errors or is skipped.
func (l *Loader) compileRule(d *ruleDef, pr *prepared) *policy.Rule {
	l.res.Errors = append(l.res.Errors, pr.errors...)
	l.res.Warnings = append(l.res.Warnings, pr.warnings...)
	if pr.p == nil {
		return nil
	}
	p, resolved, item := pr.p, pr.resolved, itemRef("rule", d.name)
	lw := &lowerer{l: l, item: item}
	expr, lerr := lw.lower(p, resolved)
	if lerr != nil {
		if d.skipUnk && isUnknownFilter(lerr.msg) {
			l.warn(lerr.pos, warnUnknownFilter, item, lerr.msg)
			return nil
		}
		l.fail(lerr.pos, errCompileCondition, item, lerr.msg)
		return nil
	}
	tmpl, err := policy.ParseOutput(d.output.text())
	if err != nil {
		terr := &SyntaxError{Msg: err.Error()}
		errors.As(err, &terr)
		pos := d.output.pos(terr.Offset)
		if d.skipUnk && isUnknownFilter(terr.Msg) {
			l.warn(pos, warnUnknownFilter, item, terr.Msg)
			return nil
		}
		l.fail(pos, errCompileOutput, item, terr.Msg)
		return nil
	}
	r := &policy.Rule{
		Name: d.name, Desc: string(d.desc), Condition: expr, Output: tmpl, Priority: d.priority,
		Source: d.source, Tags: append([]string{}, d.tags...), Enabled: d.enabled, Pos: d.pos, Noise: d.noise,
	}
	types, all := policy.InferEventTypes(expr)
	if !all {
		r.EventTypes = types
	}
	if d.warnEvt && (all && len(types) == 0 || len(types) == 0 || len(types) > 50) {
		l.warn(d.pos, warnNoEvttype, item, "Rule matches too many evt.type values. This has a significant performance penalty.")
	}
	for _, w := range lw.warnings {
		l.warn(w.pos, warnCompileCond, item, w.msg)
	}
	return r
}

// hasExceptionText reports whether any exception of the rule has values,
// and so adds to the condition.
func hasExceptionText(d *ruleDef) bool {
	for _, ex := range d.exceptions {
		if len(ex.values) > 0 {
			return true
		}
	}
	return false
}

func firstNode(s *source) *ynode {
	for _, sg := range s.segs {
		if sg.node != nil {
			return sg.node
		}
	}
	return nil
}

func isUnknownFilter(msg string) bool {
	for _, s := range []string{"nonexistent field", "invalid formatting token", "unknown event type", "unknown filter:"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
