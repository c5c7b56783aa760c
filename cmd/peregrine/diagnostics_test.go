package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// writeFiles writes files (slash-separated names relative to dir).
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestValidateRegoDiagnostics: what validate prints for Rego mistakes
// that OPA compiles without a word, and for parse errors: each at
// file:line:col, with the source line and a caret under the column.
func TestValidateRegoDiagnostics(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // r.rego is the file validated, with lists.yaml when given
		code  int
		want  string // D is the directory
	}{
		{"parse error", map[string]string{"r.rego": "package p\n\nalert if {\n\tinput.proc.name ==\n}\n"}, 1,
			"error: D/r.rego:5:1: rego_parse_error: unexpected } token (LOAD_ERR_REGO)\n\t}\n\t^\n" +
				"invalid: 0 rules, 0 macros, 0 lists, 0 warnings, 1 errors\n"},
		{"parse error in a line", map[string]string{"r.rego": "package p\n\nalert if input.proc.name == == \"a\"\n"}, 1,
			"error: D/r.rego:3:29: rego_parse_error: unexpected equal token (LOAD_ERR_REGO)\n" +
				"\talert if input.proc.name == == \"a\"\n\t                            ^\n" +
				"invalid: 0 rules, 0 macros, 0 lists, 0 warnings, 1 errors\n"},
		{"unknown input path", map[string]string{"r.rego": "package p\n\nalert if {\n\tinput.evt.type == \"execve\"\n\tinput.proc.nmae == \"cat\"\n}\n"}, 1,
			"error: D/r.rego:5:2: unknown input path input.proc.nmae: Peregrine's input has no such field; did you mean input.proc.name? (LOAD_ERR_REGO)\n" +
				"\t\tinput.proc.nmae == \"cat\"\n\t\t^\n" +
				"invalid: 0 rules, 0 macros, 0 lists, 0 warnings, 1 errors\n"},
		{"no alert", map[string]string{"r.rego": "package authz\n\ndefault allow := false\n\nallow if input.proc.name == \"cat\"\n"}, 0,
			"warning: D/r.rego:3:1: authz: the package defines allow but no alert: Peregrine reads only alert (alert if { ... }), so it raises nothing (LOAD_REGO_NO_ALERT)\n" +
				"\tdefault allow := false\n\t^\n" +
				"ok: 0 rules, 0 macros, 0 lists, 1 warnings, 0 errors\n"},
		{"undefined list", map[string]string{"r.rego": "package p\n\nalert if {\n\tinput.evt.type == \"execve\"\n\tinput.proc.pname in data.falco.lists.web_servers\n}\n"}, 0,
			"warning: D/r.rego:5:22: web_servers: undefined list data.falco.lists.web_servers: no file loaded defines it, so what reads it is undefined for every event (LOAD_REGO_UNDEFINED_LIST)\n" +
				"\t\tinput.proc.pname in data.falco.lists.web_servers\n\t\t                    ^\n" +
				"ok: 1 rules, 0 macros, 0 lists, 1 warnings, 0 errors\n"},
		{"list of a Falco file", map[string]string{"r.rego": "package p\n\nalert if {\n\tinput.evt.type == \"execve\"\n\tinput.proc.pname in data.falco.lists.web_servers\n}\n",
			"lists.yaml": "- list: web_servers\n  items: [nginx]\n"}, 0,
			"ok: 1 rules, 0 macros, 1 lists, 0 warnings, 0 errors\n"},
		{"warnings and an error", map[string]string{"r.rego": "package p\n\nallow if input.proc.name in data.falco.lists.x\n\nhelper if input.prc.name\n"}, 1,
			"warning: D/r.rego:3:1: p: the package defines allow but no alert: Peregrine reads only alert (alert if { ... }), so it raises nothing (LOAD_REGO_NO_ALERT)\n" +
				"\tallow if input.proc.name in data.falco.lists.x\n\t^\n" +
				"warning: D/r.rego:3:29: x: undefined list data.falco.lists.x: no file loaded defines it, so what reads it is undefined for every event (LOAD_REGO_UNDEFINED_LIST)\n" +
				"\tallow if input.proc.name in data.falco.lists.x\n\t                            ^\n" +
				"error: D/r.rego:5:11: unknown input path input.prc.name: Peregrine's input has no such field; did you mean input.proc.name? (LOAD_ERR_REGO)\n" +
				"\thelper if input.prc.name\n\t          ^\n" +
				"invalid: 0 rules, 0 macros, 0 lists, 2 warnings, 1 errors\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			args := []string{"validate"}
			if _, ok := tc.files["lists.yaml"]; ok {
				args = append(args, "-r", filepath.Join(dir, "lists.yaml"))
			}
			out, stderr, code := run(t, "", append(args, "-r", filepath.Join(dir, "r.rego"))...)
			want := strings.ReplaceAll(tc.want, "D/", dir+"/")
			if code != tc.code || out != want {
				t.Errorf("exit %d, output\n%s\nwant exit %d, output\n%s\n(stderr %q)", code, out, tc.code, want, stderr)
			}
		})
	}
}

// TestValidateBundleDiagnostics: a bundle's Rego warnings and errors are
// each at its position, with its source line; a bundle with errors is
// refused, and only its errors are shown.
func TestValidateBundleDiagnostics(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"b/.manifest": `{"roots":["p", "q"]}`,
		"b/p/r.rego":  "package p\n\nalert if {\n\tinput.proc.name in data.falco.lists.shells\n}\n",
		"b/q/r.rego":  "package q\n\ndeny contains 1 if true\n",
		"c/.manifest": `{"roots":["c"]}`,
		"c/c/r.rego":  "package c\n\nalert if {\n\tinput.user.uuid == 0\n}\n",
	})
	b := filepath.Join(dir, "b")
	out, _, code := run(t, "", "validate", "-r", b)
	want := "warning: " + b + "/p/r.rego:4:21: shells: undefined list data.falco.lists.shells: no file loaded defines it, so what reads it is undefined for every event (LOAD_REGO_UNDEFINED_LIST)\n" +
		"\t\tinput.proc.name in data.falco.lists.shells\n\t\t                   ^\n" +
		"warning: " + b + "/q/r.rego:3:1: q: the package defines deny but no alert: Peregrine reads only alert (alert if { ... }), so it raises nothing (LOAD_REGO_NO_ALERT)\n" +
		"\tdeny contains 1 if true\n\t^\n" +
		"ok: 1 rules, 0 macros, 0 lists, 2 warnings, 0 errors\n"
	if code != 0 || out != want {
		t.Errorf("exit %d, output\n%s\nwant\n%s", code, out, want)
	}
	c := filepath.Join(dir, "c")
	out, _, code = run(t, "", "validate", "-r", c)
	want = "error: " + c + "/c/r.rego:4:2: unknown input path input.user.uuid: Peregrine's input has no such field; did you mean input.user.uid? (LOAD_ERR_BUNDLE)\n" +
		"\t\tinput.user.uuid == 0\n\t\t^\n" +
		"invalid: 0 rules, 0 macros, 0 lists, 0 warnings, 1 errors\n"
	if code != 1 || out != want {
		t.Errorf("exit %d, output\n%s\nwant\n%s", code, out, want)
	}
}

// TestValidateStrict: --strict makes every warning an error, reported as
// one, and the exit status 1.
func TestValidateStrict(t *testing.T) {
	const noAlert = "D/r.rego:3:1: p: the package defines allow but no alert: Peregrine reads only alert (alert if { ... }), so it raises nothing (LOAD_REGO_NO_ALERT)\n\tallow if true\n\t^\n"
	const uncaptured = "D/r.yaml:1:7: never: the rule can match only sendmmsg, which Peregrine does not capture: it never fires (LOAD_UNCAPTURED_EVENT_TYPE)\n"
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		code  int
		want  string
	}{
		{"warning", map[string]string{"r.rego": "package p\n\nallow if true\n"}, nil, 0,
			"warning: " + noAlert + "ok: 0 rules, 0 macros, 0 lists, 1 warnings, 0 errors\n"},
		{"strict warning", map[string]string{"r.rego": "package p\n\nallow if true\n"}, []string{"--strict"}, 1,
			"error: " + noAlert + "invalid: 0 rules, 0 macros, 0 lists, 0 warnings, 1 errors\n"},
		{"strict YAML warning", map[string]string{"r.yaml": "- rule: never\n  desc: d\n  condition: evt.type = sendmmsg\n  output: o\n  priority: info\n"},
			[]string{"--strict"}, 1, "error: " + uncaptured + "invalid: 1 rules, 0 macros, 0 lists, 0 warnings, 1 errors\n"},
		{"strict clean", map[string]string{"r.rego": "package p\n\nalert if input.proc.name == \"nc\"\n"}, []string{"--strict"}, 0,
			"ok: 1 rules, 0 macros, 0 lists, 0 warnings, 0 errors\n"},
		{"strict with an error", map[string]string{"r.rego": "package p\n\nallow if true\n", "s.rego": "package s\n\nalert if input.x\n"}, []string{"--strict"}, 1,
			"error: " + noAlert + "error: D/s.rego:3:10: unknown input path input.x: Peregrine's input has no such field (peregrine fields --rego lists them) (LOAD_ERR_REGO)\n" +
				"\talert if input.x\n\t         ^\n" +
				"invalid: 0 rules, 0 macros, 0 lists, 0 warnings, 2 errors\n"},
		{"strict from the environment", map[string]string{"r.rego": "package p\n\nallow if true\n"}, []string{"--strict=false"}, 0,
			"warning: " + noAlert + "ok: 0 rules, 0 macros, 0 lists, 1 warnings, 0 errors\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			args := []string{"validate", "-r", dir}
			out, stderr, code := run(t, "", append(args, tc.args...)...)
			want := strings.ReplaceAll(tc.want, "D/", dir+"/")
			if code != tc.code || out != want {
				t.Errorf("exit %d, output\n%s\nwant exit %d, output\n%s\n(stderr %q)", code, out, tc.code, want, stderr)
			}
		})
	}
	// JSON: the warning is among the errors, with its source line.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"r.rego": "package p\n\nallow if true\n"})
	out, _, code := run(t, "", "validate", "-r", dir, "--strict", "--json")
	var rep struct {
		Warnings []any
		Errors   []struct{ Code, Source string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if code != 1 || len(rep.Warnings) != 0 || len(rep.Errors) != 1 || rep.Errors[0].Code != "LOAD_REGO_NO_ALERT" || rep.Errors[0].Source != "allow if true" {
		t.Errorf("--strict --json: exit %d, %s", code, out)
	}
}

// TestTestCommandExitCodes: peregrine test exits as opa test does: 0 when
// every test passes, 2 when one fails, errs or is skipped (0 for skipped
// ones with -z), 1 when a file does not load or compile; every test that
// does not pass is printed after its file:line.
func TestTestCommandExitCodes(t *testing.T) {
	const rule = "package p\n\nalert if input.proc.name == \"nc\"\n"
	const pass = "package p_test\n\nimport data.p\n\ntest_nc if p.alert with input as {\"proc\": {\"name\": \"nc\"}}\n"
	const cases = "rules: [../p.rego]\ncases:\n  - name: nc\n    event: {evt.type: openat, proc.name: nc}\n    alerts: [p]\n" +
		"  - name: cat\n    event: {evt.type: openat, proc.name: cat}\n    alerts: %s\n"
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		code  int
		want  []string // lines of the output, in order (D is the directory)
	}{
		{"pass", map[string]string{"p.rego": rule, "p_test.rego": pass, "t/p_test.yaml": strings.Replace(cases, "%s", "[]", 1)}, nil, 0,
			[]string{"PASS: 3/3"}},
		{"OPA test fails", map[string]string{"p.rego": rule, "p_test.rego": pass + "\ntest_cat if p.alert with input as {\"proc\": {\"name\": \"cat\"}}\n"}, nil, 2,
			[]string{"D/p_test.rego:7:", "data.p_test.test_cat: FAIL (T)", "  the test rule is undefined or false",
				"--------------------------------------------------------------------------------", "PASS: 1/2", "FAIL: 1/2"}},
		{"case fails", map[string]string{"p.rego": rule, "t/p_test.yaml": strings.Replace(cases, "%s", "[p]", 1)}, nil, 2,
			[]string{"D/t/p_test.yaml:6:", "cat: FAIL (T)", `  expected alerts ["p"], got (none)`}},
		{"two failures in two files", map[string]string{"p.rego": rule, "p_test.rego": "package p_test\n\ntest_a if false\n\ntest_b if false\n",
			"t/p_test.yaml": strings.Replace(cases, "%s", "[p]", 1)}, nil, 2,
			[]string{"D/p_test.rego:3:", "data.p_test.test_a: FAIL (T)", "  the test rule is undefined or false",
				"D/p_test.rego:5:", "data.p_test.test_b: FAIL (T)", "  the test rule is undefined or false", "",
				"D/t/p_test.yaml:6:", "cat: FAIL (T)"}},
		{"OPA test errs", map[string]string{"p_test.rego": "package p_test\n\nx := 1 if true\n\nx := 2 if true\n\ntest_x if x == 1\n"}, nil, 2,
			[]string{"D/p_test.rego:7:", "data.p_test.test_x: ERROR (T)", "PASS: 0/1", "ERROR: 1/1"}},
		{"skipped", map[string]string{"p.rego": rule, "p_test.rego": pass + "\ntodo_test_later if false\n"}, nil, 2,
			[]string{"D/p_test.rego:7:", "data.p_test.todo_test_later: SKIPPED", "PASS: 1/2", "SKIPPED: 1/2"}},
		{"skipped with -z", map[string]string{"p.rego": rule, "p_test.rego": pass + "\ntodo_test_later if false\n"}, []string{"-z"}, 0,
			[]string{"D/p_test.rego:7:", "data.p_test.todo_test_later: SKIPPED", "PASS: 1/2", "SKIPPED: 1/2"}},
		{"Rego file does not parse", map[string]string{"p.rego": "package p\n\nalert if {\n", "p_test.rego": pass}, nil, 1,
			[]string{"D/p.rego,D/p_test.rego:", "(load): ERROR (T)", "ERROR: 1/1"}},
		{"test file's rules do not load", map[string]string{"p.rego": "package p\n\nalert if input.proc.nmae == \"nc\"\n",
			"t/p_test.yaml": strings.Replace(cases, "%s", "[]", 1)}, nil, 1,
			[]string{"D/t/p_test.yaml:", "(load): ERROR (T)",
				"  loading the rules: D/p.rego:3:10: unknown input path input.proc.nmae: Peregrine's input has no such field; did you mean input.proc.name?",
				"  \talert if input.proc.nmae == \"nc\"", "  \t         ^", "--------------------------------------------------------------------------------", "PASS: 0/1", "ERROR: 1/1"}},
		{"a load error and a failure", map[string]string{"p.rego": rule, "p_test.rego": "package p_test\n\ntest_a if false\n",
			"t/x_test.yaml": "rules: [missing.yaml]\ncases:\n  - name: c\n    event: {evt.type: open}\n    alerts: []\n"}, nil, 1,
			[]string{"data.p_test.test_a: FAIL (T)", "(load): ERROR (T)", "FAIL: 1/2", "ERROR: 1/2"}},
	}
	durations := regexp.MustCompile(`\((\d+(\.\d+)?(ns|µs|ms|s))+\)`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			out, stderr, code := run(t, "", append(append([]string{"test"}, tc.args...), dir)...)
			out = durations.ReplaceAllString(strings.ReplaceAll(out, dir+"/", "D/"), "(T)")
			lines := strings.Split(out, "\n")
			at := 0
			for _, want := range tc.want {
				for at < len(lines) && lines[at] != want {
					at++
				}
				if at == len(lines) {
					t.Errorf("output lacks the line %q (after the ones before it):\n%s", want, out)
					break
				}
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s%s", code, tc.code, out, stderr)
			}
		})
	}
}
