package falcocompat

import (
	"strings"
	"testing"
)

// render prints a parsed condition in a fully parenthesised form so that
// tests can state the tree compactly.
func render(n node) string {
	switch n := n.(type) {
	case *andNode:
		parts := make([]string, len(n.children))
		for i, c := range n.children {
			parts[i] = render(c)
		}
		return "and(" + strings.Join(parts, ", ") + ")"
	case *orNode:
		parts := make([]string, len(n.children))
		for i, c := range n.children {
			parts[i] = render(c)
		}
		return "or(" + strings.Join(parts, ", ") + ")"
	case *notNode:
		return "not(" + render(n.x) + ")"
	case *identNode:
		return n.name
	case *checkNode:
		left := n.left.Name
		if n.left.HasArg {
			left += "[" + n.left.Arg + "]"
		}
		for _, t := range n.left.Transformers {
			left = t + "(" + left + ")"
		}
		op := n.op
		if n.modifier != "" {
			op += " " + n.modifier
		}
		switch {
		case n.op == "exists":
			return left + " exists"
		case n.right != nil:
			return left + " " + op + " val(" + n.right.Name + ")"
		case n.list:
			return left + " " + op + " [" + strings.Join(n.values, "|") + "]"
		}
		return left + " " + op + " <" + n.values[0] + ">"
	}
	return "?"
}

func TestParseCondition(t *testing.T) {
	cases := []struct{ in, want string }{
		{"proc.name=cat", "proc.name = <cat>"},
		{"proc.name == cat", "proc.name == <cat>"},
		{"a.b = x and c.d = y or e.f = z", "or(and(a.b = <x>, c.d = <y>), e.f = <z>)"},
		{"a.b = x or c.d = y and e.f = z", "or(a.b = <x>, and(c.d = <y>, e.f = <z>))"},
		{"not a.b = x and c.d = y", "and(not(a.b = <x>), c.d = <y>)"},
		{"not not a.b = x", "not(not(a.b = <x>))"},
		{"not(a.b = x)", "not(a.b = <x>)"},
		{"(a.b = x)", "a.b = <x>"},
		{"spawned_process and x.y exists", "and(spawned_process, x.y exists)"},
		{"proc.aname[2] = sshd", "proc.aname[2] = <sshd>"},
		{"evt.arg.flags contains O_CREAT", "evt.arg.flags contains <O_CREAT>"},
		{"fd.name in (/etc/shadow, '/etc/a b', \"x\")", "fd.name in [/etc/shadow|/etc/a b|x]"},
		{"fd.name in ()", "fd.name in []"},
		{"fd.name in(a,b)", "fd.name in [a|b]"},
		{"fd.name pmatch (/etc)", "fd.name pmatch [/etc]"},
		{"proc.name startswith oneof (a, b)", "proc.name startswith oneof [a|b]"},
		{"proc.name = oneof", "proc.name = <oneof>"},
		{"tolower(proc.name) = bash", "tolower(proc.name) = <bash>"},
		{"len(basename(fd.name)) > 3", "len(basename(fd.name)) > <3>"},
		{"proc.name = val(proc.pname)", "proc.name = val(proc.pname)"},
		{"fd.num>=0", "fd.num >= <0>"},
		{"fd.num=-1", "fd.num = <-1>"},
		{`proc.cmdline contains "a \"b\" c"`, `proc.cmdline contains <a "b" c>`},
		{`proc.cmdline contains 'it\'s'`, `proc.cmdline contains <it's>`},
		{`proc.cmdline contains "a\nb"`, "proc.cmdline contains <a\nb>"},
		{"fd.name startswith /etc/ and\n  proc.name = x", "and(fd.name startswith </etc/>, proc.name = <x>)"},
		{"k8s.pod.label[app.kubernetes.io/name] = x", "k8s.pod.label[app.kubernetes.io/name] = <x>"},
		{"proc.name = registry.access.redhat.com/x", "proc.name = <registry.access.redhat.com/x>"},
	}
	for _, c := range cases {
		n, err := parseCondition(c.in)
		if err != nil {
			t.Errorf("parse(%q): %v", c.in, err)
			continue
		}
		if got := render(n); got != c.want {
			t.Errorf("parse(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestParseConditionErrors(t *testing.T) {
	cases := []struct {
		in     string
		offset int
		msg    string
	}{
		{"", 0, "filter input string is empty"},
		{"proc.name", 9, "expected a valid check operator"},
		{"proc.name = ", 12, "expected a string value"},
		{"proc.name = x and", 17, "expected"},
		{"(proc.name = x", 14, "expected a ')' token"},
		{"proc.name = x y", 14, "unexpected token after 'x'"},
		{"proc.name in (a,", 16, "expected a string value"},
		{"proc.name > abc", 12, "expected a number value"},
		{`proc.name = "a\qb"`, 12, "unsupported string escape sequence"},
		{"proc.name[ = x", 10, "expected a valid field argument"},
		{"fd.num < 1 andx", 14, "expected blank or '(' after 'and'"},
	}
	for _, c := range cases {
		_, err := parseCondition(c.in)
		se, ok := err.(*SyntaxError)
		if !ok {
			t.Errorf("parse(%q): got %v, want a syntax error", c.in, err)
			continue
		}
		if se.Offset != c.offset || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("parse(%q): error at %d %q, want at %d containing %q", c.in, se.Offset, se.Msg, c.offset, c.msg)
		}
	}
}

func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{
		"proc.name = cat and not fd.name startswith /etc",
		"(a.b in (x, 'y z', \"w\") or tolower(c.d) glob '*x*') and e.f exists",
		"proc.aname[2] = x", "not(not(a.b = c))", "x.y = val(z.w)", "a.b startswith anyof (c, d)",
		"((((", "'unterminated", `"\\\"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseCondition(s)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("non-syntax error %T: %v", err, err)
			}
			return
		}
		if n == nil {
			t.Fatal("nil tree without error")
		}
	})
}

// TestNotDepth checks that each not counts one level of the parser's depth
// limit while it is open, and none after.
func TestNotDepth(t *testing.T) {
	if _, err := parseCondition(strings.Repeat("not a.b=1 and ", 5000) + "a.b=1"); err != nil {
		t.Errorf("5000 nots side by side: %v", err)
	}
	// The condition itself is the first level.
	if _, err := parseCondition(strings.Repeat("not ", 999) + "a.b=1"); err != nil {
		t.Errorf("999 nested nots: %v", err)
	}
	_, err := parseCondition(strings.Repeat("not ", 1000) + "a.b=1")
	if se, ok := err.(*SyntaxError); !ok || se.Msg != "exceeded max depth limit of 1000" || se.Offset != 4000 {
		t.Errorf("1000 nested nots: %v", err)
	}
}
