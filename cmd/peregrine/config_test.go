package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// upstreamFalcoYAML is Falco's own default falco.yaml, as the Falco peer
// build leaves it (../shared/peers/build-falco.sh), or where
// PEREGRINE_FALCO_YAML names it.
func upstreamFalcoYAML(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("PEREGRINE_FALCO_YAML"), "/root/.cache/peregrine-peers/falco/etc/falco.upstream.yaml"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	const how = "build the Falco peer (../shared/peers/build-falco.sh), which leaves it in its etc/, or set PEREGRINE_FALCO_YAML"
	if os.Getenv("CI") != "" {
		t.Fatal("no upstream falco.yaml in CI: " + how)
	}
	t.Skip("no upstream falco.yaml: " + how)
	return ""
}

// TestUpstreamFalcoYAML: Falco's default falco.yaml starts the agent
// (here, a dry run) with one warning naming the keys that have no effect,
// and nothing else; the keys it names are the file's, and none that
// Peregrine honours.
func TestUpstreamFalcoYAML(t *testing.T) {
	path := upstreamFalcoYAML(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run(t, "", "-c", path, "run", "--dry-run", "-r", "@default")
	if code != 0 || !strings.HasPrefix(out, "dry run: ") {
		t.Fatalf("exit %d:\n%s%s", code, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	m := regexp.MustCompile(`^peregrine: warning: .*: keys with no effect in Peregrine: (.*) \(peregrine config check says why\)$`).FindStringSubmatch(lines[0])
	if len(lines) != 1 || m == nil {
		t.Fatalf("want one warning, got:\n%s", stderr)
	}
	for _, k := range strings.Split(m[1], ", ") {
		if _, ok := doc[k]; !ok {
			t.Errorf("warning names %q, which the file does not have", k)
		}
		if ck := lookupConfigKey(k); ck == nil || !ck.ignored {
			t.Errorf("warning names %q, which Peregrine honours", k)
		}
	}
	for _, honoured := range []string{"rules_files", "priority", "json_output", "rule_matching", "stdout_output", "http_output", "append_output"} {
		if slices.Contains(strings.Split(m[1], ", "), honoured) {
			t.Errorf("warning names %s", honoured)
		}
	}
}

// TestConfigCheckSaysWhy: config check names each key with no effect
// and what Peregrine does instead.
func TestConfigCheckSaysWhy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "falco.yaml")
	os.WriteFile(path, []byte("rules_files: [\"@default\"]\nengine:\n  kind: modern_ebpf\nsyscall_event_drops:\n  actions: [log]\n"), 0o644)
	out, stderr, code := run(t, "", "-c", path, "config", "check")
	for _, want := range []string{"  engine: no effect: Peregrine has one engine, its own eBPF probe\n",
		"  syscall_event_drops: no effect: losses are counted and reported on exit\n"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, stdout %q (stderr %q): want %q", code, out, stderr, want)
		}
	}
}

// TestConfigErrors: a configuration mistake is an error naming the file
// and the key.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, text, want string
	}{
		{"unknown key", "rule_matchin: all\n", `unknown keys rule_matchin`},
		{"selection without rule or tag", "rules:\n  - enable: {}\n", `rules\[0\]\.enable: want rule or tag`},
		{"selection with a bad operation", "rules:\n  - toggle: {rule: x}\n", `rules\[0\]: "toggle": want enable or disable`},
		{"bad priority", "priority: loud\n", `priority: unknown priority "loud"`},
		{"noise default with a bad field", "noise_control:\n  - throttle: {rate: 1, per: 1m, by: [proc.nmae]}\n", `noise_control\[0\]: throttle\.by: "proc\.nmae" is no field \(did you mean proc\.name\?\)`},
		{"append_output with a bad field", "append_output:\n  - extra_fields: [proc.nmae]\n", `append_output\[0\]\.extra_fields\[0\]: "proc\.nmae" is no field`},
		{"both rules_files and rules_file", "rules_files: [a]\nrules_file: [b]\n", `both rules_files and rules_file`},
		{"YAML syntax", "rules: [\n", `\[1:8\]|1:8|line 1`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".yaml")
			os.WriteFile(path, []byte(c.text), 0o644)
			_, stderr, code := run(t, "", "-c", path, "config", "check")
			if code == 0 || !strings.Contains(stderr, path) || !regexp.MustCompile(c.want).MatchString(stderr) {
				t.Errorf("exit %d, stderr %q; want an error naming %s matching %s", code, stderr, path, c.want)
			}
		})
	}
}

// TestConfigSettingsApply: the configuration's selection, priority,
// append_output and JSON keys change what replay raises and writes.
func TestConfigSettingsApply(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "r.yaml")
	os.WriteFile(rules, []byte(openRule("Quiet rule", "/x", "  tags: [quiet]\n")+openRule("Loud rule", "/x", "")), 0o644)
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte(`rules_files: [`+rules+`]
rule_matching: all
rules:
  - disable: {tag: quiet}
append_output:
  - match: {rule: "Loud*"}
    extra_output: "by %proc.name"
    extra_fields: [proc.pid, {site: lab}]
json_output: true
json_include_tags_property: false
json_include_message_property: true
`), 0o644)
	events := `{"evt.type":"openat","proc.name":"cat","proc.pid":42,"fd.name":"/x"}` + "\n"
	out, stderr, code := run(t, events, "-c", cfg, "replay", "--events", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	alerts := parseAlerts(t, out)
	if len(alerts) != 1 || alerts[0].Rule != "Loud rule" {
		t.Fatalf("want the loud rule alone, got %s", out)
	}
	for _, want := range []string{`"message":"Loud rule opened /x by cat"`, `"proc.pid":42`, `"site":"lab"`} {
		if !strings.Contains(out, want) {
			t.Errorf("alert lacks %s: %s", want, out)
		}
	}
	if strings.Contains(out, `"tags"`) {
		t.Errorf("json_include_tags_property false, yet tags: %s", out)
	}
}

// TestReferenceConfig: the reference configuration, as config default
// prints it, is a configuration run starts with, with no warning.
func TestReferenceConfig(t *testing.T) {
	out, _, code := run(t, "", "config", "default")
	if code != 0 || !strings.Contains(out, "rules_files:") {
		t.Fatalf("config default: exit %d", code)
	}
	path := filepath.Join(t.TempDir(), "peregrine.yaml")
	os.WriteFile(path, []byte(out), 0o644)
	out, stderr, code := run(t, "", "-c", path, "run", "--dry-run")
	if code != 0 || stderr != "" || !strings.HasPrefix(out, "dry run: ") {
		t.Errorf("exit %d, stderr %q, stdout %q", code, stderr, out)
	}
}
