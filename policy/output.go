package policy

import (
	"fmt"
	"strings"
)

// ParseOutput parses an output template as Falco's output key takes it:
// literal text with %field, %field[arg], %transformer(field), %(field)
// and a width (%20proc.name). Like Falco it takes the longest text after
// % that names a known field, so "%proc.name." is proc.name followed by a
// dot. Errors are *SyntaxError, at the offset of the bad field's '%'.
func ParseOutput(s string) (Template, error) {
	t, err := parseOutput(s, 0)
	if err != nil {
		return t, err
	}
	return t, nil
}

// ParseOutputEscaped parses an output template like ParseOutput, and also
// takes %% for a percent sign, as Template.String writes it (the syntax of
// a Rego rule's custom.output). Errors are *SyntaxError, at offsets in s.
func ParseOutputEscaped(s string) (Template, error) {
	var t Template
	off := 0
	for i, piece := range strings.Split(s, "%%") {
		if i > 0 {
			t.Parts = append(t.Parts, TemplatePart{Text: "%"})
			off += len("%%")
		}
		p, err := parseOutput(piece, off)
		if err != nil {
			return t, err
		}
		t.Parts = append(t.Parts, p.Parts...)
		off += len(piece)
	}
	return t, nil
}

// parseOutput parses a template; base is the offset of s in the text its
// errors name.
func parseOutput(s string, base int) (Template, *SyntaxError) {
	var t Template
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			t.Parts = append(t.Parts, TemplatePart{Text: lit.String()})
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
			return t, &SyntaxError{Offset: base + start, Msg: "invalid formatting syntax: formatting cannot end with a %"}
		}
		width := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			width = width*10 + int(s[i]-'0')
			i++
		}
		ref, n, err := outputField(s[i:])
		if err != "" {
			return t, &SyntaxError{Offset: base + start, Msg: err}
		}
		flush()
		t.Parts = append(t.Parts, TemplatePart{Field: ref, Width: width})
		i += n
	}
	flush()
	return t, nil
}

// outputField parses the field at the start of s and returns it with the
// number of bytes it takes.
func outputField(s string) (*FieldRef, int, string) {
	if strings.HasPrefix(s, "(") {
		end := strings.IndexByte(s, ')')
		if end < 0 {
			return nil, 0, "invalid formatting token: missing ')' after %("
		}
		inner := strings.TrimSpace(s[1:end])
		ref, n, err := outputField(inner)
		if err != "" {
			return nil, 0, err
		}
		if n != len(inner) {
			return nil, 0, fmt.Sprintf("invalid formatting token %%(%s)", inner)
		}
		return ref, end + 1, ""
	}
	// Transformers: %tolower(proc.name). A transformer that does not scan
	// or names no field is read as a plain field below.
	for _, t := range transformerCalls {
		if !strings.HasPrefix(s, t+"(") {
			continue
		}
		if fs, n, _, err := ScanField(s, 0, false); err == nil && fs != nil {
			if ref, err := fs.Resolve(); err == nil {
				return &ref, n, ""
			}
		}
		break
	}
	// Plain fields: take the longest prefix that parses and names a field.
	n := FieldNameLen(s, 0)
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
		fs := &FieldSyntax{Name: s[:l]}
		used := l
		if l == n && l < len(s) && s[l] == '[' {
			if end := strings.IndexByte(s[l:], ']'); end > 0 {
				fs.Arg, fs.HasArg = s[l+1:l+end], true
				used = l + end + 1
			}
		}
		if ref, err := fs.Resolve(); err == nil {
			return &ref, used, ""
		}
	}
	return nil, 0, fmt.Sprintf("unknown filter: unknown field %%%s", s[:n])
}
