package rego

import "github.com/peregrine-sec/peregrine/policy"

// factor rewrites the disjunctions partial evaluation leaves (one branch
// per way a rule can hold, each repeating the conditions the ways share)
// so that shared conditions are tested once: (a and b) or (a and c)
// becomes a and (b or c), and branches that start alike are grouped. The
// IR is two-valued (a comparison on a missing field is false), so the
// distributive law keeps the meaning; the decision tree reads fewer
// fields per event. OPA residuals are never moved: they stay after the
// translated conditions of their branch.
func factor(x policy.Expr) policy.Expr {
	switch v := x.(type) {
	case *policy.And:
		out := &policy.And{}
		for _, e := range v.Exprs {
			out.Exprs = append(out.Exprs, conjuncts(factor(e))...)
		}
		return out
	case *policy.Not:
		return &policy.Not{X: factor(v.X)}
	case *policy.Or:
		branches := make([][]policy.Expr, len(v.Exprs))
		for i, e := range v.Exprs {
			branches[i] = conjuncts(factor(e))
		}
		return factorOr(branches)
	}
	return x
}

func conjuncts(x policy.Expr) []policy.Expr {
	if a, ok := x.(*policy.And); ok {
		return a.Exprs
	}
	return []policy.Expr{x}
}

func and(xs []policy.Expr) policy.Expr {
	if len(xs) == 1 {
		return xs[0]
	}
	return &policy.And{Exprs: xs}
}

// factorOr returns the disjunction of the conjunctions in branches, with
// the conditions all branches share pulled out and the branches that
// start with the same condition grouped.
func factorOr(branches [][]policy.Expr) policy.Expr {
	if len(branches) == 1 {
		return and(branches[0])
	}
	var common []policy.Expr
	shared := map[string]bool{}
	for _, e := range branches[0] {
		k := e.String()
		if _, residual := e.(*policy.Residual); residual || shared[k] {
			continue
		}
		inAll := true
		for _, b := range branches[1:] {
			if !holdsKey(b, k) {
				inAll = false
				break
			}
		}
		if inAll {
			shared[k] = true
			common = append(common, e)
		}
	}
	if len(common) > 0 {
		rest := make([][]policy.Expr, 0, len(branches))
		residuals := false
		for _, b := range branches {
			var r []policy.Expr
			for _, e := range b {
				if !shared[e.String()] {
					r = append(r, e)
					_, isResidual := e.(*policy.Residual)
					residuals = residuals || isResidual
				}
			}
			if len(r) == 0 {
				return and(common) // one branch is just the shared part
			}
			rest = append(rest, r)
		}
		// The shared conditions that open the first branch stay in front
		// (partial evaluation keeps the policy's order, and policies test
		// the event type first); the others follow the branches, unless
		// a branch keeps an OPA residual, which must run last.
		lead := 0
		for lead < len(branches[0]) && lead < len(common) && branches[0][lead].String() == common[lead].String() {
			lead++
		}
		out := append([]policy.Expr{}, common[:lead]...)
		if residuals {
			return and(append(append(out, common[lead:]...), factorOr(rest)))
		}
		return and(append(append(out, factorOr(rest)), common[lead:]...))
	}
	// Group the branches by their first condition, in order of appearance.
	var keys []string
	groups := map[string][][]policy.Expr{}
	for i, b := range branches {
		k := b[0].String()
		if _, residual := b[0].(*policy.Residual); residual {
			k = "\x00" + string(rune(i)) // never grouped
		}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], b)
	}
	out := &policy.Or{}
	for _, k := range keys {
		g := groups[k]
		if len(g) == 1 {
			out.Exprs = append(out.Exprs, and(g[0]))
			continue
		}
		out.Exprs = append(out.Exprs, factorOr(g))
	}
	if len(out.Exprs) == 1 {
		return out.Exprs[0]
	}
	return out
}

func holdsKey(b []policy.Expr, k string) bool {
	for _, e := range b {
		if e.String() == k {
			return true
		}
	}
	return false
}
