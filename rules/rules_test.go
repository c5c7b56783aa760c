package rules_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/rules"
	"github.com/peregrine-sec/peregrine/runtime"
)

// captureFields are the fields the live eBPF capture provides; the default
// rules may use no others, in conditions or outputs.
var captureFields = strings.Fields(`
	evt.type evt.dir evt.num evt.res evt.rawres evt.failed evt.is_open_read evt.is_open_write
	proc.name proc.exe proc.exepath proc.cmdline proc.args proc.pname proc.pexe proc.pexepath
	proc.pcmdline proc.aname proc.aexepath proc.tty proc.cwd proc.sname proc.sid proc.vpgid
	proc.duration proc.pid proc.ppid proc.is_exe_from_memfd
	user.uid user.name user.loginuid group.gid group.name container.id container.name
	container.image container.image.repository container.image.tag k8s.ns.name k8s.pod.name
	fd.name fd.typechar fd.type fd.directory fd.filename fd.num fd.l4proto fd.sip fd.sport
	fd.cip fd.cport fd.lport fd.rport fd.connected
	fs.path.name fs.path.source fs.path.target thread.cap_effective`)

// captureArgs are the event arguments (evt.arg.NAME) the capture provides.
var captureArgs = strings.Fields(`flags mode name path oldpath newpath target linkpath filename
	request pid uid nstype domain type proto fd addr cmd`)

// captureSyscalls are the syscalls the capture provides.
var captureSyscalls = strings.Fields(`open openat openat2 creat execve execveat connect accept
	accept4 bind listen socket sendto sendmsg recvfrom recvmsg dup dup2 dup3 symlink symlinkat
	link linkat unlink unlinkat rename renameat renameat2 mkdir mkdirat rmdir chmod fchmod
	fchmodat setuid setns unshare ptrace bpf userfaultfd init_module finit_module memfd_create
	mount`)

func loadDefault(t *testing.T) *falcocompat.Result {
	t.Helper()
	name, src := rules.Default()
	if name != "peregrine_rules.yaml" || len(src) == 0 {
		t.Fatalf("Default() = %q, %d bytes", name, len(src))
	}
	l := falcocompat.NewLoader()
	l.AddFile(name, src)
	res := l.Compile()
	for _, e := range res.Errors {
		t.Errorf("error: %v", e)
	}
	if t.Failed() {
		t.FailNow()
	}
	return res
}

func TestDefaultLoads(t *testing.T) {
	res := loadDefault(t)
	for _, w := range res.Warnings {
		if !strings.HasPrefix(w.Code, "LOAD_UNUSED_") {
			t.Errorf("warning %s: %v", w.Code, w)
		}
	}
	if len(res.Ruleset.Rules) < 13 {
		t.Errorf("%d rules, want at least 13", len(res.Ruleset.Rules))
	}
	for _, r := range res.Ruleset.Rules {
		if !r.Enabled {
			t.Errorf("rule %q is disabled", r.Name)
		}
		if r.Desc == "" || len(r.Output.Parts) == 0 {
			t.Errorf("rule %q lacks a desc or an output", r.Name)
		}
		if !slices.ContainsFunc(r.Tags, func(tag string) bool { return strings.HasPrefix(tag, "mitre_") }) ||
			!slices.ContainsFunc(r.Tags, func(tag string) bool { return len(tag) > 1 && tag[0] == 'T' && tag[1] >= '0' && tag[1] <= '9' }) {
			t.Errorf("rule %q: tags %v lack a MITRE tactic or technique", r.Name, r.Tags)
		}
		if len(r.EventTypes) == 0 {
			t.Errorf("rule %q has no event-type restriction", r.Name)
		}
		for _, typ := range r.EventTypes {
			if !slices.Contains(captureSyscalls, typ) {
				t.Errorf("rule %q matches event type %s, which the capture does not provide", r.Name, typ)
			}
		}
	}
}

// fieldRefs calls fn for every field reference of a condition.
func fieldRefs(e policy.Expr, fn func(*policy.FieldRef)) {
	switch e := e.(type) {
	case *policy.And:
		for _, x := range e.Exprs {
			fieldRefs(x, fn)
		}
	case *policy.Or:
		for _, x := range e.Exprs {
			fieldRefs(x, fn)
		}
	case *policy.Not:
		fieldRefs(e.X, fn)
	case *policy.Compare:
		fn(&e.Left)
		if e.Right != nil {
			fn(e.Right)
		}
	}
}

func TestDefaultUsesCaptureFields(t *testing.T) {
	res := loadDefault(t)
	for _, r := range res.Ruleset.Rules {
		check := func(where string) func(*policy.FieldRef) {
			return func(f *policy.FieldRef) {
				name := f.Field.Name
				if name == "evt.arg" {
					if !slices.Contains(captureArgs, f.Arg) {
						t.Errorf("rule %q: %s uses %s, an argument the capture does not provide", r.Name, where, f)
					}
					return
				}
				if !slices.Contains(captureFields, name) {
					t.Errorf("rule %q: %s uses %s, a field the capture does not provide", r.Name, where, f)
				}
			}
		}
		fieldRefs(r.Condition, check("condition"))
		for _, f := range r.Output.Fields() {
			check("output")(f)
		}
	}
}

// replayCase holds, for one rule, events it must fire on and near misses it
// must stay silent on.
type replayCase struct {
	Rule     string           `yaml:"rule"`
	Fires    []map[string]any `yaml:"fires"`
	NearMiss []map[string]any `yaml:"near_miss"`
}

func decode(t *testing.T, raw map[string]any, num int) *policy.Event {
	t.Helper()
	obj := map[string]any{}
	for k, v := range raw {
		if k != "why" {
			obj[k] = v
		}
	}
	line, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := policy.DecodeEvent(line, uint64(num))
	if err != nil {
		t.Fatalf("event %s: %v", line, err)
	}
	return ev
}

func TestDefaultReplay(t *testing.T) {
	res := loadDefault(t)
	src, err := os.ReadFile("testdata/events.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cases []replayCase
	if err := yaml.Unmarshal(src, &cases); err != nil {
		t.Fatalf("testdata/events.yaml: %v", err)
	}
	// The events go through replay's pipeline (the compiled plan, its
	// kernel filter emulated); the reference evaluator must agree.
	pipe, err := runtime.NewPipeline(res.Ruleset, runtime.MatchAll)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := policy.NewEvaluator(res.Ruleset)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	fires, misses := 0, 0
	for _, c := range cases {
		if covered[c.Rule] {
			t.Errorf("rule %q has two entries", c.Rule)
		}
		covered[c.Rule] = true
		if !slices.ContainsFunc(res.Ruleset.Rules, func(r *policy.Rule) bool { return r.Name == c.Rule }) {
			t.Errorf("no rule %q in the default ruleset", c.Rule)
			continue
		}
		if len(c.Fires) == 0 || len(c.NearMiss) == 0 {
			t.Errorf("rule %q needs at least one firing event and one near miss", c.Rule)
		}
		t.Run(c.Rule, func(t *testing.T) {
			run := func(i int, raw map[string]any, want bool) {
				ev := decode(t, raw, i+1)
				var got, oracle []string
				for _, a := range pipe.Evaluate(&runtime.Input{Event: ev}, nil) {
					got = append(got, a.Rule.Name)
				}
				for _, i := range ref.MatchRules(pipe.Plan().Rules, ev, false, nil) {
					oracle = append(oracle, pipe.Plan().Rules[i].Name)
				}
				if !slices.Equal(got, oracle) {
					t.Errorf("event %d (%v): the pipeline alerts %q, the reference evaluator %q", i, raw["why"], got, oracle)
				}
				if slices.Contains(got, c.Rule) != want {
					kind := "near miss"
					if want {
						kind = "firing event"
					}
					t.Errorf("%s %d (%v): alerts %q", kind, i, raw["why"], got)
				}
			}
			for i, raw := range c.Fires {
				run(i, raw, true)
			}
			for i, raw := range c.NearMiss {
				run(i, raw, false)
			}
		})
		fires += len(c.Fires)
		misses += len(c.NearMiss)
	}
	for _, r := range res.Ruleset.Rules {
		if !covered[r.Name] {
			t.Errorf("rule %q has no replay cases", r.Name)
		}
	}
	t.Logf("%d rules, %d firing events, %d near misses", len(cases), fires, misses)
}
