package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Field references as rules write them, shared by the front ends: a
// Falco condition's operands, the %fields of an output template (Falco's
// output key, Rego's custom.output).
//
//	Field       = Name [ "[" Arg "]" ]
//	Name        = Ident "." Ident { "." Ident }
//	Transformer = ( "tolower" | "toupper" | "b64" | "basename" | "len" ) "(" Ref ")"
//	Ref         = Field | Transformer
//	Arg         = a quoted string, or text up to a blank, quote or bracket
//
// On a comparison's right-hand side a plain field is a string value, so
// only val(Field) and transformers are references there.

// SyntaxError is text that does not parse: a condition, a field reference,
// an output template. Offset counts bytes from the start of the text.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg) }

// FieldSyntax is a field reference as written, before it is looked up in
// the catalog: Name[Arg] with the transformers applied to it.
type FieldSyntax struct {
	Name   string
	Arg    string
	HasArg bool
	// Transformers are innermost first (the source writes them outermost
	// first).
	Transformers []string
	// Val is set for val(field), on a comparison's right-hand side.
	Val bool
	// Pos is the offset of the reference in the text it was scanned from.
	Pos int
}

// IsBlank reports whether c separates tokens.
func IsBlank(c byte) bool {
	switch c {
	case ' ', '\t', '\b', '\r', '\n', '\v', '\f':
		return true
	}
	return false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentChar(c byte) bool {
	return isLetter(c) || c >= '0' && c <= '9' || c == '_'
}

// IdentifierLen returns the length of [a-zA-Z]+[a-zA-Z0-9_]* at s[i:].
func IdentifierLen(s string, i int) int {
	j := i
	for j < len(s) && isLetter(s[j]) {
		j++
	}
	if j == i {
		return 0
	}
	for j < len(s) && isIdentChar(s[j]) {
		j++
	}
	return j - i
}

// FieldNameLen returns the length of a field name (identifiers joined by
// dots, at least one dot) at s[i:], or 0.
func FieldNameLen(s string, i int) int {
	n := IdentifierLen(s, i)
	if n == 0 {
		return 0
	}
	j := i + n
	dots := 0
	for j < len(s) && s[j] == '.' {
		m := IdentifierLen(s, j+1)
		if m == 0 {
			break
		}
		j += 1 + m
		dots++
	}
	if dots == 0 {
		return 0
	}
	return j - i
}

// ScanQuoted lexes a single- or double-quoted string at s[i:] and
// unescapes it; end is the offset after the closing quote. An unterminated
// quote is not a string: ok is false. A bad escape is a *SyntaxError at
// the opening quote.
func ScanQuoted(s string, i int) (val string, end int, ok bool, err *SyntaxError) {
	if i >= len(s) || (s[i] != '"' && s[i] != '\'') {
		return "", i, false, nil
	}
	q := s[i]
	j := i + 1
	for j < len(s) && (s[j] != q || s[j-1] == '\\') {
		j++
	}
	if j >= len(s) {
		return "", i, false, nil
	}
	out, msg := unescape(s[i+1:j], q)
	if msg != "" {
		return "", i, false, &SyntaxError{Offset: i, Msg: msg}
	}
	return out, j + 1, true, nil
}

func unescape(raw string, q byte) (string, string) {
	if !strings.Contains(raw, `\`) {
		return raw, ""
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 >= len(raw) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := raw[i]; e {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '\\', '/':
			b.WriteByte(e)
		case ' ':
			b.WriteByte('\\')
		case '"', '\'':
			if e != q {
				return "", fmt.Sprintf("invalid \\%c escape in %c-quoted string", e, q)
			}
			b.WriteByte(e)
		default:
			return "", fmt.Sprintf("unsupported string escape sequence: \\%c", e)
		}
	}
	return b.String(), ""
}

// ScanField scans a field reference at s[i:]: a field, or a transformer
// applied to one; on a right-hand side (rhs), val(field) or a transformer.
// It returns nil, and no error, when the text there is neither. end is the
// offset after the reference; last is the last token read, which the
// condition parser names in its messages. Errors are at the offset where
// the reference stops making sense.
func ScanField(s string, i int, rhs bool) (f *FieldSyntax, end int, last string, err *SyntaxError) {
	sc := &fieldScanner{s: s, i: i}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*SyntaxError)
			if !ok {
				panic(r)
			}
			f, end, last, err = nil, i, "", se
		}
	}()
	f = sc.ref(rhs)
	if f == nil {
		return nil, i, "", nil
	}
	return f, sc.i, sc.last, nil
}

// ParseFieldRef parses text that is one whole field reference, such as
// tolower(proc.aname[2]), and looks it up in the catalog.
func ParseFieldRef(s string) (FieldRef, error) {
	f, end, _, err := ScanField(s, 0, false)
	if err != nil {
		return FieldRef{}, err
	}
	if f == nil || end != len(s) {
		return FieldRef{}, &SyntaxError{Offset: end, Msg: fmt.Sprintf("invalid field reference %q", s)}
	}
	return f.Resolve()
}

// fieldScanner reads a field reference; it panics with a *SyntaxError,
// which ScanField recovers.
type fieldScanner struct {
	s    string
	i    int
	last string
}

func (sc *fieldScanner) fail(msg string) { panic(&SyntaxError{Offset: sc.i, Msg: msg}) }

func (sc *fieldScanner) peek(lit string) bool { return strings.HasPrefix(sc.s[sc.i:], lit) }

func (sc *fieldScanner) blanks() {
	for sc.i < len(sc.s) && IsBlank(sc.s[sc.i]) {
		sc.i++
	}
}

// transformerCalls are the transformers in the order the scanner tries
// them, the catalog's names (see Transformer).
var transformerCalls = transformerNames[1:]

func (sc *fieldScanner) ref(rhs bool) *FieldSyntax {
	start := sc.i
	if n := FieldNameLen(sc.s, sc.i); n > 0 && !rhs {
		f := &FieldSyntax{Name: sc.s[sc.i : sc.i+n], Pos: start}
		sc.i += n
		sc.last = f.Name
		if sc.peek("[") {
			sc.i++
			f.Arg = sc.arg()
			f.HasArg = true
			if !sc.peek("]") {
				sc.fail("expected a ']' token")
			}
			sc.i++
		}
		return f
	}
	names := transformerCalls
	if rhs {
		names = append([]string{"val"}, names...)
	}
	for _, t := range names {
		if !sc.peek(t + "(") {
			continue
		}
		sc.i += len(t) + 1
		sc.last = t + "("
		sc.blanks()
		inner := sc.ref(false)
		if inner == nil || (t == "val" && len(inner.Transformers) > 0) {
			if t == "val" {
				sc.fail("expected a field within 'val' transformer")
			}
			sc.fail(fmt.Sprintf("expected a field or a transformer within '%s' transformer", t))
		}
		sc.blanks()
		if !sc.peek(")") {
			sc.fail("expected a ')' token")
		}
		sc.i++
		sc.last = ")"
		if t == "val" {
			inner.Val = true
		} else {
			inner.Transformers = append(inner.Transformers, t)
		}
		inner.Pos = start
		return inner
	}
	return nil
}

func (sc *fieldScanner) arg() string {
	if v, end, ok, err := ScanQuoted(sc.s, sc.i); err != nil {
		panic(err)
	} else if ok {
		sc.last = sc.s[sc.i:end]
		sc.i = end
		return v
	}
	j := sc.i
	for j < len(sc.s) && !IsBlank(sc.s[j]) && !strings.ContainsRune("[]\"'", rune(sc.s[j])) {
		j++
	}
	if j == sc.i {
		sc.fail("expected a valid field argument: a quoted string or a bare string")
	}
	arg := sc.s[sc.i:j]
	sc.i = j
	return arg
}

// Resolve looks the reference up in the catalog.
func (f *FieldSyntax) Resolve() (FieldRef, error) {
	ref, err := ResolveFieldName(f.Name)
	if err != nil {
		if f.HasArg {
			return ref, fmt.Errorf("filter_check called with nonexistent field %s[%s]", f.Name, f.Arg)
		}
		return ref, err
	}
	if f.HasArg {
		if ref.HasArg || !ref.Field.TakesArg() {
			return ref, fmt.Errorf("filter_check called with nonexistent field %s[%s]", f.Name, f.Arg)
		}
		ref.Arg, ref.HasArg = f.Arg, true
		if n, err := strconv.Atoi(f.Arg); err == nil && n >= 0 {
			ref.Index = n
		} else if ref.Field.Arg == ArgIndexOptional {
			return ref, fmt.Errorf("filter_check called with nonexistent field %s[%s]: the argument must be a non-negative number", f.Name, f.Arg)
		}
	}
	for _, t := range f.Transformers {
		tr, ok := ParseTransformer(t)
		if !ok {
			return ref, fmt.Errorf("unknown transformer '%s'", t)
		}
		ref.Transformers = append(ref.Transformers, tr)
	}
	return ref, nil
}

// ResolveFieldName finds the catalog field for a name as written, without
// brackets: proc.name, or evt.arg.flags (field evt.arg, argument flags).
func ResolveFieldName(name string) (FieldRef, error) {
	if f := LookupField(name); f != nil {
		return FieldRef{Field: f, Index: -1}, nil
	}
	if f, arg := SplitDottedArg(name); f != nil {
		ref := FieldRef{Field: f, Arg: arg, HasArg: true, Index: -1, Dotted: true}
		if n, err := strconv.Atoi(arg); err == nil {
			ref.Index = n
		}
		return ref, nil
	}
	return FieldRef{}, fmt.Errorf("filter_check called with nonexistent field %s", name)
}
