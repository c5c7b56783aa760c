package runtime

import (
	"errors"
	"io"
	"sort"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/policy"
)

// RuleCost is what a rule would cost on a recorded stream of events
// (CostOf): how many of the events are of its types, how many its kernel
// classes would let through and drop, and the userspace time its
// condition took on those it was evaluated on.
type RuleCost struct {
	Rule  string `json:"rule"`
	Stage string `json:"stage"`
	// Events are the events of the rule's event types.
	Events uint64 `json:"events"`
	// KernelPassed are the events its kernel classes let through (the
	// plan's kernel filter, emulated), KernelDropped the others of its
	// types.
	KernelPassed  uint64 `json:"kernel_passed"`
	KernelDropped uint64 `json:"kernel_dropped"`
	Evaluations   uint64 `json:"evaluations"`
	Matches       uint64 `json:"matches"`
	// UserspaceNs is the time its condition took over the evaluations,
	// each timed, and NsPerEvaluation the mean.
	UserspaceNs     uint64  `json:"userspace_ns"`
	NsPerEvaluation float64 `json:"ns_per_evaluation"`
}

// CostOf evaluates every event next gives (until io.EOF) with plan, as
// replay does, timing each rule's evaluation, and returns each rule's
// cost, the most expensive in userspace first, with the number of events.
// It returns next's first other error.
func CostOf(plan *compiler.Plan, m Matching, next func(*Input) error) ([]RuleCost, uint64, error) {
	p := PlanPipeline(plan, m)
	stats := NewStats(1)
	p.Observe(stats, nil, 0)
	byType := map[string]uint64{}
	var events uint64
	var alerts []Alert
	for {
		var in Input
		err := next(&in)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, events, err
		}
		if in.Event == nil {
			continue
		}
		events++
		if t, ok := in.Event.Text(keyEvtType); ok {
			byType[t]++
		}
		alerts = p.Evaluate(&in, alerts[:0])
	}
	var out []RuleCost
	for i, r := range plan.Rules {
		c := stats.Rule(r.Name)
		rc := RuleCost{Rule: r.Name, Stage: plan.RuleStage(i), Events: typedEvents(r, byType, events)}
		if c != nil {
			rc.KernelPassed, rc.Evaluations, rc.Matches = c.Passed(), c.Evaluated.Load(), c.Matches.Load()
			rc.UserspaceNs = c.TimedNanos.Load()
		}
		if rc.Events > rc.KernelPassed {
			rc.KernelDropped = rc.Events - rc.KernelPassed
		}
		if rc.Evaluations > 0 {
			rc.NsPerEvaluation = float64(rc.UserspaceNs) / float64(rc.Evaluations)
		}
		out = append(out, rc)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].UserspaceNs > out[j].UserspaceNs })
	return out, events, nil
}

// typedEvents counts the events of the rule's types (every event for a
// rule of any type).
func typedEvents(r *policy.Rule, byType map[string]uint64, all uint64) uint64 {
	if r.EventTypes == nil {
		return all
	}
	var n uint64
	for _, t := range r.EventTypes {
		n += byType[t]
	}
	return n
}

var keyEvtType = policy.MustKey("evt.type")
