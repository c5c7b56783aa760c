package ruletest

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/peregrine-sec/peregrine/policy"
)

const twinsDir = "../rules/rego"

// TestRegoTwins runs what `peregrine test rules/rego` runs: the OPA unit
// tests of the Rego twins and rules/rego/twins_test.yaml.
func TestRegoTwins(t *testing.T) {
	rep, err := Run(context.Background(), Options{}, twinsDir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.WriteText(&out, testing.Verbose())
	if !rep.OK() {
		t.Fatalf("rule tests failed:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
	opa, cases := 0, 0
	for _, r := range rep.Results {
		switch r.Kind {
		case KindOPA:
			opa++
		case KindPeregrine:
			cases++
		}
	}
	if opa < 20 || cases < 20 {
		t.Errorf("%d OPA tests, %d Peregrine cases: the twins' tests are missing", opa, cases)
	}
}

// TestTwinsMetadata checks that every Rego twin carries its YAML twin's
// priority, tags and output, and that each is exercised by twins_test.yaml
// on firing events and near misses.
func TestTwinsMetadata(t *testing.T) {
	rs, err := LoadRules("../rules/peregrine_rules.yaml", twinsDir)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*policy.Rule{}
	for _, r := range rs.Rules {
		byName[r.Name] = r
	}
	f := readTestFile(t, twinsDir+"/twins_test.yaml")
	f.Cases = append(f.Cases, readTestFile(t, twinsDir+"/twins2_test.yaml").Cases...)
	twins := 0
	for _, r := range rs.Rules {
		base, ok := strings.CutSuffix(r.Name, " (Rego)")
		if !ok {
			continue
		}
		twins++
		y := byName[base]
		if y == nil {
			t.Errorf("%q has no YAML twin", r.Name)
			continue
		}
		if r.Priority != y.Priority || !slices.Equal(r.Tags, y.Tags) || r.Output.String() != y.Output.String() {
			t.Errorf("%q differs from its twin:\n priority %v / %v\n tags %v / %v\n output %q\n     / %q",
				r.Name, r.Priority, y.Priority, r.Tags, y.Tags, r.Output.String(), y.Output.String())
		}
		if !slices.Equal(r.EventTypes, y.EventTypes) {
			t.Errorf("%q: event types %v, its twin %v", r.Name, r.EventTypes, y.EventTypes)
		}
		fires, misses := 0, 0
		for _, c := range f.Cases {
			if !strings.HasPrefix(c.Name, base+":") {
				continue
			}
			if len(c.Alerts) == 0 {
				misses++
			} else if slices.Contains(c.Alerts, r.Name) && slices.Contains(c.Alerts, base) {
				fires++
			}
		}
		if fires == 0 || misses == 0 {
			t.Errorf("%q: the twins' test files have %d firing events and %d near misses for it", r.Name, fires, misses)
		}
	}
	if twins < 4 {
		t.Errorf("%d Rego twins, want at least 4", twins)
	}
}
