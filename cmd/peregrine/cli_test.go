package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestFalcoFlags: the flags a Falco user types behave as Falco's do for
// the same words.
func TestFalcoFlags(t *testing.T) {
	dir := t.TempDir()
	local := filepath.Join(dir, "local.yaml")
	os.WriteFile(local, []byte("- rule: Local extra\n  desc: a local rule\n  condition: evt.type = openat and proc.name = dog\n  output: dog opened %fd.name\n  priority: notice\n"), 0o644)
	cfg := filepath.Join(dir, "peregrine.yaml")
	os.WriteFile(cfg, []byte("rules_files:\n  - "+local+"\n"), 0o644)
	events := `{"evt.type":"openat","proc.name":"dog","fd.name":"/x"}` + "\n"

	// The embedded default rules: as many as list prints.
	listed, _, code := run(t, "", "list")
	if code != 0 {
		t.Fatalf("list: exit %d", code)
	}
	defaults := len(strings.Split(strings.TrimSpace(listed), "\n"))

	for _, c := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string // a regexp the output (stdout and stderr) must match
	}{
		{"-V", "", []string{"-V"}, 0, `^peregrine \S+ \(Falco rules engine \d+\.\d+\.\d+\)\n$`},
		{"--version", "", []string{"--version"}, 0, `^peregrine \S+ \(Falco rules engine`},
		{"validate without -r", "", []string{"validate"}, 0, `ok: ` + strconv.Itoa(defaults) + ` rules`},
		{"-r @default next to a local file", "", []string{"validate", "-r", "@default", "-r", local}, 0, `ok: ` + strconv.Itoa(defaults+1) + ` rules`},
		{"-c names the config file", "", []string{"validate", "-c", cfg}, 0, `ok: 1 rules`},
		{"-o sets a key", events, []string{"replay", "-r", local, "--events", "-", "-o", "json=true"}, 0, `^\{"hostname"`},
		{"-o takes Falco's json_output", events, []string{"replay", "-r", local, "--events", "-", "-o", "json_output=true"}, 0, `"rule":"Local extra"`},
		{"-o wins over the config file", events, []string{"replay", "-c", cfg, "--events", "-", "-o", "rules=" + filepath.Join(dir, "missing.yaml")}, 1, `missing\.yaml`},
		{"-o of an unknown key", "", []string{"validate", "-o", "priorty=debug"}, 1,
			`-o priorty=debug: peregrine validate has no key "priorty" \(its keys are its long flag names, peregrine validate --help, and the configuration keys, peregrine config default\)`},
		{"-o of a nested configuration key", events, []string{"replay", "-r", local, "--events", "-", "-o", "priority=error"}, 0, `^$`},
		{"-o without =", "", []string{"validate", "-o", "json"}, 1, `-o json: want key=value`},
		{"-L lists rules with descriptions", "", []string{"run", "-L", "-r", local}, 0, `RULE\s+DESCRIPTION\nLocal extra\s+a local rule\n`},
		{"--list with the default rules", "", []string{"run", "--list"}, 0, `Credential file read by untrusted program\s+A program`},
		{"--dry-run attaches nothing", "", []string{"run", "--dry-run", "-r", local}, 0,
			`dry run: 1 rules compiled; run would capture 3 syscalls \(chdir,fchdir,openat\) through (raw_)?tracepoint: .*; nothing attached\n`},
		{"-U is accepted", "", []string{"run", "-U", "--dry-run", "-r", local}, 0, `dry run: 1 rules`},
		{"list without -r", "", []string{"list"}, 0, `Credential file read by untrusted program`},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, code := run(t, c.stdin, c.args...)
			if code != c.code || !regexp.MustCompile(c.want).MatchString(out+stderr) {
				t.Errorf("exit %d (want %d), output:\n%s%s\nwant match of %s", code, c.code, out, stderr, c.want)
			}
		})
	}
}

// TestBooleanFlagHelp: a boolean flag reads as a switch in the help, and
// the usages stay aligned.
func TestBooleanFlagHelp(t *testing.T) {
	for _, sub := range []string{"run", "validate", "replay", "explain", "bench"} {
		out, _, code := run(t, "", sub, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d", sub, code)
		}
		if strings.Contains(out, "[=true|false]") {
			t.Errorf("%s --help shows [=true|false]:\n%s", sub, out)
		}
		col := -1
		for _, line := range strings.Split(out, "\n") {
			m := regexp.MustCompile(`^  (?:-\w, )?      ?--\S+(?: \w+)?\s+`).FindString(line)
			if !strings.HasPrefix(strings.TrimLeft(line, " "), "-") || m == "" {
				if line == "" || !strings.HasPrefix(line, " ") {
					col = -1 // a new section aligns on its own
				}
				continue
			}
			if col >= 0 && len(m) != col {
				t.Errorf("%s --help: usage at column %d, want %d: %q", sub, len(m), col, line)
			}
			col = len(m)
		}
	}
}

// TestReadmeLinks: every relative link of the README names a file of the
// repository.
func TestReadmeLinks(t *testing.T) {
	root := filepath.Join("..", "..")
	src, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	links := regexp.MustCompile(`\]\(([^)#\s]+)(?:#[^)]*)?\)`).FindAllStringSubmatch(string(src), -1)
	if len(links) == 0 {
		t.Fatal("no links found: the pattern is wrong")
	}
	for _, m := range links {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		if strings.HasPrefix(target, "..") {
			t.Errorf("README links outside the repository: %s", target)
			continue
		}
		if _, err := os.Stat(filepath.Join(root, target)); err != nil {
			t.Errorf("README link %s: %v", target, err)
		}
	}
}
