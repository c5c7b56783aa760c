package ruletest

import (
	"strings"
	"testing"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/runtime"
)

// TestTwinsKernelPredicates checks that every Rego twin compiles to the
// kernel predicates of its Falco YAML twin: the same syscalls, and for each
// the same predicate (Pred.String()) and the same exactness, in one plan
// holding the default rules and all the twins (as peregrine explain -r
// rules/peregrine_rules.yaml -r rules/rego/ compiles them). It logs the
// twins that keep an OPA residual in userspace.
func TestTwinsKernelPredicates(t *testing.T) {
	rs, err := LoadRules("../rules/peregrine_rules.yaml", twinsDir)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := compiler.Compile(rs, compiler.Options{Syscalls: runtime.SyscallsFor(rs)})
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{}
	for i, r := range plan.Rules {
		index[r.Name] = i
	}
	kernel := func(i int) []string {
		var out []string
		for _, sp := range plan.Preds[i] {
			exact := ""
			if sp.Exact {
				exact = " (exact)"
			}
			out = append(out, sp.Syscall+": "+sp.Pred.String()+exact)
		}
		return out
	}
	twins := 0
	var residual, missing []string
	for i, r := range plan.Rules {
		base, ok := strings.CutSuffix(r.Name, " (Rego)")
		if !ok {
			if _, has := index[r.Name+" (Rego)"]; !has {
				missing = append(missing, r.Name)
			}
			continue
		}
		twins++
		y, ok := index[base]
		if !ok {
			t.Errorf("%q has no YAML twin", r.Name)
			continue
		}
		got, want := kernel(i), kernel(y)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%q: kernel predicates differ from its YAML twin's\n rego:\n  %s\n yaml:\n  %s",
				r.Name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if strings.Contains(r.Condition.String(), "rego(") {
			residual = append(residual, r.Name)
		}
	}
	if twins == 0 {
		t.Fatal("no Rego twins loaded")
	}
	t.Logf("%d twins; %d keep an OPA residual: %s", twins, len(residual), strings.Join(residual, "; "))
	if len(missing) > 0 {
		t.Logf("default rules without a twin: %s", strings.Join(missing, "; "))
	}
}
