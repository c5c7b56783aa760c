package falcocompat_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime"
)

// conformanceCase is one case of the corpus in testdata/conformance: a
// rules file, events, and what must come of them. See
// testdata/README.md.
type conformanceCase struct {
	Name         string           `yaml:"name"`
	Rules        string           `yaml:"rules"`
	RuleMatching string           `yaml:"rule_matching"`
	Events       []map[string]any `yaml:"events"`
	// Expect lists, per event, the names of the rules that alert, in order.
	Expect [][]string `yaml:"expect"`
	// Outputs, when given, are the rendered outputs of all alerts in order.
	Outputs []string `yaml:"outputs"`
	// Error, when given, is a substring of the load error that must occur;
	// ErrorPos is its "line:col" in the rules text.
	Error    string `yaml:"error"`
	ErrorPos string `yaml:"error_pos"`
	// Warning, when given, is a warning code that loading must report.
	Warning string `yaml:"warning"`
	// EventTypes, when given, is the inferred event types of rule Rule.
	EventTypes []string `yaml:"event_types"`
	Rule       string   `yaml:"rule"`
}

func loadCorpus(t testing.TB) map[string][]conformanceCase {
	files, err := filepath.Glob("../testdata/conformance/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance files: %v", err)
	}
	out := map[string][]conformanceCase{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []conformanceCase
		if err := yaml.Unmarshal(src, &cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = cases
	}
	return out
}

func TestConformance(t *testing.T) {
	total := 0
	for file, cases := range loadCorpus(t) {
		for _, c := range cases {
			total++
			t.Run(strings.TrimSuffix(file, ".yaml")+"/"+c.Name, func(t *testing.T) { runCase(t, c) })
		}
	}
	if total < 200 {
		t.Errorf("conformance corpus has %d cases, want at least 200", total)
	}
}

func runCase(t *testing.T, c conformanceCase) {
	l := falcocompat.NewLoader()
	l.AddFile("rules.yaml", []byte(c.Rules))
	res := l.Compile()
	if c.Error != "" {
		if len(res.Errors) == 0 {
			t.Fatalf("loaded without error, want error containing %q", c.Error)
		}
		e := res.Errors[0]
		if !strings.Contains(e.Msg, c.Error) {
			t.Fatalf("error %q, want it to contain %q", e, c.Error)
		}
		if c.ErrorPos != "" {
			if got := strings.TrimPrefix(e.Pos.String(), "rules.yaml:"); got != c.ErrorPos {
				t.Fatalf("error at %s, want %s (%v)", got, c.ErrorPos, e)
			}
		}
		return
	}
	if err := res.Err(); err != nil {
		t.Fatalf("load: %v", err)
	}
	if c.Warning != "" {
		found := false
		for _, w := range res.Warnings {
			found = found || w.Code == c.Warning
		}
		if !found {
			t.Errorf("no warning %s among %v", c.Warning, res.Warnings)
		}
	}
	if c.Rule != "" {
		var rule *policy.Rule
		for _, r := range res.Ruleset.Rules {
			if r.Name == c.Rule {
				rule = r
			}
		}
		if rule == nil {
			t.Fatalf("no rule %q", c.Rule)
		}
		if c.EventTypes != nil {
			want := c.EventTypes
			if len(want) == 1 && want[0] == "*" {
				want = nil
			}
			if !reflect.DeepEqual(rule.EventTypes, want) && !(len(rule.EventTypes) == 0 && len(want) == 0) {
				t.Errorf("event types %v, want %v", rule.EventTypes, want)
			}
		}
	}
	m, err := runtime.ParseMatching(c.RuleMatching)
	if err != nil {
		t.Fatal(err)
	}
	eng := newEvaluator(t, res.Ruleset, m)
	if c.Expect != nil && len(c.Expect) != len(c.Events) {
		t.Fatalf("%d events but %d expectations", len(c.Events), len(c.Expect))
	}
	var outputs []string
	for i, raw := range c.Events {
		line, err := json.Marshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := policy.DecodeEvent(line, uint64(i+1))
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		got := []string{}
		for _, a := range eng.alerts(t, ev) {
			got = append(got, a.Rule.Name)
			outputs = append(outputs, a.Output)
		}
		if c.Expect != nil {
			want := c.Expect[i]
			if want == nil {
				want = []string{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("event %d %s: alerts %v, want %v", i, line, got, want)
			}
		}
	}
	if c.Outputs != nil && !reflect.DeepEqual(outputs, c.Outputs) {
		t.Errorf("outputs %q, want %q", outputs, c.Outputs)
	}
}
