package falcocompat

import (
	"fmt"
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
)

// ParseOutput parses an output template as a rule's output key (see
// parseTemplate). Errors are *SyntaxError, with the offset of the bad
// field's '%'.
func ParseOutput(s string) (policy.Template, error) {
	t, err := parseTemplate(s)
	if err != nil {
		return t, err
	}
	return t, nil
}

// parseTemplate parses an output template: literal text with %field,
// %field[arg], %transformer(field), %(field) and a width (%20proc.name).
// Like Falco it takes the longest text after % that names a known field,
// so "%proc.name." is proc.name followed by a dot.
func parseTemplate(s string) (policy.Template, *SyntaxError) {
	var t policy.Template
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			t.Parts = append(t.Parts, policy.TemplatePart{Text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			i++
			continue
		}
		start := i
		i++
		if i >= len(s) {
			return t, &SyntaxError{Offset: start, Msg: "invalid formatting syntax: formatting cannot end with a %"}
		}
		width := 0
		for i < len(s) && isDigit(s[i]) {
			width = width*10 + int(s[i]-'0')
			i++
		}
		ref, n, err := templateField(s[i:])
		if err != "" {
			return t, &SyntaxError{Offset: start, Msg: err}
		}
		flush()
		t.Parts = append(t.Parts, policy.TemplatePart{Field: ref, Width: width})
		i += n
	}
	flush()
	return t, nil
}

// templateField parses the field at the start of s and returns it with the
// number of bytes it takes.
func templateField(s string) (*policy.FieldRef, int, string) {
	if strings.HasPrefix(s, "(") {
		end := strings.IndexByte(s, ')')
		if end < 0 {
			return nil, 0, "invalid formatting token: missing ')' after %("
		}
		inner := strings.TrimSpace(s[1:end])
		ref, n, err := templateField(inner)
		if err != "" {
			return nil, 0, err
		}
		if n != len(inner) {
			return nil, 0, fmt.Sprintf("invalid formatting token %%(%s)", inner)
		}
		return ref, end + 1, ""
	}
	// Transformers: %tolower(proc.name).
	p := &parser{s: s}
	if fn, n, ok := tryField(p); ok {
		ref, err := fieldRef(fn)
		if err == nil {
			r := ref
			return &r, n, ""
		}
	}
	// Plain fields: take the longest prefix that parses and names a field.
	n := fieldNameAt(s, 0)
	if n == 0 {
		end := strings.IndexAny(s, " \t\n")
		if end < 0 {
			end = len(s)
		}
		return nil, 0, fmt.Sprintf("invalid formatting token %s", s[:end])
	}
	for l := n; l > 0; l-- {
		if s[l-1] == '.' {
			continue
		}
		fn := &fieldNode{name: s[:l]}
		used := l
		if l == n && l < len(s) && s[l] == '[' {
			if end := strings.IndexByte(s[l:], ']'); end > 0 {
				fn.arg, fn.hasArg = s[l+1:l+end], true
				used = l + end + 1
			}
		}
		if ref, err := fieldRef(fn); err == nil {
			return &ref, used, ""
		}
	}
	return nil, 0, fmt.Sprintf("unknown filter: unknown field %%%s", s[:n])
}

// tryField parses a transformer expression at the start of the parser's
// text, recovering from syntax errors.
func tryField(p *parser) (fn *fieldNode, n int, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, isSyntax := r.(*SyntaxError); !isSyntax {
				panic(r)
			}
			fn, n, ok = nil, 0, false
		}
	}()
	for _, t := range transformerNames {
		if p.peek(t + "(") {
			fn = p.fieldOrTransformer(false)
			return fn, p.i, fn != nil
		}
	}
	return nil, 0, false
}
