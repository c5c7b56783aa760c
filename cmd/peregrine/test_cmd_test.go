package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTestDir writes a rule test directory: a Falco rule, a Rego rule
// with OPA unit tests, and a Peregrine test file whose last case expects
// the alerts given.
func writeTestDir(t *testing.T, lastAlerts string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"shadow.yaml": `- rule: Shadow read
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow
  output: "%proc.name read %fd.name"
  priority: warning
`,
		"shadow.rego": `# METADATA
# title: Shadow read (Rego)
package shadow

alert if {
	input.evt.type == "openat"
	input.fd.name == "/etc/shadow"
}
`,
		"shadow_test.rego": `package shadow_test

import data.shadow

test_fires if shadow.alert with input as {"evt": {"type": "openat"}, "fd": {"name": "/etc/shadow"}}

test_other_file if not shadow.alert with input as {"evt": {"type": "openat"}, "fd": {"name": "/etc/passwd"}}
`,
		"sub/shadow_test.yaml": `rules: [../shadow.yaml, ../shadow.rego]
rule_matching: all
cases:
  - name: cat reads the shadow file
    event: {evt.type: openat, proc.name: cat, fd.name: /etc/shadow}
    alerts: [Shadow read, Shadow read (Rego)]
  - name: cat reads passwd
    event: {evt.type: openat, proc.name: cat, fd.name: /etc/passwd}
    alerts: ` + lastAlerts + `
`,
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTestCommandPasses(t *testing.T) {
	dir := writeTestDir(t, "[]")
	out, stderr, code := run(t, "", "test", dir)
	if code != 0 || strings.TrimSpace(out) != "PASS: 4/4" {
		t.Fatalf("exit %d, output %q, stderr %q; want PASS: 4/4", code, out, stderr)
	}
	out, _, code = run(t, "", "test", "-v", dir)
	if code != 0 {
		t.Fatalf("-v: exit %d: %s", code, out)
	}
	for _, want := range []string{"data.shadow_test.test_fires: PASS", "data.shadow_test.test_other_file: PASS",
		"cat reads the shadow file: PASS", "cat reads passwd: PASS", "PASS: 4/4"} {
		if !strings.Contains(out, want) {
			t.Errorf("-v output lacks %q:\n%s", want, out)
		}
	}
}

func TestTestCommandReportsWrongExpectation(t *testing.T) {
	dir := writeTestDir(t, "[Shadow read]")
	out, _, code := run(t, "", "test", dir)
	if code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", code, out)
	}
	for _, want := range []string{
		filepath.Join(dir, "sub", "shadow_test.yaml") + ":7:\n",
		"cat reads passwd: FAIL",
		`expected alerts ["Shadow read"], got (none)`,
		`event:     {"evt.type":"openat","fd.name":"/etc/passwd","proc.name":"cat"}`,
		`expected:  ["Shadow read"]`,
		`actual:    (none)`,
		"PASS: 3/4", "FAIL: 1/4",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cat reads the shadow file") {
		t.Errorf("without -v, passing cases are listed:\n%s", out)
	}

	out, _, code = run(t, "", "test", "--json", dir)
	if code != 2 {
		t.Fatalf("--json: exit %d, want 2", code)
	}
	var rep struct {
		Results []struct {
			Kind, Name, Status string
			Expected, Actual   []string
		}
		Summary struct{ Total, Pass, Fail int }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Summary.Total != 4 || rep.Summary.Pass != 3 || rep.Summary.Fail != 1 {
		t.Errorf("summary %+v, want 4 tests, 3 passed, 1 failed", rep.Summary)
	}
	for _, r := range rep.Results {
		if r.Name == "cat reads passwd" && (r.Kind != "peregrine" || r.Status != "FAIL" ||
			strings.Join(r.Expected, ",") != "Shadow read" || len(r.Actual) != 0) {
			t.Errorf("failing case reported as %+v", r)
		}
	}
}

func TestTestCommandBadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x_test.yaml")
	os.WriteFile(p, []byte("rules: [missing.yaml]\ncases:\n  - name: c\n    event: {evt.type: open}\n    alerts: []\n"), 0o644)
	out, _, code := run(t, "", "test", dir)
	if code != 1 || !strings.Contains(out, "(load): ERROR") || !strings.Contains(out, "missing.yaml") || !strings.Contains(out, "ERROR: 1/1") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

// TestTestCommandBundleSeesFalcoLists runs `peregrine test` on a test file
// whose Rego rule comes from an OPA bundle directory and reads
// data.falco.lists.shells of a Falco file loaded alongside, and checks
// that replay, given the same rules and events, alerts exactly as the
// test file says: both load the rules with the one loader and evaluate
// with the one pipeline.
func TestTestCommandBundleSeesFalcoLists(t *testing.T) {
	dir := t.TempDir()
	const fires = `{"evt.type":"execve","evt.rawres":0,"proc.name":"bash","proc.pname":"nginx","user.name":"www-data"}`
	const miss = `{"evt.type":"execve","evt.rawres":0,"proc.name":"zsh","proc.pname":"nginx","user.name":"www-data"}`
	const output = "shell bash under nginx (user=www-data, servers=nginx,httpd)"
	files := map[string]string{
		"rules/lists.yaml":               "- list: shells\n  items: [bash, sh]\n",
		"rules/bundle/.manifest":         `{"revision":"t1","roots":["web","servers"]}`,
		"rules/bundle/servers/data.json": `{"names": ["nginx", "httpd"]}`,
		"rules/bundle/web/shell.rego": `# METADATA
# title: Shell under a web server
# custom:
#   priority: CRITICAL
#   output: shell %proc.name under %proc.pname (user=%user.name, servers=nginx,httpd)
package web.shell

alert if {
	input.evt.type == "execve"
	input.evt.failed == false
	input.proc.name in data.falco.lists.shells
	input.proc.pname in data.servers.names
}
`,
		"tests/shell_test.yaml": `rules: [../rules/lists.yaml, ../rules/bundle]
cases:
  - name: bash under nginx
    event: ` + fires + `
    alerts: [Shell under a web server]
    outputs: ["` + output + `"]
  - name: zsh is no listed shell
    event: ` + miss + `
    alerts: []
`,
		// Without the Falco file the bundle's rule sees no list.
		"alone/shell_test.yaml": `rules: [../rules/bundle]
cases:
  - name: bash under nginx
    event: ` + fires + `
    alerts: [Shell under a web server]
`,
	}
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, code := run(t, "", "test", "-v", filepath.Join(dir, "tests"))
	if code != 0 || !strings.Contains(out, "bash under nginx: PASS") || !strings.Contains(out, "PASS: 2/2") {
		t.Fatalf("peregrine test: exit %d:\n%s%s", code, out, stderr)
	}
	// It fails, and the load warning says why.
	out, _, code = run(t, "", "test", filepath.Join(dir, "alone"))
	warning := "warning: " + filepath.Join(dir, "rules", "bundle", "web", "shell.rego") + ":11:21: shells: undefined list data.falco.lists.shells: " +
		"no file loaded defines it, so what reads it is undefined for every event (LOAD_REGO_UNDEFINED_LIST)\n" +
		"\t\tinput.proc.name in data.falco.lists.shells\n\t\t                   ^\n"
	if code != 2 || !strings.HasPrefix(out, warning) || !strings.Contains(out, `expected alerts ["Shell under a web server"], got (none)`) {
		t.Errorf("peregrine test without the Falco lists: exit %d:\n%s\nwant it to start with\n%s", code, out, warning)
	}

	// replay of the same events with the same rules, as -r paths.
	out, stderr, code = run(t, fires+"\n"+miss+"\n", "replay", "-r", filepath.Join(dir, "rules", "lists.yaml"),
		"-r", filepath.Join(dir, "rules", "bundle"), "--events", "-")
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || !strings.HasSuffix(lines[0], ": Critical "+output) {
		t.Errorf("replay alerts:\n%s\nwant one line ending with %q", out, ": Critical "+output)
	}
}
