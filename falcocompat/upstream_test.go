package falcocompat_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime"
)

// upstreamFiles are the upstream rule files, in load order: the incubating
// file redefines some lists and macros of the stable one.
var upstreamFiles = []string{"falco_rules.yaml", "falco-incubating_rules.yaml"}

// upstreamCase is one entry of testdata/upstream/events.yaml.
type upstreamCase struct {
	Rule string `yaml:"rule"`
	// Fires is an event the rule alerts on.
	Fires map[string]any `yaml:"fires"`
	// NearMiss is a benign variant of Fires the rule stays silent on.
	NearMiss map[string]any `yaml:"near_miss"`
	// NeverFires, given instead of Fires for a rule that can never alert,
	// is the part of its compiled condition that is always false.
	NeverFires string `yaml:"never_fires"`
	Note       string `yaml:"note"`
}

// loadUpstream loads the upstream rule files from ../shared/falco/ (see
// upstreamDir in loader_test.go: the test is skipped when they are absent,
// and fails when they are absent in CI).
func loadUpstream(t *testing.T) *falcocompat.Result {
	t.Helper()
	dir := upstreamDir(t)
	var paths []string
	for _, f := range upstreamFiles {
		paths = append(paths, filepath.Join(dir, f))
	}
	res := falcocompat.LoadPaths(paths...)
	for _, e := range res.Errors {
		t.Errorf("load error: %v", e)
	}
	if res.Rules != 56 || res.Macros != 157 || res.Lists != 83 {
		t.Errorf("loaded %d rules, %d macros, %d lists; want 56, 157, 83", res.Rules, res.Macros, res.Lists)
	}
	if t.Failed() {
		t.FailNow()
	}
	return res
}

func loadUpstreamEvents(t *testing.T) []upstreamCase {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "testdata", "upstream", "events.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []upstreamCase
	if err := yaml.Unmarshal(src, &cases); err != nil {
		t.Fatalf("events.yaml: %v", err)
	}
	return cases
}

// upstreamAlerts returns the names of the rules that alert on ev.
func upstreamAlerts(t *testing.T, eng *evaluator, ev map[string]any) []string {
	t.Helper()
	line, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	// Event number 1: Falco numbers events from 1, and the upstream
	// never_true macro (evt.num=0) must stay false. A misspelt key is a
	// decoding error, not a near miss silent by accident.
	e, err := policy.DecodeEvent(line, 1)
	if err != nil {
		t.Fatalf("decode %s: %v", line, err)
	}
	var names []string
	for _, a := range eng.alerts(t, e) {
		names = append(names, a.Rule.Name)
	}
	return names
}

func hasRule(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestUpstreamRules(t *testing.T) {
	res := loadUpstream(t)
	cases := loadUpstreamEvents(t)

	byName := map[string]upstreamCase{}
	for _, c := range cases {
		if _, dup := byName[c.Rule]; dup {
			t.Errorf("events.yaml: rule %q has two entries", c.Rule)
		}
		byName[c.Rule] = c
	}
	rules := map[string]*policy.Rule{}
	for _, r := range res.Ruleset.Rules {
		rules[r.Name] = r
		if _, ok := byName[r.Name]; !ok {
			t.Errorf("events.yaml: no entry for rule %q", r.Name)
		}
		// Upstream ships some rules disabled; enable every rule so each
		// one is exercised.
		r.Enabled = true
	}
	for _, c := range cases {
		if rules[c.Rule] == nil {
			t.Errorf("events.yaml: entry for unknown rule %q", c.Rule)
		}
	}

	eng := newEvaluator(t, res.Ruleset, runtime.MatchAll)
	for _, r := range res.Ruleset.Rules {
		c, ok := byName[r.Name]
		if !ok {
			continue
		}
		t.Run(r.Name, func(t *testing.T) {
			if c.NearMiss == nil {
				t.Fatal("entry has no near_miss event")
			}
			if c.Note == "" {
				t.Error("entry has no note")
			}
			switch {
			case c.NeverFires != "":
				// The rule can never alert: its condition requires a
				// check that is false for every event (for "Network
				// Connection outside Local Subnet", `k8s.ns.name in ()`,
				// the upstream namespace_scope_network_only_subnet list
				// being empty, and a membership test in an empty list
				// being always false in Falco). Assert the condition
				// still holds that check, so the entry is revisited if
				// upstream changes; the near miss below, which meets
				// every other part of the condition, then shows that it
				// stays silent.
				if c.Fires != nil {
					t.Error("entry has both fires and never_fires")
				}
				if cond := r.Condition.String(); !strings.Contains(cond, c.NeverFires) {
					t.Errorf("never_fires: condition does not contain %q:\n%s", c.NeverFires, cond)
				}
			case c.Fires == nil:
				t.Fatal("entry has no fires event")
			default:
				if got := upstreamAlerts(t, eng, c.Fires); !hasRule(got, r.Name) {
					t.Errorf("fires event: no alert for the rule; alerts %v", got)
				}
			}
			if got := upstreamAlerts(t, eng, c.NearMiss); hasRule(got, r.Name) {
				t.Errorf("near_miss event raised an alert for the rule (%s)", c.Note)
			}
		})
	}
}
