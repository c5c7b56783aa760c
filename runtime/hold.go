package runtime

import (
	"slices"
	"sync"
	"time"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/policy"
)

// A Holder tells the pipeline which events' enrichment is still under way
// (a live capture's container metadata lookups).
type Holder interface {
	// Pending returns a channel closed once what the enrichment of ev
	// waits for has come, nil when nothing is pending. It must not block.
	Pending(ev *policy.Event) <-chan struct{}
	// Complete gives the snapshot of a held event the values that have
	// come since it was taken; it may be called from any goroutine.
	Complete(ev *policy.Event)
}

// Hold makes the pipeline hold, inside Run, the alerts that need values
// h says are pending: an event is evaluated at once with what it has for
// every rule whose condition needs none of the runtime's fields
// (policy.NeedsMetadata); the alerts of those whose output needs some,
// and the evaluation of those whose condition does, wait off the event
// path until h's channel closes or deadline passes, then go out (with the
// fields absent at the deadline: Held counts it). Under first matching,
// an event for which a rule whose condition needs them is a candidate is
// evaluated whole once they have come, so that the first rule wins.
func (p *Pipeline) Hold(h Holder, deadline time.Duration) {
	p.holder, p.deadline = h, deadline
}

// Held returns how many alerts waited for enrichment, and how many of them
// went out at the deadline without it.
func (p *Pipeline) Held() (held, late uint64) { return p.held.Load(), p.late.Load() }

// planNeeds are, by rule number, the rules of a plan whose condition
// (cond) or output (out) need runtime fields, and their union (any).
type planNeeds struct {
	cond, out, any []uint64
}

// needsCache keeps the needs of the plans seen last.
type needsCache struct {
	mu    sync.Mutex
	plans map[*compiler.Plan]*planNeeds
}

func (c *needsCache) of(plan *compiler.Plan) *planNeeds {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.plans[plan]; ok {
		return n
	}
	rules := plan.Tree.Rules()
	w := (len(rules) + 63) / 64
	n := &planNeeds{cond: make([]uint64, w), out: make([]uint64, w), any: make([]uint64, w)}
	for i, r := range rules {
		nd := policy.NeedsMetadata(r)
		bit := uint64(1) << (i % 64)
		if nd.InCondition() {
			n.cond[i/64] |= bit
		}
		if len(nd.Output) > 0 {
			n.out[i/64] |= bit
		}
		if nd.Any() {
			n.any[i/64] |= bit
		}
	}
	if c.plans == nil || len(c.plans) >= 2*planHistory {
		c.plans = map[*compiler.Plan]*planNeeds{}
	}
	c.plans[plan] = n
	return n
}

func intersects(a, b []uint64) bool {
	for i := range min(len(a), len(b)) {
		if a[i]&b[i] != 0 {
			return true
		}
	}
	return false
}

func has(set []uint64, i int) bool { return i/64 < len(set) && set[i/64]&(1<<(i%64)) != 0 }

// evaluateHeld evaluates in when its enrichment is pending and one of its
// candidate rules needs it: the rules that can be decided now are, and the
// rest is held. held is false when nothing was pending (the caller then
// evaluates as usual).
func (p *Pipeline) evaluateHeld(in *Input, dst []Alert) (out []Alert, held bool) {
	plan, mask, syscall := in.Plan, in.Mask, in.Syscall
	if plan == nil {
		return dst, false // replayed events carry their values
	}
	// Pending first: it is a pointer test for the host's events, where
	// the candidates would be computed twice.
	wait := p.holder.Pending(in.Event)
	if wait == nil {
		return dst, false
	}
	p.cand = plan.Candidates(syscall, mask, p.cand)
	nd := p.needs.of(plan)
	if !intersects(p.cand, nd.any) {
		return dst, false
	}
	first := p.matching == MatchFirst
	// later: the candidates evaluated once the values have come.
	p.later = append(p.later[:0], p.cand...)
	now := p.cand
	if first && intersects(p.cand, nd.cond) {
		for i := range now {
			now[i] = 0
		}
	} else {
		for i := range now {
			p.later[i] &= nd.cond[i]
			now[i] &^= nd.cond[i]
		}
	}
	matched := plan.Tree.Match(in.Event, first, now, p.matched[:0])
	p.matched = matched
	rules := plan.Tree.Rules()
	var ready, deferred []int
	for _, i := range matched {
		if has(nd.out, i) {
			deferred = append(deferred, i)
		} else {
			ready = append(ready, i)
		}
	}
	anyLater := false
	for _, w := range p.later {
		anyLater = anyLater || w != 0
	}
	if len(ready) == 0 && len(deferred) == 0 && !anyLater {
		return dst, true
	}
	t := EventTime(in.Event)
	if len(ready) > 0 {
		snap := in.Event.Snapshot()
		for _, i := range ready {
			r := rules[i]
			dst = append(dst, Alert{Rule: r, Event: snap, Time: t, Output: r.Output.Render(in.Event)})
		}
	}
	if len(deferred) == 0 && !anyLater {
		return dst, true
	}
	// The held part has a snapshot of its own: the ready alerts' is read
	// by emit while this one is completed.
	snap := in.Event.Snapshot()
	later := slices.Clone(p.later)
	if !anyLater {
		later = nil
	}
	p.holds.Add(1)
	go p.release(plan, snap, t, wait, first, deferred, later)
	return dst, true
}

// release waits for the held event's values or the deadline, completes its
// snapshot, evaluates the rules held for it and sends their alerts.
func (p *Pipeline) release(plan *compiler.Plan, snap *policy.Event, t time.Time, wait <-chan struct{}, first bool, deferred []int, later []uint64) {
	defer p.holds.Done()
	timer := time.NewTimer(p.deadline)
	timedOut := false
	select {
	case <-wait:
	case <-timer.C:
		timedOut = true
	}
	timer.Stop()
	p.holder.Complete(snap)
	matched := deferred
	if later != nil {
		matched = plan.Tree.Match(snap, first, later, matched)
		slices.Sort(matched)
	}
	if len(matched) == 0 {
		return
	}
	rules := plan.Tree.Rules()
	alerts := make([]Alert, 0, len(matched))
	for _, i := range matched {
		r := rules[i]
		alerts = append(alerts, Alert{Rule: r, Event: snap, Time: t, Output: r.Output.Render(snap)})
	}
	p.held.Add(uint64(len(alerts)))
	if timedOut {
		p.late.Add(uint64(len(alerts)))
	}
	_ = p.send(alerts)
}
