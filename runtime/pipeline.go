// Package runtime is Peregrine's engine: it takes events from a source,
// evaluates the ruleset on them and hands alerts to outputs.
//
// Every command that raises alerts runs one pipeline:
//
//	source → enrichment → evaluation → alerts
//
// The sources are the eBPF capture (Live: records from the ring buffer,
// enriched with the process table, users and containers), a stream of
// recorded events (Replay: the replay format, as `run --record` writes it)
// and a test case's event (package ruletest). Each hands the Pipeline an
// Input; the Pipeline evaluates it with the compiled plan (the classes the
// kernel filter passed admit candidate rules, which the decision tree
// evaluates, with the residuals and OPA the tree holds) and hands every
// Alert to an emit function. The reference evaluator (policy.Evaluator)
// is no evaluation path of a command: it is the oracle the plan is tested
// against.
package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/policy"
)

// Matching selects which rules alert for an event.
type Matching uint8

// Rule matching modes, as Falco's rule_matching setting names them.
const (
	// MatchFirst alerts only for the first matching rule, in load order.
	MatchFirst Matching = iota
	// MatchAll alerts for every matching rule.
	MatchAll
)

// ParseMatching reads "first" or "all", case-insensitively.
func ParseMatching(s string) (Matching, error) {
	switch s {
	case "first", "First", "FIRST", "":
		return MatchFirst, nil
	case "all", "All", "ALL":
		return MatchAll, nil
	}
	return 0, fmt.Errorf("rule matching %q: want first or all", s)
}

// Alert is one rule matching one event.
type Alert struct {
	Rule  *policy.Rule
	Event *policy.Event
	// Time is the event's time.
	Time time.Time
	// Output is the rule's output template rendered with the event.
	Output string
	// Suppressed counts the alerts of the same rule and key that the
	// rule's throttle or skip_events held back since the last one sent.
	Suppressed uint64
	// Repeats counts the alerts dedup folded into this one (the last of
	// them), sent at the end of its window; 0 for an alert sent at once.
	Repeats uint64
	// TraceID is the trace id of the event's span when the event was
	// traced (Pipeline.Observe), in hex; "" otherwise.
	TraceID string
}

// EventTime returns the event's evt.rawtime, or now when it has none.
func EventTime(ev *policy.Event) time.Time {
	if v, ok := ev.Get(keyEvtRawtime); ok {
		if ns, ok := v.Int(); ok {
			return time.Unix(0, ns)
		}
	}
	return time.Now()
}

var keyEvtRawtime = policy.MustKey("evt.rawtime")

// Input is one event a source hands the pipeline.
type Input struct {
	// Event is the event, built and enriched by the source; nil for
	// a record that is no event (a fork, an exit), which is skipped.
	Event *policy.Event
	// Plan is the plan whose kernel filter judged the event, and Mask the
	// classes it passed for the syscall Syscall. A nil Plan says that no
	// kernel judged the event (a replayed or test event): the pipeline's
	// own plan judges it by emulating its kernel filter.
	Plan    *compiler.Plan
	Syscall string
	Mask    compiler.Mask
}

// Pipeline is the evaluation and alert stages: one evaluator, the
// compiled plan, for every source.
//
// An event the kernel filter judged (Input.Plan set) is evaluated for the
// rules the classes it passed admit (Plan.Candidates, then Tree.Match).
//
// An event no kernel judged, a replayed or a test event, is judged by the
// plan's kernel filter emulated on what the event says
// (Encoding.Emulate(compiler.ViewOf(ev))), rather than handed every rule
// of its type: replay and `peregrine test` then raise exactly what a live
// run raises for the event, the kernel filter included. Since the filter
// never drops an event a rule matches, the alerts are those of every rule
// of the event's type, with two exceptions, both faithful to a live run:
// an event of a type the plan does not filter (a syscall Peregrine does
// not capture, such as sendmmsg, or one no rule is compiled for) raises
// nothing, as a live run never evaluates it (validate warns of rules that
// can match only such types, LOAD_UNCAPTURED_EVENT_TYPE); and where the
// compiler were unsound, replay would show the alert a live run misses.
// That is what `peregrine test` checks, comparing these alerts with the
// reference evaluator's (policy.Evaluator) on every case.
//
// A Pipeline keeps scratch buffers (and the decision tree its own): it is
// not safe for concurrent use, but its counters may be read at any time.
type Pipeline struct {
	plan     *compiler.Plan
	matching Matching
	record   *json.Encoder
	cand     []uint64
	matched  []int
	alerts   []Alert

	evaluated atomic.Uint64
	raised    atomic.Uint64

	// The holding of alerts that need enrichment still under way (Hold).
	holder   Holder
	deadline time.Duration
	needs    needsCache
	later    []uint64
	// emit and onError are Run's while it runs; emitMu serialises the
	// alerts of Run and of the held events; holds counts those waiting.
	emit       func(Alert) error
	onError    func(error)
	emitMu     sync.Mutex
	holds      sync.WaitGroup
	held, late atomic.Uint64
	// Telemetry (observe.go): nil stats and tracer cost one branch.
	stats         *Stats
	tracer        EventTracer
	traceEvery    uint64
	timingEvery   uint64
	n             uint64
	observed      *observedPlan
	observedPlans []*observedPlan
	alertCounters map[*policy.Rule]*RuleCounters
	each          func(int, bool, time.Time, time.Duration)
	span          EventSpan
	timed         bool
	cur           *observedPlan
}

// NewPipeline compiles the enabled rules of rs as `peregrine run` compiles
// them, for the syscalls they need (SyscallsFor), and returns the pipeline
// evaluating events with the plan.
func NewPipeline(rs *policy.Ruleset, m Matching) (*Pipeline, error) {
	plan, err := compiler.Compile(rs, compiler.Options{Syscalls: SyscallsFor(rs)})
	if err != nil {
		return nil, err
	}
	return PlanPipeline(plan, m), nil
}

// PlanPipeline returns the pipeline evaluating events with plan. plan may
// be nil when every Input carries the plan that judged it (a live
// capture, whose plan changes on reload); an Input without one then
// raises nothing.
func PlanPipeline(plan *compiler.Plan, m Matching) *Pipeline {
	return &Pipeline{plan: plan, matching: m}
}

// Plan returns the pipeline's plan (nil for a live capture's).
func (p *Pipeline) Plan() *compiler.Plan { return p.plan }

// Matching returns the pipeline's rule matching.
func (p *Pipeline) Matching() Matching { return p.matching }

// Record makes the pipeline write every event it evaluates to w, in the
// replay format, before evaluating it (nil: none).
func (p *Pipeline) Record(w io.Writer) {
	if w == nil {
		p.record = nil
		return
	}
	p.record = json.NewEncoder(w)
	p.record.SetEscapeHTML(false)
}

// Evaluated returns how many events the pipeline has evaluated.
func (p *Pipeline) Evaluated() uint64 { return p.evaluated.Load() }

// Raised returns how many alerts the pipeline has handed to emit in Run.
func (p *Pipeline) Raised() uint64 { return p.raised.Load() }

// Match appends to dst the numbers of the rules that alert for in (their
// indexes in the returned plan's Rules), in load order, only the first
// with MatchFirst. The plan is the one that judged the event, else the
// pipeline's; nil when there is none.
func (p *Pipeline) Match(in *Input, dst []int) (*compiler.Plan, []int) {
	plan, ok := p.candidates(in)
	if !ok {
		return nil, dst
	}
	return plan, plan.Tree.Match(in.Event, p.matching == MatchFirst, p.cand, dst)
}

// candidates sets p.cand to the rules the kernel filter (or its emulation)
// admits for in, and returns the plan that judged it; false when there is
// none.
func (p *Pipeline) candidates(in *Input) (*compiler.Plan, bool) {
	plan, mask, syscall := in.Plan, in.Mask, in.Syscall
	if plan == nil {
		plan = p.plan
		if plan == nil {
			return nil, false
		}
		view := compiler.ViewOf(in.Event)
		syscall, mask = view.Syscall, plan.Encoding.Emulate(view)
	}
	p.cand = plan.Candidates(syscall, mask, p.cand)
	return plan, true
}

// Evaluate appends to dst the alerts in raises. Inside Run, with a Holder
// (Hold) saying that the event's enrichment is under way, the rules whose
// condition or output needs what is missing are evaluated or rendered
// later, off this path (see Hold); their alerts go to Run's emit then.
func (p *Pipeline) Evaluate(in *Input, dst []Alert) []Alert {
	if in.Event == nil {
		return dst
	}
	p.evaluated.Add(1)
	if p.holder != nil && p.emit != nil {
		if out, held := p.evaluateHeld(in, dst); held {
			return out
		}
	}
	var plan *compiler.Plan
	var matched []int
	traceID := ""
	if p.stats == nil && p.tracer == nil {
		plan, matched = p.Match(in, p.matched[:0])
	} else {
		plan, matched, traceID = p.observedMatch(in, p.matched[:0])
	}
	p.matched = matched
	if len(matched) == 0 {
		return dst
	}
	t := EventTime(in.Event)
	rules := plan.Tree.Rules()
	// A source reuses its event (and the record under it) for the next:
	// the alerts keep a snapshot.
	kept := in.Event.Snapshot()
	for _, i := range matched {
		r := rules[i]
		dst = append(dst, Alert{Rule: r, Event: kept, Time: t, Output: r.Output.Render(in.Event), TraceID: traceID})
	}
	return dst
}

// Run takes inputs from next until it returns io.EOF, records and
// evaluates each, and calls emit for every alert. With onError nil, Run
// returns the first error of next or emit; otherwise it reports them
// through onError and goes on (a live capture does not stop for a record
// it cannot read or an alert it cannot write). A recording error goes to
// onError and never stops Run.
func (p *Pipeline) Run(next func(*Input) error, emit func(Alert) error, onError func(error)) error {
	p.emit, p.onError = emit, onError
	defer func() {
		// The held alerts go out before Run returns: none is lost at the
		// end of a capture.
		p.holds.Wait()
		p.emit, p.onError = nil, nil
	}()
	var in Input
	for {
		in = Input{}
		if err := next(&in); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if onError == nil {
				return err
			}
			onError(err)
			continue
		}
		if in.Event == nil {
			continue
		}
		if p.record != nil {
			if err := p.record.Encode(in.Event); err != nil && onError != nil {
				onError(fmt.Errorf("record: %w", err))
			}
		}
		p.alerts = p.Evaluate(&in, p.alerts[:0])
		if err := p.send(p.alerts); err != nil {
			return err
		}
	}
}

// send hands alerts to Run's emit, one caller at a time; it returns emit's
// error when there is no onError to report it.
func (p *Pipeline) send(alerts []Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	p.emitMu.Lock()
	defer p.emitMu.Unlock()
	for i := range alerts {
		a := alerts[i]
		p.raised.Add(1)
		p.countAlert(&a) // under emitMu: the held events' alerts come from other goroutines
		if err := p.emit(a); err != nil {
			if p.onError == nil {
				return err
			}
			p.onError(err)
		}
	}
	return nil
}
