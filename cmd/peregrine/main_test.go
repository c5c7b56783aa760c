package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/peregrine-sec/peregrine/internal/privtest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/peregrine-sec/peregrine/bpf"
)

// run executes the CLI in-process and returns stdout, stderr and the exit
// status.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	code := 0
	if err := cmd.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			code = ee.code
		} else {
			errOut.WriteString(err.Error())
			code = 1
		}
	}
	return out.String(), errOut.String(), code
}

func upstream(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "falco")
	if _, err := os.Stat(filepath.Join(dir, "falco_rules.yaml")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("upstream rule files missing in CI: %v", err)
		}
		t.Skipf("upstream rule files not found: %v", err)
	}
	return filepath.Join(dir, "falco_rules.yaml"), filepath.Join(dir, "falco-incubating_rules.yaml")
}

func TestValidateUpstream(t *testing.T) {
	stable, incubating := upstream(t)
	out, stderr, code := run(t, "", "validate", "-r", stable, "-r", incubating, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, stderr)
	}
	var report struct {
		Rules, Macros, Lists int
		Errors               []any
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if report.Rules != 56 || report.Macros != 157 || report.Lists != 83 || len(report.Errors) != 0 {
		t.Errorf("got %+v, want 56 rules, 157 macros, 83 lists, no errors", report)
	}
}

func TestBadInputNamesPosition(t *testing.T) {
	const rule = "- rule: r\n  desc: d\n  output: o\n  priority: info\n  condition: "
	cases := []struct {
		name, src, pos, msg string
	}{
		{"broken yaml", "- rule: r\n  desc: [\n- x: y: z\n", `bad\.yaml:3:\d+`, ""},
		{"bad condition", rule + "evt.type = open and (proc.name = x\n", `bad\.yaml:5:\d+`, "expected a ')' token"},
		{"unknown field", rule + "evt.type = open and proc.nome = x\n", `bad\.yaml:5:34`, "nonexistent field proc.nome"},
		{"undefined macro", rule + "evt.type = open and not_a_macro\n", `bad\.yaml:5:34`, "Undefined macro 'not_a_macro'"},
		{"duplicate rule", rule + "evt.type = open\n" + rule + "evt.type = close\n", `bad\.yaml:6:9`, "defined twice"},
		// Each macro names the one before twice: written out, the 40th
		// would be 16 TB long.
		{"doubling macros", func() string {
			s := "- macro: m_0\n  condition: evt.type = open\n"
			for i := 1; i <= 40; i++ {
				s += fmt.Sprintf("- macro: m_%d\n  condition: m_%d and m_%d\n", i, i-1, i-1)
			}
			return s + rule + "m_40\n"
		}(), `bad\.yaml:33:8`, "macro 'm_16': the condition is 1310715 bytes long with its lists and macros written out: over the condition size limit of 1048576 bytes (LOAD_ERR_LIMIT)"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad.yaml")
			if err := os.WriteFile(path, []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, sub := range []string{"validate", "list", "explain"} {
				out, stderr, code := run(t, "", sub, "-r", path)
				if code != 1 {
					t.Errorf("%s: exit %d, want 1", sub, code)
				}
				text := out + stderr
				if !regexp.MustCompile(c.pos).MatchString(text) || !strings.Contains(text, c.msg) {
					t.Errorf("%s: output %q does not name %s with %q", sub, text, c.pos, c.msg)
				}
			}
		})
	}
}

func TestReplay(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "r.yaml")
	os.WriteFile(rules, []byte("- rule: Shadow read\n  desc: d\n  condition: evt.type = openat and fd.name = /etc/shadow\n  output: \"%proc.name read %fd.name (user=%user.name)\"\n  priority: warning\n  tags: [b, a]\n"), 0o644)
	events := `{"evt.type":"openat","proc.name":"cat","fd.name":"/etc/shadow","evt.rawtime":1700000000123456789}
{"evt.type":"openat","proc.name":"cat","fd.name":"/etc/passwd"}
`
	out, stderr, code := run(t, events, "replay", "-r", rules, "--events", "-", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d alerts, want 1: %s", len(lines), out)
	}
	var a map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &a); err != nil {
		t.Fatal(err)
	}
	fields := a["output_fields"].(map[string]any)
	if a["rule"] != "Shadow read" || a["priority"] != "Warning" || a["time"] != "2023-11-14T22:13:20.123456789Z" ||
		fields["proc.name"] != "cat" || fields["user.name"] != nil || fields["evt.time"] != float64(1700000000123456789) {
		t.Errorf("alert %s", lines[0])
	}
	if !strings.HasSuffix(a["output"].(string), ": Warning cat read /etc/shadow (user=<NA>)") {
		t.Errorf("output %q", a["output"])
	}
	if tags := a["tags"].([]any); len(tags) != 2 || tags[0] != "a" {
		t.Errorf("tags %v, want sorted", tags)
	}
	// A broken event line names the line and exits 1.
	_, stderr, code = run(t, "{\"evt.type\":\"openat\"}\n{broken\n", "replay", "-r", rules, "--events", "-")
	if code != 1 || !strings.Contains(stderr, "stdin:2") {
		t.Errorf("broken event: exit %d, %q", code, stderr)
	}
}

// TestReplayRefuses checks replay's errors on events it cannot read, and
// --input, which takes one event as a Rego input document.
func TestReplayRefuses(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "r.yaml")
	os.WriteFile(rules, []byte("- rule: Shadow read\n  desc: d\n  condition: evt.type = openat and fd.name = /etc/shadow and proc.name = cat\n  output: \"%proc.name read %fd.name\"\n  priority: warning\n"), 0o644)
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(text), 0o644)
		return path
	}
	cases := []struct {
		name string
		args []string
		out  string // the alert outputs, their times cut
		err  string // stderr
	}{
		{"misspelt field", []string{"--events", write("events.jsonl", `{"evt.type":"openat","proc.name":"cat","fd.name":"/etc/shadow"}`+"\n\n"+`{"evt.type":"openat","proc.nmae":"cat"}`+"\n")},
			"Warning cat read /etc/shadow\n", dir + `/events.jsonl:3: unknown field "proc.nmae" (did you mean proc.name?)`},
		{"nested object", []string{"--events", write("nested.jsonl", `{"proc":{"name":"cat"}}`+"\n")},
			"", dir + `/nested.jsonl:1: unknown field "proc" holding an object: an event's fields are flat, as in {"proc.name": ...}`},
		{"input document", []string{"--input", write("in.json", `{"proc": {"name": "cat"}, "fd": {"name": "/etc/shadow"}, "evt": {"type": "openat"}}`)},
			"Warning cat read /etc/shadow\n", ""},
		{"input misspelt", []string{"--input", write("bad.json", `{"proc": {"nmae": "cat"}, "evt": {"type": "openat"}}`)},
			"", dir + `/bad.json: input.proc.nmae: unknown field "proc.nmae" (did you mean proc.name?)`},
		{"input lines", []string{"--input", write("two.json", `{"evt": {"type": "openat"}}`+"\n"+`{"evt": {"type": "open"}}`)},
			"", dir + `/two.json: more than one JSON document: --input takes one event (--events takes JSON lines)`},
		{"input flat", []string{"--input", write("flat.json", `{"proc.name": "cat"}`)},
			"", dir + `/flat.json: input.proc.name: the key "proc.name" holds a dot: the input document nests, input.proc.name is {"proc": {"name": ...}}`},
		{"both", []string{"--input", dir + "/in.json", "--events", dir + "/events.jsonl"}, "", "give --events or --input, not both"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, code := run(t, "", append([]string{"replay", "-r", rules}, c.args...)...)
			var alerts strings.Builder
			for _, l := range strings.SplitAfter(out, "\n") {
				if _, text, ok := strings.Cut(l, ": "); ok {
					alerts.WriteString(text)
				}
			}
			if alerts.String() != c.out || stderr != c.err || (code != 0) != (c.err != "") {
				t.Errorf("exit %d\n got %q, %q\nwant %q, %q", code, alerts.String(), stderr, c.out, c.err)
			}
		})
	}
}

func TestFieldsCatalog(t *testing.T) {
	out, _, code := run(t, "", "fields", "--json")
	if code != 0 {
		t.Fatal(code)
	}
	var fields []struct{ Name, Type string }
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, f := range fields {
		have[f.Name] = f.Type
	}
	for name, typ := range map[string]string{"proc.aname": "CHARBUF", "proc.exepath": "CHARBUF", "fd.typechar": "CHARBUF", "evt.arg": "CHARBUF",
		"evt.is_open_write": "BOOL", "container.id": "CHARBUF", "thread.cap_effective": "CHARBUF", "fd.sip.name": "CHARBUF",
		"k8s.ns.name": "CHARBUF", "user.uid": "UINT32", "fd.sport": "PORT", "fd.snet": "IPNET"} {
		if have[name] != typ {
			t.Errorf("field %s: type %q, want %q", name, have[name], typ)
		}
	}
}

// TestMain lets the test binary run the CLI itself, so a test can run it
// as another user.
func TestMain(m *testing.M) {
	if os.Getenv("PEREGRINE_RUN_MAIN") != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// requireRoot skips a test that loads eBPF programs when not run as root,
// and fails it under CI, which runs as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test loads eBPF programs and must run as root in CI")
		}
		t.Skip("loading eBPF programs needs root")
	}
}

// TestRunUnprivileged checks that run, without root, names what is
// missing and exits 1.
func TestRunUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test drops privileges and must run as root in CI")
		}
		t.Skip("dropping privileges to another user needs root")
	}
	dir, bin := privtest.PublicCopy(t, "peregrine")
	cmd := exec.Command(bin, "run")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PEREGRINE_RUN_MAIN=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1: %s", err, out)
	}
	for _, want := range []string{"CAP_BPF", "CAP_PERFMON", "run as root"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output %q does not name %s", out, want)
		}
	}
}

func TestRegoAlongsideYAML(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.rego"), []byte("# METADATA\n# title: R\npackage p.r\n\nalert if {\n\tinput.evt.type == \"openat\"\n\tinput.proc.name == \"cat\"\n}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("- rule: Y\n  desc: d\n  condition: evt.type = openat and proc.name = dog\n  output: o\n  priority: info\n"), 0o644)
	out, stderr, code := run(t, "", "validate", "-r", dir, "--json")
	if code != 0 || !strings.Contains(out, `"rules": 2`) {
		t.Fatalf("exit %d: %s %s", code, out, stderr)
	}
	out, _, code = run(t, `{"evt.type":"openat","proc.name":"cat"}`+"\n", "replay", "-r", dir, "--events", "-")
	if code != 0 || !strings.Contains(out, "Warning R") {
		t.Errorf("replay: exit %d, %q", code, out)
	}
	os.WriteFile(filepath.Join(dir, "c.rego"), []byte("package p.bad\n\nalert if {\n\tinput.x ==\n}\n"), 0o644)
	out, stderr, code = run(t, "", "validate", "-r", dir)
	if code != 1 || !regexp.MustCompile(`c\.rego:\d+:\d+`).MatchString(out+stderr) {
		t.Errorf("a Rego syntax error: exit %d, %q", code, out+stderr)
	}
}

func TestFieldsRego(t *testing.T) {
	out, _, code := run(t, "", "fields", "--rego", "--json")
	if code != 0 {
		t.Fatal(code)
	}
	var shape []struct {
		Path       string
		Translated bool
	}
	if err := json.Unmarshal([]byte(out), &shape); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"input.proc.name": true, "input.proc.aname[i]": true, "input.evt.arg.NAME": true, "input.fd.name": true}
	for _, e := range shape {
		if want[e.Path] {
			if !e.Translated {
				t.Errorf("%s is not translated", e.Path)
			}
			delete(want, e.Path)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing paths %v", want)
	}
}

func TestBundleDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".manifest"), []byte(`{"revision":"r1","roots":["p"]}`), 0o644)
	os.MkdirAll(filepath.Join(dir, "p"), 0o755)
	os.WriteFile(filepath.Join(dir, "p", "r.rego"), []byte("# METADATA\n# title: Bundle rule\npackage p.r\n\nalert if {\n\tinput.evt.type == \"openat\"\n\tinput.proc.name in data.p.names\n}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "p", "data.json"), []byte(`{"names": ["cat", "dog"]}`), 0o644)
	out, stderr, code := run(t, `{"evt.type":"openat","proc.name":"dog"}`+"\n"+`{"evt.type":"openat","proc.name":"cow"}`+"\n", "replay", "-r", dir, "--events", "-")
	if code != 0 || strings.Count(out, "Bundle rule") != 1 {
		t.Errorf("replay of a bundle directory: exit %d, %q %q", code, out, stderr)
	}
}

func TestRegoSeesFalcoLists(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "lists.yaml"), []byte("- list: pets\n  items: [cat, dog]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "r.rego"), []byte("# METADATA\n# title: Pet opens\npackage p.pets\n\nalert if {\n\tinput.evt.type == \"openat\"\n\tinput.proc.name in data.falco.lists.pets\n}\n"), 0o644)
	out, stderr, code := run(t, `{"evt.type":"openat","proc.name":"dog"}`+"\n"+`{"evt.type":"openat","proc.name":"cow"}`+"\n", "replay", "-r", dir, "--events", "-")
	if code != 0 || strings.Count(out, "Pet opens") != 1 {
		t.Errorf("exit %d, %q %q", code, out, stderr)
	}
}

// TestUncapturedEventTypes: a rule that can match only syscalls the
// capture does not provide never fires, and validate says so where it is
// defined; a rule that names one captured syscall among them is fine.
func TestUncapturedEventTypes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.yaml")
	src := "- rule: never\n  desc: d\n  condition: evt.type = sendmmsg and fd.num > 0\n  output: o\n  priority: info\n" +
		"- rule: sometimes\n  desc: d\n  condition: evt.type in (sendmmsg, sendmsg)\n  output: o\n  priority: info\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := run(t, "", "validate", "-r", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	want := path + ":1:7: never: the rule can match only sendmmsg, which Peregrine does not capture: it never fires (LOAD_UNCAPTURED_EVENT_TYPE)"
	if !strings.Contains(out, want) {
		t.Errorf("validate said:\n%s\nwant the line\n%s", out, want)
	}
	if strings.Contains(out, "sometimes:") {
		t.Errorf("a rule with a captured syscall was reported:\n%s", out)
	}
}

// TestExplainWatch: explain says how run would watch the syscalls, and on
// a kernel that runs 32-bit code that is the raw tracepoints, the only
// hook that sees ia32 syscalls.
func TestExplainWatch(t *testing.T) {
	out, stderr, code := run(t, "", "explain", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Summary struct {
			Watch *struct{ Mode, Why string }
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	w := doc.Summary.Watch
	if w == nil || w.Why == "" || (w.Mode != string(bpf.AttachTracepoints) && w.Mode != string(bpf.AttachRawTracepoints)) {
		t.Fatalf("watch %+v", w)
	}
	if bpf.IA32Enabled() && w.Mode != string(bpf.AttachRawTracepoints) {
		t.Errorf("ia32 runs here, yet explain says %s: %s", w.Mode, w.Why)
	}
}
