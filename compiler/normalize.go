package compiler

import (
	"github.com/peregrine-sec/peregrine/policy"
)

// Normalize returns x in negation normal form with constants folded and
// nested and/or flattened: Not appears only directly above a Compare.
func Normalize(x policy.Expr) policy.Expr { return policy.Fold(nnf(x, false)) }

// nnf pushes negations down to the comparisons (De Morgan).
func nnf(x policy.Expr, neg bool) policy.Expr {
	switch x := x.(type) {
	case *policy.And:
		out := make([]policy.Expr, len(x.Exprs))
		for i, s := range x.Exprs {
			out[i] = nnf(s, neg)
		}
		if neg {
			return &policy.Or{Exprs: out}
		}
		return &policy.And{Exprs: out}
	case *policy.Or:
		out := make([]policy.Expr, len(x.Exprs))
		for i, s := range x.Exprs {
			out[i] = nnf(s, neg)
		}
		if neg {
			return &policy.And{Exprs: out}
		}
		return &policy.Or{Exprs: out}
	case *policy.Not:
		return nnf(x.X, !neg)
	case *policy.Const:
		return &policy.Const{Value: x.Value != neg}
	}
	if neg {
		return &policy.Not{X: x}
	}
	return x
}

// SpecializeEventType folds the comparisons on evt.type for an event of
// type typ, which every event the kernel delivers for that syscall has:
// evt.type = typ is true, evt.type in (...) is decided, and so on. x must
// be normalised; the result is normalised.
func SpecializeEventType(x policy.Expr, typ string) policy.Expr {
	y := specialize(x, typ)
	if y == x {
		return x // nothing decided: still normalised
	}
	return policy.Fold(y)
}

// specialize returns x itself when it decides nothing in it, so that a
// condition without comparisons on evt.type is not copied per syscall.
func specialize(x policy.Expr, typ string) policy.Expr {
	switch x := x.(type) {
	case *policy.And:
		if out, changed := specializeAll(x.Exprs, typ); changed {
			return &policy.And{Exprs: out}
		}
		return x
	case *policy.Or:
		if out, changed := specializeAll(x.Exprs, typ); changed {
			return &policy.Or{Exprs: out}
		}
		return x
	case *policy.Not:
		if v, ok := eventTypeValue(x.X, typ); ok {
			return &policy.Const{Value: !v}
		}
		return x
	case *policy.Compare:
		if v, ok := eventTypeValue(x, typ); ok {
			return &policy.Const{Value: v}
		}
	}
	return x
}

func specializeAll(xs []policy.Expr, typ string) ([]policy.Expr, bool) {
	var out []policy.Expr // made at the first operand that changes
	for i, s := range xs {
		y := specialize(s, typ)
		if y != s && out == nil {
			out = append(make([]policy.Expr, 0, len(xs)), xs[:i]...)
		}
		if out != nil {
			out = append(out, y)
		}
	}
	return out, out != nil
}

// eventTypeValue decides a comparison on evt.type for events of type typ.
func eventTypeValue(x policy.Expr, typ string) (bool, bool) {
	c, ok := x.(*policy.Compare)
	if !ok || c.Left.Field.Name != "evt.type" || c.Left.HasArg || len(c.Left.Transformers) > 0 ||
		c.Right != nil || c.Modifier != policy.ModNone {
		return false, false
	}
	in := false
	for _, v := range c.Values {
		in = in || v == typ
	}
	switch c.Op {
	case policy.OpEq, policy.OpIn, policy.OpIntersects:
		return in, true
	case policy.OpNe:
		return !in, true
	case policy.OpExists:
		return true, true
	}
	return false, false
}
