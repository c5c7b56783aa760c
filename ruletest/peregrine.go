package ruletest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	yamlast "github.com/goccy/go-yaml/ast"
	yamlparser "github.com/goccy/go-yaml/parser"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/loader"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime"
)

// TestFile is a Peregrine test file.
type TestFile struct {
	Rules        []string `yaml:"rules" json:"rules"`
	RuleMatching string   `yaml:"rule_matching" json:"rule_matching,omitempty"`
	Cases        []Case   `yaml:"cases" json:"cases"`
}

// Case is one event and the alerts it must raise.
type Case struct {
	Name   string         `yaml:"name" json:"name"`
	Event  map[string]any `yaml:"event" json:"event"`
	Alerts []string       `yaml:"alerts" json:"alerts"`
	// Outputs, when given, are the alerts' outputs (each rule's output
	// template rendered with the event), in the order of Alerts.
	Outputs []string `yaml:"outputs" json:"outputs,omitempty"`
	// Line is the line of the file where the case starts (ParseFile).
	Line int `yaml:"-" json:"-"`
}

// ParseFile reads a Peregrine test file; unknown keys are errors.
func ParseFile(name string, src []byte) (*TestFile, error) {
	var f TestFile
	if err := yaml.UnmarshalWithOptions(src, &f, yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(f.Rules) == 0 {
		return nil, fmt.Errorf("%s: no rules: list the rule files to load", name)
	}
	if len(f.Cases) == 0 {
		return nil, fmt.Errorf("%s: no cases", name)
	}
	if _, err := runtime.ParseMatching(f.RuleMatching); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i, line := range caseLines(src) {
		if i < len(f.Cases) {
			f.Cases[i].Line = line
		}
	}
	for i, c := range f.Cases {
		if c.Name == "" {
			return nil, fmt.Errorf("%s: case %d has no name", name, i+1)
		}
		if c.Event == nil {
			return nil, fmt.Errorf("%s: case %q has no event", name, c.Name)
		}
	}
	return &f, nil
}

// caseLines returns the line where each item of the cases key starts,
// nil when the file holds no such sequence.
func caseLines(src []byte) []int {
	f, err := yamlparser.ParseBytes(src, 0)
	if err != nil {
		return nil
	}
	p, err := yaml.PathString("$.cases")
	if err != nil {
		return nil
	}
	n, err := p.FilterFile(f)
	if err != nil {
		return nil
	}
	seq, ok := n.(*yamlast.SequenceNode)
	if !ok {
		return nil
	}
	lines := make([]int, len(seq.Values))
	for i, v := range seq.Values {
		if tk := v.GetToken(); tk != nil && tk.Position != nil {
			lines[i] = tk.Position.Line
		}
	}
	return lines
}

// Suite is a compiled ruleset ready to check cases against: the pipeline
// that replay and run evaluate events with (package runtime), and the
// reference evaluator as its oracle.
type Suite struct {
	Ruleset  *policy.Ruleset
	Plan     *compiler.Plan
	Ref      *policy.Evaluator
	Matching runtime.Matching
	pipe     *runtime.Pipeline
}

// LoadRules loads rule files, directories and OPA bundles as peregrine -r
// does (package loader: Falco YAML, then the bundles' and the Rego files'
// rules, which see the Falco lists as data.falco.lists). The error joins
// the load errors.
func LoadRules(paths ...string) (*policy.Ruleset, error) {
	res := loader.Load(paths, loader.Options{})
	if err := loader.Err(res); err != nil {
		return nil, err
	}
	return res.Ruleset, nil
}

// NewSuite compiles a ruleset as peregrine run and replay do (the
// syscalls its rules need) into their pipeline, and prepares the
// reference evaluator.
func NewSuite(rs *policy.Ruleset, m runtime.Matching) (*Suite, error) {
	pipe, err := runtime.NewPipeline(rs, m)
	if err != nil {
		return nil, err
	}
	ref, err := policy.NewEvaluator(rs)
	if err != nil {
		return nil, err
	}
	return &Suite{Ruleset: rs, Plan: pipe.Plan(), Ref: ref, Matching: m, pipe: pipe}, nil
}

// Alerts appends to dst the alerts that replay and run raise for ev: the
// pipeline's, with the plan's kernel filter emulated on the event (see
// runtime.Pipeline).
func (s *Suite) Alerts(ev *policy.Event, dst []runtime.Alert) []runtime.Alert {
	return s.pipe.Evaluate(&runtime.Input{Event: ev}, dst)
}

// PlanMatch returns the numbers of the rules (in Plan.Rules) the pipeline
// alerts for ev: those Alerts raises.
func (s *Suite) PlanMatch(ev *policy.Event, dst []int) []int {
	_, dst = s.pipe.Match(&runtime.Input{Event: ev}, dst)
	return dst
}

// RefMatch returns the rules the reference evaluator alerts for ev, in
// load order (only the first with MatchFirst).
func (s *Suite) RefMatch(ev *policy.Event, dst []int) []int {
	return s.Ref.MatchRules(s.Plan.Rules, ev, s.Matching == runtime.MatchFirst, dst)
}

func (s *Suite) names(nums []int) []string {
	out := make([]string, len(nums))
	for i, n := range nums {
		out[i] = s.Plan.Rules[n].Name
	}
	return out
}

func eventType(ev *policy.Event) (string, bool) {
	v, ok := ev.Raw("evt.type")
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// DecodeEvent converts a replay-format mapping to an event.
func DecodeEvent(m map[string]any, num uint64) (*policy.Event, error) {
	line, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return policy.DecodeEvent(line, num)
}

// Check runs one case.
func (s *Suite) Check(c Case, num uint64) *Result {
	start := time.Now()
	res := &Result{Kind: KindPeregrine, Name: c.Name, Event: c.Event, Expected: nonNil(c.Alerts)}
	defer func() { res.Duration = time.Since(start) }()
	ev, err := DecodeEvent(c.Event, num)
	if err != nil {
		res.Status, res.Message = StatusError, "event: "+err.Error()
		return res
	}
	alerts := s.Alerts(ev, nil)
	res.Actual = make([]string, len(alerts))
	res.Outputs = make([]string, len(alerts))
	for i, a := range alerts {
		res.Actual[i], res.Outputs[i] = a.Rule.Name, a.Output
	}
	res.Reference = s.names(s.RefMatch(ev, nil))
	var msgs []string
	if !slices.Equal(res.Actual, res.Expected) {
		msgs = append(msgs, fmt.Sprintf("expected alerts %s, got %s", alertList(res.Expected), alertList(res.Actual)))
	}
	if c.Outputs != nil && !slices.Equal(res.Outputs, c.Outputs) {
		msgs = append(msgs, fmt.Sprintf("expected outputs %s, got %s", alertList(c.Outputs), alertList(res.Outputs)))
	}
	if !slices.Equal(res.Actual, res.Reference) {
		msgs = append(msgs, fmt.Sprintf("the compiled plan disagrees with the reference evaluator: plan %s, reference %s%s",
			alertList(res.Actual), alertList(res.Reference), s.dropped(ev, res.Reference)))
	}
	res.Status = StatusPass
	if len(msgs) > 0 {
		res.Status, res.Message = StatusFail, strings.Join(msgs, "\n")
	}
	return res
}

// dropped names the reference's rules the emulated kernel filter drops.
func (s *Suite) dropped(ev *policy.Event, ref []string) string {
	typ, _ := eventType(ev)
	if _, filtered := s.Plan.Encoding.Syscalls[typ]; !filtered {
		if len(ref) == 0 {
			return ""
		}
		return fmt.Sprintf(" (the plan does not filter %q events: Peregrine does not capture them, and a live run never evaluates them)", typ)
	}
	mask := s.Plan.Encoding.Emulate(compiler.ViewOf(ev))
	var out []string
	for i, r := range s.Plan.Rules {
		if !slices.Contains(ref, r.Name) {
			continue
		}
		if cl, ok := s.Plan.RuleClasses(i)[typ]; !ok || !mask.Has(cl) {
			out = append(out, fmt.Sprintf("%q", r.Name))
		}
	}
	if len(out) == 0 {
		return ""
	}
	sort.Strings(out)
	return " (the emulated kernel filter drops the event for " + strings.Join(out, ", ") + ")"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// RunFile runs a Peregrine test file: one result per case, or one ERROR
// result when the file or its rules do not load; and the warnings of
// loading its rules.
func RunFile(path string) ([]*Result, []*policy.Diagnostic) {
	start := time.Now()
	var warns []*policy.Diagnostic
	fail := func(err error) ([]*Result, []*policy.Diagnostic) {
		return []*Result{{Kind: KindPeregrine, File: path, Name: "(load)", Status: StatusError,
			Load: true, Duration: time.Since(start), Message: err.Error()}}, warns
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return fail(err)
	}
	f, err := ParseFile(path, src)
	if err != nil {
		return fail(err)
	}
	dir := filepath.Dir(path)
	paths := make([]string, len(f.Rules))
	for i, r := range f.Rules {
		if filepath.IsAbs(r) {
			paths[i] = r
		} else {
			paths[i] = filepath.Join(dir, r)
		}
	}
	res := loader.Load(paths, loader.Options{})
	warns = res.Warnings
	if err := loader.Err(res); err != nil {
		return fail(fmt.Errorf("loading the rules: %w", err))
	}
	m, _ := runtime.ParseMatching(f.RuleMatching)
	suite, err := NewSuite(res.Ruleset, m)
	if err != nil {
		return fail(fmt.Errorf("compiling the rules: %w", err))
	}
	known := map[string]bool{}
	for _, r := range suite.Plan.Rules {
		known[r.Name] = true
	}
	out := make([]*Result, 0, len(f.Cases))
	for i, c := range f.Cases {
		res := suite.Check(c, uint64(i+1))
		res.File, res.Line = path, c.Line
		for _, a := range c.Alerts {
			if !known[a] {
				res.Status = StatusFail
				res.Message = strings.TrimLeft(res.Message+"\n", "\n") + fmt.Sprintf("no enabled rule named %q is loaded", a)
			}
		}
		out = append(out, res)
	}
	return out, warns
}
