package runtime

import (
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/policy"
)

// What the pipeline counts for telemetry. The hot path adds to plain
// atomic counters (Stats); exporters read them when they collect. Per-rule
// time is sampled: one event in Stats.TimingEvery has each of its rules
// timed, and the time of the others is estimated from those samples. One
// event in the tracer's sampling period is traced (EventTracer).

// DefaultTimingEvery is how often, in events, the pipeline times each
// rule of an event when Stats asks for no other period.
const DefaultTimingEvery = 64

// RuleInfo describes a rule for telemetry: the attributes its series and
// spans carry.
type RuleInfo struct {
	Name string
	// Ruleset is the base name of the file that defined the rule.
	Ruleset string
	// Source is the rule's language: "yaml" (Falco) or "rego".
	Source string
	// Stage is where the rule is decided (compiler.Plan.RuleStage):
	// "kernel", "native" or "opa".
	Stage string
	// Priority is the rule's priority, as Falco spells it.
	Priority string
	// EventSource is the Falco event source ("syscall").
	EventSource string
	Tags        []string
}

// RuleCounters are one rule's cumulative counts since the start, over
// every plan (a reload keeps the counts of a rule of the same name).
type RuleCounters struct {
	compiler.RuleCount
	// Matches counts the events the rule matched; Alerts the alerts the
	// pipeline handed to its emit function for the rule.
	Matches, Alerts atomic.Uint64
	// TimedEvaluations counts the evaluations that were timed, and
	// TimedNanos the time they took.
	TimedEvaluations, TimedNanos atomic.Uint64
	info                         atomic.Pointer[RuleInfo]
}

// Info returns the rule's description, as the latest plan holding it
// gave it.
func (c *RuleCounters) Info() *RuleInfo { return c.info.Load() }

// EstimatedNanos estimates the userspace time the rule's evaluations
// took: the mean of the timed ones times the number of evaluations (0
// before the first timed one).
func (c *RuleCounters) EstimatedNanos() float64 {
	n := c.TimedEvaluations.Load()
	if n == 0 {
		return 0
	}
	return float64(c.TimedNanos.Load()) / float64(n) * float64(c.Evaluated.Load())
}

// Stats holds the per-rule counters of a pipeline. Its methods are safe
// for concurrent use.
type Stats struct {
	// TimingEvery is how often, in events, every rule evaluated for an
	// event is timed (0: DefaultTimingEvery). Set it before the pipeline
	// runs.
	TimingEvery uint64
	// Timed, when set (before the pipeline runs), is called with every
	// timed evaluation, in the pipeline's goroutine: telemetry records
	// them in a histogram. It must not block.
	Timed func(info *RuleInfo, took time.Duration)

	mu     sync.Mutex
	byName map[string]*RuleCounters
	order  []*RuleCounters
}

// NewStats returns empty counters timing one event in timingEvery (0:
// DefaultTimingEvery).
func NewStats(timingEvery uint64) *Stats {
	return &Stats{TimingEvery: timingEvery, byName: map[string]*RuleCounters{}}
}

// Rules returns the counters of every rule seen so far, in the order the
// rules were first seen.
func (s *Stats) Rules() []*RuleCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*RuleCounters(nil), s.order...)
}

// Rule returns the counters of the rule named name, nil when no plan the
// pipeline ran held it.
func (s *Stats) Rule(name string) *RuleCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byName[name]
}

// counters returns the counters of the plan's rules, by rule number,
// registering the rules it had not seen.
func (s *Stats) counters(plan *compiler.Plan) []*RuleCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*RuleCounters, len(plan.Rules))
	for i, r := range plan.Rules {
		c := s.byName[r.Name]
		if c == nil {
			c = &RuleCounters{}
			s.byName[r.Name] = c
			s.order = append(s.order, c)
		}
		c.info.Store(ruleInfo(plan, i))
		out[i] = c
	}
	return out
}

// ruleInfo describes rule i of plan.
func ruleInfo(plan *compiler.Plan, i int) *RuleInfo {
	r := plan.Rules[i]
	source := "yaml"
	if strings.HasSuffix(r.Pos.File, ".rego") || strings.Contains(r.Pos.File, ".rego:") {
		source = "rego"
	}
	ruleset := filepath.Base(r.Pos.File)
	if r.Pos.File == "" {
		ruleset = ""
	}
	return &RuleInfo{Name: r.Name, Ruleset: ruleset, Source: source, Stage: plan.RuleStage(i),
		Priority: r.Priority.String(), EventSource: r.Source, Tags: r.Tags}
}

// EventTracer traces sampled events. The pipeline calls StartEvent for
// one event in its period (Pipeline.Observe) and then, on the span it
// returns (nil: not traced), Rule for every rule it evaluates and End.
type EventTracer interface {
	StartEvent(in *Input) EventSpan
}

// EventSpan is the trace of one event.
type EventSpan interface {
	// Rule records one rule's evaluation.
	Rule(info *RuleInfo, matched bool, start time.Time, took time.Duration)
	// End ends the event's span, which matched matched rules, and
	// returns its trace id ("" when the span is not sampled).
	End(matched int) string
}

// observedPlan is what the pipeline keeps of the plan it last evaluated
// with, for telemetry.
type observedPlan struct {
	plan     *compiler.Plan
	counters []*RuleCounters
	counts   []*compiler.RuleCount
	infos    []*RuleInfo
}

// Observe makes the pipeline count per rule into stats (nil: no counts)
// and trace one event in traceEvery with tracer (nil or 0: none). Call it
// before the pipeline runs.
func (p *Pipeline) Observe(stats *Stats, tracer EventTracer, traceEvery uint64) {
	p.stats, p.tracer, p.traceEvery = stats, tracer, traceEvery
	if tracer == nil || traceEvery == 0 {
		p.tracer, p.traceEvery = nil, 0
	}
	p.timingEvery = 0
	if stats != nil {
		p.timingEvery = stats.TimingEvery
		if p.timingEvery == 0 {
			p.timingEvery = DefaultTimingEvery
		}
	}
	p.observed = nil
	p.each = p.eachRule
}

// Stats returns the counters the pipeline counts into (nil: none).
func (p *Pipeline) Stats() *Stats { return p.stats }

// observedFor returns the telemetry state of plan.
func (p *Pipeline) observedFor(plan *compiler.Plan) *observedPlan {
	if o := p.observed; o != nil && o.plan == plan {
		return o
	}
	for _, o := range p.observedPlans {
		if o.plan == plan {
			p.observed = o
			return o
		}
	}
	o := &observedPlan{plan: plan, infos: make([]*RuleInfo, len(plan.Rules))}
	if p.stats != nil {
		o.counters = p.stats.counters(plan)
		o.counts = make([]*compiler.RuleCount, len(o.counters))
		for i, c := range o.counters {
			o.counts[i] = &c.RuleCount
			o.infos[i] = c.Info()
		}
	} else {
		for i := range plan.Rules {
			o.infos[i] = ruleInfo(plan, i)
		}
	}
	// A live capture evaluates with the few plans still judging records.
	if len(p.observedPlans) >= planHistory {
		p.observedPlans = p.observedPlans[1:]
	}
	p.observedPlans = append(p.observedPlans, o)
	p.observed = o
	return o
}

// observedMatch is Match counting per rule and, for a sampled event,
// timing and tracing each rule. It returns the trace id of a traced
// event.
func (p *Pipeline) observedMatch(in *Input, dst []int) (*compiler.Plan, []int, string) {
	plan, ok := p.candidates(in)
	if !ok {
		return nil, dst, ""
	}
	first := p.matching == MatchFirst
	o := p.observedFor(plan)
	p.n++
	var span EventSpan
	if p.traceEvery != 0 && p.n%p.traceEvery == 0 {
		span = p.tracer.StartEvent(in)
	}
	timed := p.timingEvery != 0 && p.n%p.timingEvery == 0
	if span == nil && !timed {
		if o.counts == nil {
			return plan, plan.Tree.Match(in.Event, first, p.cand, dst), ""
		}
		dst = plan.Tree.MatchCounted(in.Event, first, p.cand, dst, o.counts)
	} else {
		p.span, p.timed, p.cur = span, timed, o
		dst = plan.Tree.MatchEach(in.Event, first, p.cand, dst, o.counts, p.each)
		p.span, p.cur = nil, nil
	}
	if o.counters != nil {
		for _, i := range dst {
			o.counters[i].Matches.Add(1)
		}
	}
	if span != nil {
		return plan, dst, span.End(len(dst))
	}
	return plan, dst, ""
}

// eachRule is MatchEach's callback for a sampled event (p.cur).
func (p *Pipeline) eachRule(i int, matched bool, start time.Time, took time.Duration) {
	o := p.cur
	if p.timed && o.counters != nil {
		c := o.counters[i]
		c.TimedEvaluations.Add(1)
		c.TimedNanos.Add(uint64(took))
		if f := p.stats.Timed; f != nil {
			f(o.infos[i], took)
		}
	}
	if p.span != nil {
		p.span.Rule(o.infos[i], matched, start, took)
	}
}

// countAlert counts an alert the pipeline handed to emit.
func (p *Pipeline) countAlert(a *Alert) {
	if p.stats == nil {
		return
	}
	c := p.alertCounters[a.Rule]
	if c == nil {
		c = p.stats.Rule(a.Rule.Name)
		if c == nil {
			return
		}
		if p.alertCounters == nil || len(p.alertCounters) > 4096 {
			p.alertCounters = map[*policy.Rule]*RuleCounters{}
		}
		p.alertCounters[a.Rule] = c
	}
	c.Alerts.Add(1)
}
