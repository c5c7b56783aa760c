package compiler

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/peregrine-sec/peregrine/policy"
)

// The variants of Match that telemetry uses: they match exactly as Match
// does (the same rules, in the same order, the same first-match cut) and
// also say which rules were looked at. They take the candidates bitmap
// Plan.Candidates gives; with nil candidates every rule of the event's
// type is a candidate.

// RuleCount is what MatchCounted and MatchEach count for one rule:
// Evaluated, the events its condition was evaluated on, and Skipped, the
// events the kernel's classes admitted for it but not evaluated because
// an earlier rule matched first. One atomic add per candidate: the events
// admitted are the sum (Passed).
type RuleCount struct {
	Evaluated, Skipped atomic.Uint64
}

// Passed returns the events the kernel's classes admitted for the rule
// (every candidate of the event's type, even one after a first match).
func (c *RuleCount) Passed() uint64 { return c.Evaluated.Load() + c.Skipped.Load() }

// MatchCounted is Match that also counts, per rule number, in counts[i]
// (indexed by rule number, at least len(Rules()) long). It allocates
// nothing.
func (t *Tree) MatchCounted(ev *policy.Event, first bool, candidates []uint64, dst []int, counts []*RuleCount) []int {
	return t.matchObserved(ev, first, candidates, dst, counts, nil)
}

// MatchEach is Match that calls each for every rule whose condition it
// evaluates, in order, with whether it matched and how long its condition
// took. A condition's time includes the shared subexpressions it was the
// first to evaluate for the event (the tree memoises them), so the rules
// after it may look cheaper than they are alone. It is meant for sampled
// events: it reads the clock twice per rule. counts, when not nil, counts
// as MatchCounted does.
func (t *Tree) MatchEach(ev *policy.Event, first bool, candidates []uint64, dst []int, counts []*RuleCount, each func(rule int, matched bool, start time.Time, took time.Duration)) []int {
	return t.matchObserved(ev, first, candidates, dst, counts, each)
}

// matchObserved is MatchCounted (each nil) and MatchEach. Match keeps its
// own loop, which pays for neither.
func (t *Tree) matchObserved(ev *policy.Event, first bool, candidates []uint64, dst []int, counts []*RuleCount, each func(rule int, matched bool, start time.Time, took time.Duration)) []int {
	m, _ := t.pool.Get().(*Matcher)
	if m == nil {
		m = t.NewMatcher()
	}
	defer t.pool.Put(m)
	m.gen++
	m.buf = m.buf[:0]
	typed := t.typedCandidates(ev)
	done := false
	for w := 0; w < len(typed); w++ {
		word := typed[w]
		if candidates != nil {
			if w >= len(candidates) {
				break
			}
			word &= candidates[w]
		}
		for ; word != 0; word &= word - 1 {
			i := w<<6 | bits.TrailingZeros64(word)
			if done {
				if counts == nil {
					return dst
				}
				counts[i].Skipped.Add(1)
				continue
			}
			if counts != nil {
				counts[i].Evaluated.Add(1)
			}
			var ok bool
			if each == nil {
				ok = t.conds[i](m, ev)
			} else {
				start := time.Now()
				ok = t.conds[i](m, ev)
				each(i, ok, start, time.Since(start))
			}
			if ok {
				dst = append(dst, i)
				done = first
			}
		}
	}
	return dst
}

// typedCandidates is the bitmap of the rules that can match the event's
// type.
func (t *Tree) typedCandidates(ev *policy.Event) []uint64 {
	typ, _ := ev.Text(keyEvtType)
	if typed, ok := t.typeBits[typ]; ok {
		return typed
	}
	return t.anyBits
}

// RuleStage says where a rule of the plan is decided: "kernel" when the
// kernel predicate is the rule's whole condition for every syscall it is
// compiled for (userspace only confirms it), "opa" when its condition
// holds a part only OPA evaluates (a Rego residual), else "native" (the
// compiled Go predicates).
func (p *Plan) RuleStage(i int) string {
	r := p.Rules[i]
	opa := false
	policy.Walk(r.Condition, func(x policy.Expr) {
		if _, ok := x.(*policy.Residual); ok {
			opa = true
		}
	})
	if opa {
		return "opa"
	}
	if i < len(p.Preds) && len(p.Preds[i]) > 0 {
		exact := true
		for _, sp := range p.Preds[i] {
			exact = exact && sp.Exact
		}
		if exact {
			return "kernel"
		}
	}
	return "native"
}
