package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// dumpTemplate shows a template's parts: [text] and {field/spelling wN}.
func dumpTemplate(t Template) string {
	var b strings.Builder
	for _, p := range t.Parts {
		if p.Field == nil {
			fmt.Fprintf(&b, "[%s]", p.Text)
			continue
		}
		fmt.Fprintf(&b, "{%s/%s", p.Field.String(), p.Field.Spelling())
		if p.Width > 0 {
			fmt.Fprintf(&b, " w%d", p.Width)
		}
		b.WriteString("}")
	}
	return b.String()
}

func TestParseOutput(t *testing.T) {
	cases := []struct{ in, want string }{
		{"shell %proc.name under %proc.pname (cmdline=%proc.cmdline)",
			"[shell ]{proc.name/proc.name}[ under ]{proc.pname/proc.pname}[ (cmdline=]{proc.cmdline/proc.cmdline}[)]"},
		// The longest text that names a field.
		{"%proc.name.", "{proc.name/proc.name}[.]"},
		{"%fd.name.bar", "{fd.name/fd.name}[.bar]"},
		{"%user.name%user.uid", "{user.name/user.name}{user.uid/user.uid}"},
		{"%20proc.name|", "{proc.name/proc.name w20}[|]"},
		{"%tolower(proc.name) %toupper( proc.pname ) %len(fd.name)",
			"{tolower(proc.name)/proc.name}[ ]{toupper(proc.pname)/proc.pname}[ ]{len(fd.name)/fd.name}"},
		{"%b64(proc.name)%basename(fd.name)", "{b64(proc.name)/proc.name}{basename(fd.name)/fd.name}"},
		{"%tolower(proc.aname[2])", "{tolower(proc.aname[2])/proc.aname[2]}"},
		{"%(proc.name)x", "{proc.name/proc.name}[x]"},
		{"%( proc.name )", "{proc.name/proc.name}"},
		{"%proc.aname[2]", "{proc.aname[2]/proc.aname[2]}"},
		{"%proc.env[HOME]", "{proc.env[HOME]/proc.env[HOME]}"},
		{"%evt.arg.flags %evt.arg[flags]", "{evt.arg[flags]/evt.arg.flags}[ ]{evt.arg[flags]/evt.arg[flags]}"},
		// An unclosed bracket is text.
		{"%proc.aname[", "{proc.aname/proc.aname}[[]"},
	}
	for _, c := range cases {
		tmpl, err := ParseOutput(c.in)
		if err != nil {
			t.Errorf("ParseOutput(%q): %v", c.in, err)
			continue
		}
		if got := dumpTemplate(tmpl); got != c.want {
			t.Errorf("ParseOutput(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestParseOutputErrors(t *testing.T) {
	cases := []struct {
		in     string
		offset int
		msg    string
	}{
		{"x %", 2, "invalid formatting syntax: formatting cannot end with a %"},
		{"a %(proc.name", 2, "invalid formatting token: missing ')' after %("},
		{"%(proc.name x)", 0, "invalid formatting token %(proc.name x)"},
		{"%(tolower(proc.name))", 0, "invalid formatting token tolower(proc.name"},
		{"%nosuch.field", 0, "unknown filter: unknown field %nosuch.field"},
		{"%proc.aname[2] %proc.aname[x]", 15, "unknown filter: unknown field %proc.aname"},
		{"%proc.name[x]", 0, "unknown filter: unknown field %proc.name"},
		{"% x", 0, "invalid formatting token "},
		{"%5", 0, "invalid formatting token "},
		{"%proc", 0, "invalid formatting token proc"},
		{"100%%", 3, "invalid formatting token %"},
		{"%tolower(nosuch.x)", 0, "invalid formatting token tolower(nosuch.x)"},
		{"%tolower(proc.name x)", 0, "invalid formatting token tolower(proc.name"},
		{"%val(proc.name)", 0, "invalid formatting token val(proc.name)"},
	}
	for _, c := range cases {
		_, err := ParseOutput(c.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("ParseOutput(%q): got %v, want a syntax error", c.in, err)
			continue
		}
		if se.Offset != c.offset || se.Msg != c.msg {
			t.Errorf("ParseOutput(%q): error at %d %q, want at %d %q", c.in, se.Offset, se.Msg, c.offset, c.msg)
		}
	}
}

func TestParseOutputEscaped(t *testing.T) {
	tmpl, err := ParseOutputEscaped("100%% of %proc.name, %%%fd.name%%")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dumpTemplate(tmpl), "[100][%][ of ]{proc.name/proc.name}[, ][%]{fd.name/fd.name}[%]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// Template.String writes what ParseOutputEscaped reads.
	if got, want := tmpl.String(), "100%% of %proc.name, %%%fd.name%%"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// Offsets count in the whole text.
	_, err = ParseOutputEscaped("a%%b %nosuch.x")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Offset != 5 || se.Msg != "unknown filter: unknown field %nosuch.x" {
		t.Errorf("got %v, want offset 5: unknown filter: unknown field %%nosuch.x", err)
	}
}

func FuzzParseOutput(f *testing.F) {
	for _, s := range []string{
		"shell %proc.name under %proc.pname", "%20proc.name.", "%tolower(proc.aname[2])",
		"%(fd.name)", "%evt.arg.flags %%", "%", "%(", "%tolower(", "%proc.aname[",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (Template, error){ParseOutput, ParseOutputEscaped} {
			tmpl, err := parse(s)
			if err != nil {
				var se *SyntaxError
				if !errors.As(err, &se) || se.Offset < 0 || se.Offset >= len(s) || s[se.Offset] != '%' {
					t.Fatalf("%q: error %v is not a syntax error at a '%%'", s, err)
				}
				continue
			}
			for _, p := range tmpl.Parts {
				if (p.Field == nil) == (p.Text == "") {
					t.Fatalf("%q: part %+v is neither text nor a field", s, p)
				}
			}
		}
	})
}
