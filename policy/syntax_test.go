package policy

import (
	"reflect"
	"testing"
)

func TestScanField(t *testing.T) {
	cases := []struct {
		in   string
		at   int
		rhs  bool
		want *FieldSyntax
		end  int
		last string
	}{
		{in: "proc.name = x", want: &FieldSyntax{Name: "proc.name"}, end: 9, last: "proc.name"},
		{in: "x = proc.aname[2]", at: 4, want: &FieldSyntax{Name: "proc.aname", Arg: "2", HasArg: true, Pos: 4}, end: 17, last: "proc.aname"},
		{in: `proc.env["HOME"]`, want: &FieldSyntax{Name: "proc.env", Arg: "HOME", HasArg: true}, end: 16, last: `"HOME"`},
		{in: "tolower( basename(fd.name) ) x", want: &FieldSyntax{Name: "fd.name", Transformers: []string{"basename", "tolower"}}, end: 28, last: ")"},
		{in: "val(proc.pname)", rhs: true, want: &FieldSyntax{Name: "proc.pname", Val: true}, end: 15, last: ")"},
		// On a right-hand side a plain field is a value, not a reference.
		{in: "proc.pname", rhs: true, end: 0},
		{in: "val(proc.pname)", end: 0},
		{in: "macro_name", end: 0},
	}
	for _, c := range cases {
		f, end, last, err := ScanField(c.in, c.at, c.rhs)
		if err != nil {
			t.Errorf("ScanField(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(f, c.want) || (f != nil && (end != c.end || last != c.last)) {
			t.Errorf("ScanField(%q) = %+v, %d, %q; want %+v, %d, %q", c.in, f, end, last, c.want, c.end, c.last)
		}
	}
}

func TestScanFieldErrors(t *testing.T) {
	cases := []struct {
		in     string
		rhs    bool
		offset int
		msg    string
	}{
		{in: "proc.aname[2 = x", offset: 12, msg: "expected a ']' token"},
		{in: "proc.aname[ = x", offset: 11, msg: "expected a valid field argument: a quoted string or a bare string"},
		{in: `proc.env["a\qb"]`, offset: 9, msg: `unsupported string escape sequence: \q`},
		{in: "tolower(x)", offset: 8, msg: "expected a field or a transformer within 'tolower' transformer"},
		{in: "tolower(proc.name", offset: 17, msg: "expected a ')' token"},
		{in: "val(tolower(proc.name))", rhs: true, offset: 22, msg: "expected a field within 'val' transformer"},
	}
	for _, c := range cases {
		_, _, _, err := ScanField(c.in, 0, c.rhs)
		if err == nil || err.Offset != c.offset || err.Msg != c.msg {
			t.Errorf("ScanField(%q): %v, want offset %d: %s", c.in, err, c.offset, c.msg)
		}
	}
}

func TestScanQuoted(t *testing.T) {
	cases := []struct {
		in   string
		want string
		end  int
		ok   bool
		err  string
	}{
		{in: `"a b" x`, want: "a b", end: 5, ok: true},
		{in: `'it\'s'`, want: "it's", end: 7, ok: true},
		{in: `"a\nb\t\/"`, want: "a\nb\t/", end: 10, ok: true},
		// A backslash before the quote escapes it.
		{in: `"a\\"`},
		{in: `"unterminated`},
		{in: `bare`},
		{in: `"it\'s"`, err: `invalid \' escape in "-quoted string`},
		{in: `"a\qb"`, err: `unsupported string escape sequence: \q`},
	}
	for _, c := range cases {
		v, end, ok, err := ScanQuoted(c.in, 0)
		switch {
		case c.err != "":
			if err == nil || err.Offset != 0 || err.Msg != c.err {
				t.Errorf("ScanQuoted(%q): %v, want offset 0: %s", c.in, err, c.err)
			}
		case err != nil || ok != c.ok || (ok && (v != c.want || end != c.end)):
			t.Errorf("ScanQuoted(%q) = %q, %d, %v, %v; want %q, %d, %v", c.in, v, end, ok, err, c.want, c.end, c.ok)
		}
	}
}

func TestParseFieldRef(t *testing.T) {
	for in, want := range map[string]string{
		"proc.name":                     "proc.name",
		"tolower(proc.aname[2])":        "tolower(proc.aname[2])",
		"evt.arg.flags":                 "evt.arg[flags]",
		"len(basename(fd.name))":        "len(basename(fd.name))",
		"b64(tolower(proc.cmdline))":    "b64(tolower(proc.cmdline))",
		"proc.env[HOME]":                "proc.env[HOME]",
		"tolower( toupper( proc.name))": "tolower(toupper(proc.name))",
	} {
		ref, err := ParseFieldRef(in)
		if err != nil {
			t.Errorf("ParseFieldRef(%q): %v", in, err)
			continue
		}
		if got := ref.String(); got != want {
			t.Errorf("ParseFieldRef(%q) = %s, want %s", in, got, want)
		}
	}
	for in, msg := range map[string]string{
		"nosuch.field":      "filter_check called with nonexistent field nosuch.field",
		"proc.name[x]":      "filter_check called with nonexistent field proc.name[x]",
		"proc.aname[x]":     "filter_check called with nonexistent field proc.aname[x]: the argument must be a non-negative number",
		"proc.name x":       `offset 9: invalid field reference "proc.name x"`,
		"tolower(proc.name": "offset 17: expected a ')' token",
		"x":                 `offset 0: invalid field reference "x"`,
	} {
		if _, err := ParseFieldRef(in); err == nil || err.Error() != msg {
			t.Errorf("ParseFieldRef(%q): %v, want %s", in, err, msg)
		}
	}
}
