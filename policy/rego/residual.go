package rego

import (
	"context"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/peregrine-sec/peregrine/policy"
)

// query is a residual: a conjunction of Rego expressions that Peregrine
// could not translate, prepared once and evaluated by OPA on the event's
// input document. It implements policy.External.
type query struct {
	body ast.Body
	text string
	pq   rego.PreparedEvalQuery
	// need selects the fields the modules can read; nil means all.
	need func(string) bool
}

// Eval reports whether the query has a result for the event. An
// evaluation error (OPA's builtins are not strict, so it is rare: a
// conflict between rule values, say) counts as no match.
func (q *query) Eval(ev *policy.Event) bool {
	rs, err := q.pq.Eval(context.Background(), rego.EvalParsedInput(inputOf(ev, q.need)))
	return err == nil && holds(rs)
}

// holds reports whether a result set of a query is a match. The rego
// package captures the value of every expression of a query (so that
// `1 == 2` yields a result whose expression is false): a match is a result
// none of whose expressions is false.
func holds(rs rego.ResultSet) bool {
	for _, r := range rs {
		ok := true
		for _, e := range r.Expressions {
			if b, isBool := e.Value.(bool); isBool && !b {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// String returns the query in Rego syntax.
func (q *query) String() string { return q.text }
