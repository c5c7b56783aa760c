package policy

import (
	"fmt"
	"slices"
)

// Evaluator is the reference evaluator: it walks a rule's expression tree
// and evaluates each comparison with Falco's semantics. It defines what a
// rule means; faster evaluators are tested against it.
type Evaluator struct {
	checks map[*Compare]*Check
}

// NewEvaluator prepares every comparison in the ruleset. It returns an
// error naming the rule whose comparison cannot be prepared.
func NewEvaluator(rs *Ruleset) (*Evaluator, error) {
	ev := &Evaluator{checks: map[*Compare]*Check{}}
	for _, r := range rs.Rules {
		if err := ev.prepare(r.Condition); err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.Name, err)
		}
	}
	return ev, nil
}

func (ev *Evaluator) prepare(x Expr) error {
	var err error
	Walk(x, func(x Expr) {
		c, ok := x.(*Compare)
		if !ok || err != nil || ev.checks[c] != nil {
			return
		}
		var k *Check
		if k, err = PrepareCheck(c); err == nil {
			ev.checks[c] = k
		}
	})
	return err
}

// Match reports whether the rule's condition holds for the event.
func (ev *Evaluator) Match(r *Rule, e *Event) bool { return ev.Eval(r.Condition, e) }

// Eval evaluates an expression the evaluator has prepared (or prepares it).
func (ev *Evaluator) Eval(x Expr, e *Event) bool {
	switch x := x.(type) {
	case *And:
		for _, s := range x.Exprs {
			if !ev.Eval(s, e) {
				return false
			}
		}
		return true
	case *Or:
		for _, s := range x.Exprs {
			if ev.Eval(s, e) {
				return true
			}
		}
		return false
	case *Not:
		return !ev.Eval(x.X, e)
	case *Const:
		return x.Value
	case *Compare:
		k := ev.checks[x]
		if k == nil {
			var err error
			if k, err = PrepareCheck(x); err != nil {
				return false
			}
			ev.checks[x] = k
		}
		return k.Eval(e)
	case *Residual:
		return x.X.Eval(e)
	}
	panic(fmt.Sprintf("policy: unknown expression %T", x))
}

// Walk calls fn for x and every expression below it, parents first.
func Walk(x Expr, fn func(Expr)) {
	fn(x)
	switch x := x.(type) {
	case *And:
		for _, s := range x.Exprs {
			Walk(s, fn)
		}
	case *Or:
		for _, s := range x.Exprs {
			Walk(s, fn)
		}
	case *Not:
		Walk(x.X, fn)
	}
}

// MatchRules appends to dst the indexes in rules of the rules that match
// the event, in order (rules is in load order, as Ruleset.Enabled gives
// it); with first, at most one: the first. A rule whose event types do not
// include the event's evt.type is not evaluated. This is the oracle of
// rule matching (Falco's rule_matching first or all) that the compiled
// plan is tested against.
func (ev *Evaluator) MatchRules(rules []*Rule, e *Event, first bool, dst []int) []int {
	typ := ""
	if v, ok := e.Raw("evt.type"); ok {
		typ, _ = v.(string)
	}
	for i, r := range rules {
		if r.EventTypes != nil && !slices.Contains(r.EventTypes, typ) {
			continue
		}
		if ev.Match(r, e) {
			dst = append(dst, i)
			if first {
				break
			}
		}
	}
	return dst
}
