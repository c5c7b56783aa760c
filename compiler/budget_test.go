package compiler

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
)

// generatedRules writes n rules, each with its own kernel predicate.
func generatedRules(t testing.TB, n int) *policy.Ruleset {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "- rule: r%d\n  desc: d\n  condition: evt.type = openat and proc.name = p%d and fd.name startswith /dir%d/ and evt.is_open_write = true\n  output: o\n  priority: info\n", i, i, i%50)
	}
	l := falcocompat.NewLoader()
	l.AddFile("gen.yaml", []byte(b.String()))
	res := l.Compile()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return res.Ruleset
}

func TestClassBudget(t *testing.T) {
	rs := generatedRules(t, 1000)
	plan, err := Compile(rs, Options{Syscalls: capturable})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Classes) != MaskBits || len(plan.Warnings) == 0 {
		t.Fatalf("%d classes, warnings %v: want %d merged classes and a warning", len(plan.Classes), plan.Warnings, MaskBits)
	}
	// Merged classes stay sound: every rule's own event passes.
	ref, _ := policy.NewEvaluator(rs)
	for i := 0; i < 1000; i += 7 {
		raw, _ := json.Marshal(map[string]any{"evt.type": "openat", "proc.name": fmt.Sprintf("p%d", i),
			"fd.name": fmt.Sprintf("/dir%d/x", i%50), "evt.arg.flags": "O_WRONLY", "evt.rawres": 3, "fd.typechar": "f"})
		e, err := policy.DecodeEvent(raw, 1)
		if err != nil {
			t.Fatal(err)
		}
		m, err := checkSound(plan, rs, ref, e)
		if err != nil {
			t.Fatal(err)
		}
		if m != 1 {
			t.Fatalf("event %d matched %d rules, want 1", i, m)
		}
	}
	// And a smaller budget merges further, still soundly.
	small, err := Compile(rs, Options{Syscalls: capturable, MaxClasses: 8})
	if err != nil || len(small.Classes) != 8 {
		t.Fatalf("budget 8: %v, %d classes", err, len(small.Classes))
	}
}

// BenchmarkEmulate measures the emulated kernel filter as the rule count
// grows: its cost is a fixed number of lookups per event, not per rule.
func BenchmarkEmulate(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			plan, err := Compile(generatedRules(b, n), Options{Syscalls: capturable})
			if err != nil {
				b.Fatal(err)
			}
			v := View{Syscall: "openat", Comm: "p3", CommKnown: true, Parent: "bash", ParentKnown: true,
				Path: "/dir3/file", PathKnown: true, Features: FeatWrite}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				plan.Encoding.Emulate(v)
			}
		})
	}
}
