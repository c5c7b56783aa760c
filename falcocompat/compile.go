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
	rs := &policy.Ruleset{}
	for _, d := range l.sortedRules() {
		if r := l.compileRule(d); r != nil {
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
// the list being compiled.
func (l *Loader) compileLists() {
	for _, li := range l.lists {
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
// text, the way Falco does before parsing. origin maps each byte of the
// result to the byte of text it came from.
func (l *Loader) substituteLists(text string) (string, []int) {
	origin := make([]int, len(text))
	for i := range origin {
		origin[i] = i
	}
	for _, li := range l.lists {
		if !strings.Contains(text, li.name) {
			continue
		}
		text, origin = replaceList(text, origin, li)
	}
	return text, origin
}

func isListDelim(c byte) bool { return strings.IndexByte(" \t\n\r(),=", c) >= 0 }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func replaceList(text string, origin []int, li *listDef) (string, []int) {
	quoted := make([]string, len(li.compiledSet))
	for i, it := range li.compiledSet {
		quoted[i] = quoteItem(it)
	}
	repl := strings.Join(quoted, ", ")
	var out strings.Builder
	var outOrigin []int
	emit := func(s string, org []int, at int) {
		out.WriteString(s)
		for i := range s {
			if org != nil {
				outOrigin = append(outOrigin, org[i])
			} else {
				outOrigin = append(outOrigin, at)
			}
		}
	}
	i := 0
	for {
		j := strings.Index(text[i:], li.name)
		if j < 0 {
			emit(text[i:], origin[i:], 0)
			break
		}
		j += i
		end := j + len(li.name)
		if (j > 0 && !isListDelim(text[j-1])) || (end < len(text) && !isListDelim(text[end])) {
			emit(text[i:end], origin[i:end], 0)
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
		at := origin[j]
		emit(text[i:pre], origin[i:pre], 0)
		if pre > 0 {
			emit(" ", nil, at)
		}
		emit(repl, nil, at)
		if post < len(text) {
			emit(" ", nil, at)
		}
		i = post
	}
	return out.String(), outOrigin
}

// parsed is a condition parsed after list substitution.
type parsed struct {
	ast    node
	src    *source
	origin []int
}

func (p *parsed) pos(off int) Pos {
	if off >= len(p.origin) {
		if len(p.origin) == 0 {
			return p.src.pos(0)
		}
		return p.src.pos(p.origin[len(p.origin)-1] + 1)
	}
	return p.src.pos(p.origin[off])
}

func (l *Loader) parse(src *source) (*parsed, *SyntaxError, Pos) {
	text, origin := l.substituteLists(src.text)
	p := &parsed{src: src, origin: origin}
	n, err := parseCondition(text)
	if err != nil {
		var se *SyntaxError
		errors.As(err, &se)
		return nil, se, p.pos(se.Offset)
	}
	p.ast = n
	return p, nil, Pos{}
}

// compileMacros parses macros in definition order; each sees the macros
// defined before it.
func (l *Loader) compileMacros() {
	for _, m := range l.macros {
		p, se, pos := l.parse(&m.cond)
		if se != nil {
			l.fail(pos, errCompileCondition, itemRef("macro", m.name), se.Msg)
			m.failed = true
			continue
		}
		n, err := l.resolveMacros(p, p.ast, m.vis, map[string]bool{m.name: true})
		if err != nil {
			l.fail(err.pos, errCompileCondition, itemRef("macro", m.name), err.msg)
			m.failed = true
			continue
		}
		m.ast = n
		m.parsed = p
	}
}

type posError struct {
	pos Pos
	msg string
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
			return nil, &posError{p.pos(n.pos), fmt.Sprintf("Undefined macro '%s' used in filter.", n.name)}
		}
		m := l.macros[i]
		if stack[n.name] {
			return nil, &posError{p.pos(n.pos), fmt.Sprintf("reference loop in macro '%s'", n.name)}
		}
		m.used = true
		if m.ast == nil {
			if m.failed {
				return nil, &posError{p.pos(n.pos), fmt.Sprintf("macro '%s' has errors", n.name)}
			}
			return nil, &posError{p.pos(n.pos), fmt.Sprintf("Undefined macro '%s' used in filter.", n.name)}
		}
		return &macroRef{name: m.name, x: m.ast, p: m.parsed, pos: n.pos}, nil
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

// compileRule builds the rule's full condition, parses and lowers it. It
// returns nil when the rule has errors or is skipped.
func (l *Loader) compileRule(d *ruleDef) *policy.Rule {
	item := itemRef("rule", d.name)
	if d.source != "syscall" {
		l.warn(d.pos, warnUnknownSource, item, fmt.Sprintf("Unknown source %s, skipping", d.source))
		return nil
	}
	src := &d.cond
	if hasExceptionText(d) {
		// Falco wraps the condition in parentheses before appending
		// exceptions. The "(" maps to the condition's start; the ")"
		// falls in the condition's last segment, so maps to its end.
		src = &source{text: "(" + d.cond.text + ")"}
		src.segs = append(src.segs, segment{node: firstNode(&d.cond), file: d.file})
		for _, sg := range d.cond.segs {
			sg.off++
			src.segs = append(src.segs, sg)
		}
		before := len(l.res.Errors)
		l.exceptionText(d, src)
		if len(l.res.Errors) > before {
			return nil
		}
	}
	p, se, pos := l.parse(src)
	if se != nil {
		l.fail(pos, errCompileCondition, item, se.Msg)
		return nil
	}
	resolved, perr := l.resolveMacros(p, p.ast, int(^uint(0)>>1), map[string]bool{})
	if perr != nil {
		l.fail(perr.pos, errCompileCondition, item, perr.msg)
		return nil
	}
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
	tmpl, err := policy.ParseOutput(d.output.text)
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
		Name: d.name, Desc: d.desc, Condition: expr, Output: tmpl, Priority: d.priority,
		Source: d.source, Tags: append([]string{}, d.tags...), Enabled: d.enabled, Pos: d.pos,
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
