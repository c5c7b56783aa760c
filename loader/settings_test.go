package loader_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/peregrine-sec/peregrine/loader"
	"github.com/peregrine-sec/peregrine/policy"
)

func upstreamFiles(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "falco")
	if _, err := os.Stat(filepath.Join(dir, "falco_rules.yaml")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("upstream rule files missing in CI: %v", err)
		}
		t.Skipf("upstream rule files not found at %s: %v", dir, err)
	}
	return []string{filepath.Join(dir, "falco_rules.yaml"), filepath.Join(dir, "falco-incubating_rules.yaml")}
}

func enabledNames(rules []*policy.Rule) []string {
	var out []string
	for _, r := range rules {
		if r.Enabled {
			out = append(out, r.Name)
		}
	}
	slices.Sort(out)
	return out
}

func sorted(names ...string) []string {
	slices.Sort(names)
	return names
}

// TestSelectionAsFalco: Falco's rules key on the upstream stable and
// incubating files. The expected sets follow Falco's documented
// semantics (falco.yaml, "rules"): the items apply in order after the
// files (with their enabled keys and overrides) are loaded and override
// them; a rule name matches with * as any run of characters, else exactly
// and case-sensitively; a tag matches exactly; an item with both a rule
// and a tag applies both; rules below priority are not loaded at all, so
// no item enables them.
func TestSelectionAsFalco(t *testing.T) {
	res := loader.Load(upstreamFiles(t), loader.Options{})
	if err := loader.Err(res); err != nil {
		t.Fatal(err)
	}
	base := enabledNames(res.Ruleset.Rules)
	var network []string
	for _, r := range res.Ruleset.Rules {
		if r.Enabled && slices.Contains(r.Tags, "network") {
			network = append(network, r.Name)
		}
	}
	var stable []string
	for _, r := range res.Ruleset.Rules {
		if slices.Contains(r.Tags, "maturity_stable") {
			stable = append(stable, r.Name)
		}
	}
	without := func(all, drop []string) []string {
		var out []string
		for _, n := range all {
			if !slices.Contains(drop, n) {
				out = append(out, n)
			}
		}
		return out
	}
	prio := func(p policy.Priority) *policy.Priority { return &p }
	off := loader.Selection{Rule: "*"}
	cases := []struct {
		name     string
		priority *policy.Priority
		sel      []loader.Selection
		want     []string
	}{
		{name: "nothing selected: the files decide", want: base},
		{name: "only two rules, by name with a wildcard", sel: []loader.Selection{off, {Enable: true, Rule: "Read sensitive file*"}},
			want: sorted("Read sensitive file trusted after startup", "Read sensitive file untrusted")},
		{name: "disable a tag: every enabled rule tagged network goes, no other", sel: []loader.Selection{{Rule: "", Tag: "network"}},
			want: without(base, network)},
		{name: "a tag matches exactly: T1611, not T1611.x; enable wins over enabled: false in the file",
			sel: []loader.Selection{off, {Enable: true, Tag: "T1611"}},
			want: sorted("Debugfs Launched in Privileged Container", "Detect release_agent File Container Escapes",
				"Change thread namespace", "Change namespace privileges via unshare", "Mount Launched in Privileged Container")},
		{name: "order matters: later items win", sel: []loader.Selection{{Enable: true, Rule: "*"}, {Tag: "maturity_incubating"}, {Enable: true, Rule: "Schedule Cron Jobs"}},
			want: sorted(append(append([]string{}, stable...), "Schedule Cron Jobs")...)},
		{name: "a wildcard in the middle matches the whole name", sel: []loader.Selection{off, {Enable: true, Rule: "Launch * in Container"}},
			// Not "Launch Privileged Container": the pattern needs " in Container".
			want: sorted("Launch Package Management Process in Container", "Launch Suspicious Network Tool in Container",
				"Launch Remote File Copy Tools in Container", "Launch Ingress Remote File Copy Tools in Container")},
		{name: "a name without * matches exactly, case included", sel: []loader.Selection{{Rule: "run shell untrusted"}, {Rule: "Run shell"}},
			want: base},
		{name: "rules below priority are not loaded, so enabling * cannot bring them", priority: prio(policy.PriorityError),
			sel: []loader.Selection{{Enable: true, Rule: "*"}},
			want: sorted("Detect release_agent File Container Escapes", "Drop and execute new binary in container",
				"Fileless execution via memfd_create", "Read ssh information", "Create files below dev",
				"Launch Package Management Process in Container")},
		{name: "an item with a rule and a tag applies both", sel: []loader.Selection{off, {Enable: true, Rule: "PTRACE*", Tag: "aws"}},
			want: sorted("PTRACE attached to process", "PTRACE anti-debug attempt", "Find AWS Credentials",
				"Contact EC2 Instance Metadata Service From Container")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := enabledNames(loader.Settings{Priority: c.priority, Select: c.sel}.Apply(res.Ruleset.Rules))
			if !slices.Equal(got, sorted(c.want...)) {
				t.Errorf("enabled:\n%q\nwant:\n%q", got, sorted(c.want...))
			}
		})
	}
	// The loaded rules themselves are left as they were.
	if got := enabledNames(res.Ruleset.Rules); !slices.Equal(got, base) {
		t.Errorf("Apply changed the rules it was given")
	}
}

func TestMatchWildcard(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true}, {"*", "anything", true}, {"**", "x", true},
		{"abc", "abc", true}, {"abc", "abcd", false}, {"abc", "Abc", false},
		{"ab*", "abc", true}, {"ab*", "xab", false},
		{"*bc", "abc", true}, {"*bc", "abcd", false}, {"*a", "aba", true},
		{"a*c", "abbbc", true}, {"a*c", "ac", true}, {"a*c", "acb", false},
		{"*a*b", "xaab", true}, {"*a*b*", "ba", false},
		{"Read sensitive file*", "Read sensitive file untrusted", true},
	} {
		if got := loader.MatchWildcard(c.pattern, c.name); got != c.want {
			t.Errorf("MatchWildcard(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}
