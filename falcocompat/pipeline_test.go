package falcocompat_test

import (
	"slices"
	"testing"

	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime"
	"github.com/peregrine-sec/peregrine/syscalls"
)

// evaluator evaluates events with the reference evaluator, the oracle of
// what Falco's rules mean, and checks that the one pipeline of package
// runtime (what replay, run and peregrine test evaluate with: the compiled
// plan, its kernel filter emulated on the event) raises the same alerts,
// or none for an event of a type Peregrine does not capture, which a live
// run never evaluates.
type evaluator struct {
	pipe  *runtime.Pipeline
	ref   *policy.Evaluator
	rules []*policy.Rule
	first bool
}

func newEvaluator(t testing.TB, rs *policy.Ruleset, m runtime.Matching) *evaluator {
	t.Helper()
	pipe, err := runtime.NewPipeline(rs, m)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := policy.NewEvaluator(rs)
	if err != nil {
		t.Fatal(err)
	}
	return &evaluator{pipe: pipe, ref: ref, rules: rs.Enabled(), first: m == runtime.MatchFirst}
}

// alerts returns the reference evaluator's alerts for ev; the test fails
// when the pipeline's differ.
func (e *evaluator) alerts(t testing.TB, ev *policy.Event) []runtime.Alert {
	t.Helper()
	var ref []runtime.Alert
	for _, i := range e.ref.MatchRules(e.rules, ev, e.first, nil) {
		r := e.rules[i]
		ref = append(ref, runtime.Alert{Rule: r, Event: ev, Time: runtime.EventTime(ev), Output: r.Output.Render(ev)})
	}
	want := ref
	if typ, _ := ev.Raw("evt.type"); !captured(typ) {
		want = nil
	}
	got := e.pipe.Evaluate(&runtime.Input{Event: ev}, nil)
	if !slices.Equal(texts(got), texts(want)) {
		t.Errorf("event %v: the pipeline alerts %q, want %q", ev, texts(got), texts(want))
	}
	return ref
}

func captured(typ any) bool {
	s, _ := typ.(string)
	_, ok := syscalls.Lookup(s)
	return ok
}

func texts(alerts []runtime.Alert) []string {
	out := make([]string, len(alerts))
	for i, a := range alerts {
		out[i] = a.Rule.Name + ": " + a.Output
	}
	return out
}
