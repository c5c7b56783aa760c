package runtime_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/internal/machinelock"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/policy/rego"
	"github.com/peregrine-sec/peregrine/runtime"
)

// twinYAML and twinRego are the same rule, in Falco YAML and in Rego.
const twinYAML = `
- rule: Shadow read by cat
  desc: cat opened a file under /etc/shadow
  condition: evt.type = openat and proc.name = cat and fd.name startswith /etc/shadow
  output: "shadow read by %proc.name file=%fd.name"
  priority: warning
`

const twinRego = `# METADATA
# title: Shadow read by cat (Rego)
# custom:
#   priority: Warning
#   output: "shadow read by %proc.name file=%fd.name"
package peregrine.twin.shadow

alert if {
	input.evt.type == "openat"
	input.proc.name == "cat"
	startswith(input.fd.name, "/etc/shadow")
}
`

// planShape renders what the kernel filter gets for a one-rule plan: the
// rule's predicate per syscall (with its class and exactness) and the
// classes, so that two plans compare as text.
func planShape(t *testing.T, p *compiler.Plan) []string {
	t.Helper()
	if len(p.Rules) != 1 || len(p.Preds) != 1 {
		t.Fatalf("plan has %d rules, %d predicate lists; want one rule", len(p.Rules), len(p.Preds))
	}
	var out []string
	for _, sp := range p.Preds[0] {
		out = append(out, fmt.Sprintf("pred %s class=%d exact=%v: %s", sp.Syscall, sp.Class, sp.Exact, sp.Pred.String()))
	}
	for i, c := range p.Classes {
		var sys []string
		for s := range c.Syscalls {
			sys = append(sys, s)
		}
		sort.Strings(sys)
		out = append(out, fmt.Sprintf("class %d merged=%d syscalls=%s: %s", i, c.Merged, strings.Join(sys, ","), c.Pred.String()))
	}
	return out
}

// TestRegoTwinFilteredLikeFalco runs a Falco YAML rule and its Rego twin,
// each alone, under the same benign load and one sensitive action: both
// must alert, compile to the same kernel predicates and classes, and let
// through about as few events.
func TestRegoTwinFilteredLikeFalco(t *testing.T) {
	requireRoot(t)
	machinelock.Hold(t)
	yamlRS := loadRules(t, "twin.yaml", []byte(twinYAML))
	loaded, err := rego.Load(map[string][]byte{"twin.rego": []byte(twinRego)})
	if err != nil {
		t.Fatal(err)
	}
	regoRules := loaded.Rules
	regoRS := &policy.Ruleset{Rules: regoRules}

	const opens, execs = 20000, 5
	type outcome struct {
		sent, filtered uint64
		shape          []string
		alerts         int
	}
	tmp := filepath.Join(t.TempDir(), "load")
	measure := func(rs *policy.Ruleset, ruleName string) outcome {
		os.RemoveAll(tmp)
		if err := os.Mkdir(tmp, 0o755); err != nil {
			t.Fatal(err)
		}
		le := startLive(t, rs, runtime.LiveOptions{})
		run(t, helper("benign-load", strconv.Itoa(opens), strconv.Itoa(execs), tmp))
		run(t, exec.Command("cat", "/etc/shadow"))
		a := le.wait(t, ruleName+" on cat /etc/shadow", func(a runtime.Alert) bool {
			return a.Rule.Name == ruleName && field(a, "proc.name") == "cat"
		})
		if a.Output != "shadow read by cat file=/etc/shadow" {
			t.Errorf("%s: output %q", ruleName, a.Output)
		}
		time.Sleep(200 * time.Millisecond)
		m, err := le.live.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		o := outcome{
			sent:     m.Kernel.EventsSent + m.Kernel.EventsLost,
			filtered: m.Kernel.EventsFiltered,
			shape:    planShape(t, le.live.Plan()),
		}
		le.stop()
		for _, a := range le.alerts {
			if a.Rule.Name != ruleName || field(a, "proc.name") != "cat" || field(a, "fd.name") != "/etc/shadow" {
				t.Errorf("%s: unexpected alert %s: %s", ruleName, a.Rule.Name, a.Output)
			}
			o.alerts++
		}
		t.Logf("%s: %d events sent (lost included), %d filtered, %d alerts; plan:\n  %s",
			ruleName, o.sent, o.filtered, o.alerts, strings.Join(o.shape, "\n  "))
		return o
	}
	y := measure(yamlRS, "Shadow read by cat")
	r := measure(regoRS, "Shadow read by cat (Rego)")

	if strings.Join(y.shape, "\n") != strings.Join(r.shape, "\n") {
		t.Errorf("kernel plans differ:\nFalco YAML:\n  %s\nRego:\n  %s", strings.Join(y.shape, "\n  "), strings.Join(r.shape, "\n  "))
	}
	limit := uint64(opens / 100)
	for _, o := range []struct {
		name string
		sent uint64
	}{{"Falco YAML", y.sent}, {"Rego", r.sent}} {
		if o.sent > limit {
			t.Errorf("%s rule: %d events sent to userspace for %d opens, want at most 1%% (%d)", o.name, o.sent, opens, limit)
		}
	}
	diff := float64(y.sent) - float64(r.sent)
	if diff < 0 {
		diff = -diff
	}
	tol := max(50, 0.2*float64(max(y.sent, r.sent)))
	if diff >= tol {
		t.Errorf("events sent differ too much: Falco YAML %d, Rego %d (tolerance %.0f)", y.sent, r.sent, tol)
	}
}

// complexRego is a policy with helper rules of several bodies, a negated
// helper, a data list and an anchored regex. DIR is replaced by the
// quoted test directory.
const complexRego = `# METADATA
# title: Secret read by shell or cat (Rego)
# custom:
#   priority: Critical
#   output: "secret read by %proc.name parent=%proc.pname file=%fd.name"
package peregrine.complex.secret

opened if input.evt.type in {"open", "openat"}

# Two bodies: the shadow files, or key files of the test directory.
target if startswith(input.fd.name, "/etc/shadow")

target if regex.match("^DIR/secret-[0-9]+\\.key$", input.fd.name)

# Two bodies: a shell from the data list, or cat.
reader if input.proc.name in data.peregrine.lists.shells

reader if input.proc.name == "cat"

trusted if input.proc.pname == "trusted-wrap"

alert if {
	opened
	target
	reader
	not trusted
}
`

// residuals returns the Residual leaves of an expression.
func residuals(x policy.Expr) []*policy.Residual {
	switch e := x.(type) {
	case *policy.Residual:
		return []*policy.Residual{e}
	case *policy.And:
		var out []*policy.Residual
		for _, s := range e.Exprs {
			out = append(out, residuals(s)...)
		}
		return out
	case *policy.Or:
		var out []*policy.Residual
		for _, s := range e.Exprs {
			out = append(out, residuals(s)...)
		}
		return out
	case *policy.Not:
		return residuals(e.X)
	}
	return nil
}

// TestRegoComplexLive runs a Rego policy that uses several-bodied helpers,
// a negated helper, a data list and an anchored regex: each branch must
// alert live, the near misses must not, and the kernel predicate must
// still constrain something.
func TestRegoComplexLive(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	src := strings.ReplaceAll(complexRego, "DIR", strings.ReplaceAll(regexp.QuoteMeta(dir), `\`, `\\`))
	data := map[string]any{"peregrine": map[string]any{"lists": map[string]any{"shells": []any{"bash", "sh", "dash"}}}}
	loaded, err := rego.LoadWithData(map[string][]byte{"secret.rego": []byte(src)}, data)
	if err != nil {
		t.Fatal(err)
	}
	rules := loaded.Rules
	if len(rules) != 1 {
		t.Fatalf("%d rules loaded, want 1", len(rules))
	}
	const name = "Secret read by shell or cat (Rego)"
	rule := rules[0]
	if rule.Name != name {
		t.Fatalf("rule name %q", rule.Name)
	}
	t.Logf("condition: %s", rule.Condition)
	t.Logf("event types: %v", rule.EventTypes)
	var res []string
	for _, r := range residuals(rule.Condition) {
		res = append(res, r.String())
	}
	t.Logf("residual (left to OPA in userspace): %d expression(s)\n  %s", len(res), strings.Join(res, "\n  "))

	key42 := filepath.Join(dir, "secret-42.key")
	key7 := filepath.Join(dir, "secret-7.key")
	bak := filepath.Join(dir, "secret-42.key.bak")
	for _, f := range []string{key42, key7, bak} {
		if err := os.WriteFile(f, []byte("k\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wrap := script(t, dir, "trusted-wrap", "cat /etc/shadow > /dev/null\nexit 0")

	le := startLive(t, &policy.Ruleset{Rules: rules}, runtime.LiveOptions{})

	sp := le.live.Plan().Preds[0]
	if len(sp) == 0 {
		t.Fatal("the rule has no kernel predicate")
	}
	for _, p := range sp {
		t.Logf("kernel predicate for %s (class %d, exact %v): %s", p.Syscall, p.Class, p.Exact, p.Pred)
		if p.Pred.IsTrue() {
			t.Errorf("the kernel predicate for %s constrains nothing: %s", p.Syscall, p.Pred)
		}
	}

	// Near misses first: an alert for one would arrive before the alert
	// for the last positive action, which is waited for below.
	run(t, exec.Command("sh", "-c", ": < "+bak))                // the regex is anchored at the end
	run(t, exec.Command(wrap))                                  // not trusted: the parent is trusted-wrap
	run(t, exec.Command("head", "-c1", "/etc/shadow"))          // head is neither a listed shell nor cat
	run(t, exec.Command("cat", "/etc/shadow"))                  // target: startswith; reader: cat
	run(t, exec.Command("sh", "-c", ": < "+key42))              // target: regex; reader: data list (sh)
	run(t, exec.Command("bash", "-c", ": < /etc/shadow; true")) // target: startswith; reader: data list (bash)
	run(t, exec.Command("dash", "-c", ": < "+key7))             // target: regex; reader: data list (dash)

	want := []struct{ proc, file string }{
		{"cat", "/etc/shadow"},
		{"sh", key42},
		{"bash", "/etc/shadow"},
		{"dash", key7},
	}
	for _, w := range want {
		a := le.wait(t, w.proc+" reading "+w.file, func(a runtime.Alert) bool {
			return a.Rule.Name == name && field(a, "proc.name") == w.proc && field(a, "fd.name") == w.file
		})
		if wantOut := "secret read by " + w.proc + " parent=" + field(a, "proc.pname") + " file=" + w.file; a.Output != wantOut {
			t.Errorf("output %q, want %q", a.Output, wantOut)
		}
		if a.Rule.Priority != policy.PriorityCritical {
			t.Errorf("priority %s", a.Rule.Priority)
		}
	}
	time.Sleep(300 * time.Millisecond)
	le.stop()
	for _, a := range le.alerts {
		switch {
		case field(a, "fd.name") == bak:
			t.Errorf("alert for the near miss %s (regex anchored at the end): %s", bak, a.Output)
		case field(a, "proc.pname") == "trusted-wrap":
			t.Errorf("alert for a read under the trusted parent: %s", a.Output)
		case field(a, "proc.name") == "head":
			t.Errorf("alert for head, not a reader: %s", a.Output)
		}
	}
}
