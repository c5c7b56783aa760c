package ruletest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/peregrine-sec/peregrine/policy"
	perego "github.com/peregrine-sec/peregrine/policy/rego"
	"github.com/peregrine-sec/peregrine/runtime"
)

// twinBench holds the compiled YAML twins, the compiled Rego twins, and
// OPA's prepared queries of the Rego twins, with the events of
// twins_test.yaml and their input documents.
type twinBench struct {
	yaml, rego *Suite
	queries    []rego.PreparedEvalQuery
	names      []string // the rule each query decides
	events     []*policy.Event
	inputs     []ast.Value
}

func newTwinBench(tb testing.TB) *twinBench {
	tb.Helper()
	var b twinBench
	regoRules, err := LoadRules(twinsDir)
	if err != nil {
		tb.Fatal(err)
	}
	all, err := LoadRules("../rules/peregrine_rules.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	// The YAML twins alone, so that both plans hold the same rules.
	yamlRules := &policy.Ruleset{}
	for _, r := range all.Rules {
		if slices.ContainsFunc(regoRules.Rules, func(x *policy.Rule) bool { return x.Name == r.Name+" (Rego)" }) {
			yamlRules.Rules = append(yamlRules.Rules, r)
		}
	}
	if len(yamlRules.Rules) != len(regoRules.Rules) {
		tb.Fatalf("%d YAML twins for %d Rego rules", len(yamlRules.Rules), len(regoRules.Rules))
	}
	if b.yaml, err = NewSuite(yamlRules, runtime.MatchAll); err != nil {
		tb.Fatal(err)
	}
	if b.rego, err = NewSuite(regoRules, runtime.MatchAll); err != nil {
		tb.Fatal(err)
	}
	// OPA: one prepared query per rule package, data.<package>.alert.
	files, _ := filepath.Glob(filepath.Join(twinsDir, "*.rego"))
	var mods []func(*rego.Rego)
	var pkgs []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.rego") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		m, err := ast.ParseModuleWithOpts(f, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			tb.Fatal(err)
		}
		title := ""
		for _, a := range m.Annotations {
			if a.Scope == "package" {
				title = a.Title
			}
		}
		pkgs = append(pkgs, m.Package.Path.String())
		b.names = append(b.names, title)
		mods = append(mods, rego.Module(f, string(src)))
	}
	for _, p := range pkgs {
		opts := append([]func(*rego.Rego){rego.Query(p + ".alert")}, mods...)
		pq, err := rego.New(opts...).PrepareForEval(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		b.queries = append(b.queries, pq)
	}
	cases := readTestFile(tb, filepath.Join(twinsDir, "twins_test.yaml")).Cases
	cases = append(cases, readTestFile(tb, filepath.Join(twinsDir, "twins2_test.yaml")).Cases...)
	for i, c := range cases {
		ev, err := DecodeEvent(c.Event, uint64(i+1))
		if err != nil {
			tb.Fatal(err)
		}
		b.events = append(b.events, ev)
		b.inputs = append(b.inputs, perego.Input(ev))
	}
	return &b
}

// opa returns the rules whose prepared query finds alert true.
func (b *twinBench) opa(tb testing.TB, input ast.Value, dst []string) []string {
	for i, pq := range b.queries {
		rs, err := pq.Eval(context.Background(), rego.EvalParsedInput(input))
		if err != nil {
			tb.Fatal(err)
		}
		if len(rs) > 0 && len(rs[0].Expressions) > 0 && rs[0].Expressions[0].Value == true {
			dst = append(dst, b.names[i])
		}
	}
	return dst
}

// TestTwinBenchAgrees checks that the three evaluators the benchmark
// compares give the same answers on its events.
func TestTwinBenchAgrees(t *testing.T) {
	b := newTwinBench(t)
	for i, ev := range b.events {
		y := b.yaml.names(b.yaml.PlanMatch(ev, nil))
		r := b.rego.names(b.rego.PlanMatch(ev, nil))
		o := b.opa(t, b.inputs[i], nil)
		for j := range y {
			y[j] += " (Rego)"
		}
		slices.Sort(y)
		slices.Sort(r)
		slices.Sort(o)
		if !slices.Equal(y, r) || !slices.Equal(r, o) {
			t.Errorf("event %d: YAML plan %v, Rego plan %v, OPA %v", i, y, r, o)
		}
	}
}

// BenchmarkRegoTwinsVsYAML measures the per-event cost (one op = one
// event, cycling through the events of twins_test.yaml) of the compiled
// plan (emulated kernel filter + decision tree) of the YAML twins and of
// the Rego twins, and of OPA evaluating the Rego twins with prepared
// queries, one per rule, with and without building the input document.
func BenchmarkRegoTwinsVsYAML(b *testing.B) {
	tb := newTwinBench(b)
	n := len(tb.events)
	var dst []int
	b.Run("yaml-plan", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			dst = tb.yaml.PlanMatch(tb.events[i%n], dst[:0])
		}
	})
	b.Run("rego-plan", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			dst = tb.rego.PlanMatch(tb.events[i%n], dst[:0])
		}
	})
	b.Run("yaml-tree-only", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			dst = tb.yaml.Plan.Tree.Match(tb.events[i%n], false, nil, dst[:0])
		}
	})
	b.Run("rego-tree-only", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			dst = tb.rego.Plan.Tree.Match(tb.events[i%n], false, nil, dst[:0])
		}
	})
	var names []string
	b.Run("opa-prepared-with-input", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			names = tb.opa(b, perego.Input(tb.events[i%n]), names[:0])
		}
	})
	b.Run("opa-prepared-input-excluded", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			names = tb.opa(b, tb.inputs[i%n], names[:0])
		}
	})
	b.Run("input-conversion-only", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_ = perego.Input(tb.events[i%n])
		}
	})
}
