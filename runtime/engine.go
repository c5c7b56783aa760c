// Package runtime is Peregrine's engine: it takes events from a source,
// evaluates the ruleset on them and hands alerts to outputs.
package runtime

import (
	"fmt"
	"time"

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
}

// Engine evaluates a ruleset on events with the reference evaluator,
// visiting for each event only the rules whose event types include it.
type Engine struct {
	rules    []*policy.Rule
	eval     *policy.Evaluator
	byType   map[string][]int // event type -> indexes into rules, in load order
	anyType  []int            // rules with no event-type restriction
	matching Matching
	// Evaluated counts the events evaluated.
	Evaluated uint64
}

// NewEngine prepares the enabled rules of rs. It returns an error when a
// rule's condition cannot be prepared.
func NewEngine(rs *policy.Ruleset, m Matching) (*Engine, error) {
	ev, err := policy.NewEvaluator(rs)
	if err != nil {
		return nil, err
	}
	e := &Engine{eval: ev, byType: map[string][]int{}, matching: m}
	e.rules = rs.Enabled()
	for i, r := range e.rules {
		if r.EventTypes == nil {
			e.anyType = append(e.anyType, i)
			continue
		}
		for _, t := range r.EventTypes {
			e.byType[t] = append(e.byType[t], i)
		}
	}
	return e, nil
}

// Evaluate returns the alerts an event raises, appending them to dst.
func (e *Engine) Evaluate(ev *policy.Event, dst []Alert) []Alert {
	e.Evaluated++
	typ := ""
	if v, ok := ev.Raw("evt.type"); ok {
		typ, _ = v.(string)
	}
	// Merge the two index lists to visit rules in load order.
	typed, any := e.byType[typ], e.anyType
	for len(typed) > 0 || len(any) > 0 {
		var i int
		if len(any) == 0 || (len(typed) > 0 && typed[0] < any[0]) {
			i, typed = typed[0], typed[1:]
		} else {
			i, any = any[0], any[1:]
		}
		r := e.rules[i]
		if !e.eval.Match(r, ev) {
			continue
		}
		dst = append(dst, Alert{Rule: r, Event: ev, Time: EventTime(ev), Output: r.Output.Render(ev)})
		if e.matching == MatchFirst {
			break
		}
	}
	return dst
}

// EventTime returns the event's evt.rawtime, or now when it has none.
func EventTime(ev *policy.Event) time.Time {
	if v, ok := ev.Raw("evt.rawtime"); ok {
		var ns int64
		if _, err := fmt.Sscan(fmt.Sprint(v), &ns); err == nil {
			return time.Unix(0, ns)
		}
	}
	return time.Now()
}
