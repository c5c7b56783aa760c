package policy

import "testing"

func TestGlob(t *testing.T) {
	cases := []struct {
		pattern, s string
		fold, want bool
	}{
		{"*", "", false, true},
		{"*", "/a/b", false, true},
		{"/etc/*", "/etc/passwd", false, true},
		{"/etc/*", "/etc/ssh/sshd_config", false, true}, // '*' crosses '/'
		{"/home/*/.ssh/*", "/home/bob/.ssh/id_rsa", false, true},
		{"/home/*/.ssh/*", "/home/bob/ssh/id_rsa", false, false},
		{"*../*../*", "/a/../../b", false, true},
		{"a?c", "abc", false, true},
		{"a?c", "ac", false, false},
		{"[abc]x", "bx", false, true},
		{"[!abc]x", "bx", false, false},
		{"[^abc]x", "dx", false, true},
		{"[a-c]", "b", false, true},
		{"[a-c]", "d", false, false},
		{"[]]", "]", false, true},
		{`\*`, "*", false, true},
		{`\*`, "a", false, false},
		{"ABC*", "abcdef", true, true},
		{"ABC*", "abcdef", false, false},
		{"[A-C]", "b", true, true},
		{"*.sh", ".sh", false, true},
		{"*.sh", ".bashrc", false, false},
		{"[", "[", false, true},
		{"a*b*c", "aXbYbZc", false, true},
		{"a*b*c", "aXbYbZ", false, false},
		{"", "", false, true},
		{"", "a", false, false},
	}
	for _, c := range cases {
		if got := Glob(c.pattern, c.s, c.fold); got != c.want {
			t.Errorf("Glob(%q, %q, fold=%v) = %v, want %v", c.pattern, c.s, c.fold, got, c.want)
		}
	}
}

func TestPathPrefixMatch(t *testing.T) {
	cases := []struct {
		prefix, path string
		want         bool
	}{
		{"/var/run", "/var/run", true},
		{"/var/run", "/var/run/docker.sock", true},
		{"/var/run", "/var/runx", false},
		{"/var/run", "/var", false},
		{"/var/run/", "/var/run/x", true},
		{"/", "/anything/at/all", true},
		{"/var/*/log", "/var/lib/log/x", true},
		{"/var/*/log", "/var/lib/logs/x", false},
		{"var/run", "/var/run/x", true}, // empty components are dropped
		{"//etc", "/etc/passwd", true},
		{"/etc/pass?d", "/etc/passwd", true},
	}
	for _, c := range cases {
		if got := PathPrefixMatch(c.prefix, c.path); got != c.want {
			t.Errorf("PathPrefixMatch(%q, %q) = %v, want %v", c.prefix, c.path, got, c.want)
		}
	}
}

func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{{"*", "a"}, {"[a-", "b"}, {`\`, `\`}, {"a*b*c*d", "aabbccdd"}, {"[!]]", "x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := Glob(pattern, s, false)
		if !HasGlobMeta(pattern) && !containsByte(pattern, '\\') && got != (pattern == s) {
			t.Fatalf("literal pattern %q vs %q: %v", pattern, s, got)
		}
		if got && !Glob(pattern, s, true) {
			t.Fatalf("case folding lost a match: %q %q", pattern, s)
		}
	})
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}
