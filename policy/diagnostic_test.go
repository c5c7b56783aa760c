package policy

import "testing"

// TestExcerpt: the source line and a caret under the column, which keeps
// the line's tabs so that both line up at any tab width.
func TestExcerpt(t *testing.T) {
	tests := []struct {
		name, source string
		col          int
		want         string
	}{
		{"column 1", "}", 1, "\t}\n\t^"},
		{"spaces", "  x == == 1", 8, "\t  x == == 1\n\t       ^"},
		{"tabs", "\t\tinput.x ==", 3, "\t\t\tinput.x ==\n\t\t\t^"},
		{"tab after text", "a\tb", 3, "\ta\tb\n\t \t^"},
		{"characters, not bytes", "é == ü", 6, "\té == ü\n\t     ^"},
		{"past the end", "ab", 5, "\tab\n\t  ^"},
		{"no column", "ab", 0, "\tab\n\t^"},
		{"no source", "", 3, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &Diagnostic{Pos: Pos{File: "f", Line: 1, Column: tc.col}, Source: tc.source}
			if got := d.Excerpt(); got != tc.want {
				t.Errorf("excerpt %q, want %q", got, tc.want)
			}
		})
	}
	d := &Diagnostic{Pos: Pos{File: "f.rego", Line: 2, Column: 3}, Code: "C", Item: "i", Msg: "m", Source: "abcd"}
	if got, want := d.Text("error"), "error: f.rego:2:3: i: m (C)\n\tabcd\n\t  ^"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
}
