package rego

import (
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/peregrine-sec/peregrine/policy"
)

// anyAncestor stands for the index of an ancestor walk in the expression
// handed to the translation (see ancestorWalks); fieldRef reads
// input.proc.aname[anyAncestor] as Falco's proc.aname without an index.
// Policies' own variables never reach the translation under this name:
// OPA's compiler renames them __localN__.
const anyAncestor = ast.Var("__peregrine_any_ancestor__")

// ancestorWalks finds, in a conjunction, Falco's "any ancestor" test
// (proc.aname in (...): the parent, the grandparent and so on up to the
// first ancestor the event lacks) written in Rego as
//
//	some i, name in input.proc.aname
//	i > 0
//	name in names
//	every j in numbers.range(1, i) { input.proc.aname[j] != null }
//
// which partial evaluation leaves as
//
//	gt(I, 0); P(input.proc.aname[I]);
//	every _, J in numbers.range(1, I) { X = input.proc.aname[J]; neq(X, null) }
//
// The range includes i, so the element P sees is never null. It returns
// the translation of each such P by its index in b, and the indexes of the
// bound and gap check it consumed. Walks over other ancestor fields
// (proc.aexepath...) are recognised alike; the gap check must be on the
// walked field.
func (t *translator) ancestorWalks(b ast.Body) (map[int]policy.Expr, map[int]bool) {
	var walks map[int]policy.Expr
	var consumed map[int]bool
	for k, e := range b {
		if e.Negated || len(e.With) > 0 || consumed[k] {
			continue
		}
		index, field, ok := walkIndex(e)
		if !ok {
			continue
		}
		bound, gap, others := -1, -1, 0
		for j, o := range b {
			if j == k || !varsOf(o).Contains(index) {
				continue
			}
			switch {
			case bound < 0 && isLowerBound(o, index):
				bound = j
			case gap < 0 && isGapCheck(o, index, field):
				gap = j
			default:
				others++
			}
		}
		if bound < 0 || gap < 0 || others > 0 || consumed[bound] || consumed[gap] {
			continue
		}
		x, ok := t.positive(substituteIndex(e, index))
		if !ok {
			continue
		}
		if walks == nil {
			walks, consumed = map[int]policy.Expr{}, map[int]bool{}
		}
		walks[k] = x
		consumed[bound], consumed[gap] = true, true
	}
	return walks, consumed
}

// varsOf returns the variables of x, call operators and reference heads
// (input, data) aside.
func varsOf(x any) ast.VarSet {
	vis := ast.NewVarVisitor().WithParams(ast.VarVisitorParams{SkipRefHead: true, SkipRefCallHead: true})
	vis.Walk(x)
	return vis.Vars()
}

// walkIndex returns I and the field when e's only variable is I, read
// once as the index of an ancestor array (input.proc.aname[I]).
func walkIndex(e *ast.Expr) (ast.Var, ast.Ref, bool) {
	vars := varsOf(e)
	if len(vars) != 1 {
		return "", nil, false
	}
	var index ast.Var
	var field ast.Ref
	n := 0
	ast.WalkRefs(e, func(r ast.Ref) bool {
		if v, ok := ancestorIndex(r); ok {
			index, field = v, r[:len(r)-1]
			n++
		}
		return false
	})
	if n != 1 || !vars.Contains(index) {
		return "", nil, false
	}
	// The variable appears nowhere but in that reference.
	uses := 0
	ast.WalkVars(e, func(v ast.Var) bool {
		if v == index {
			uses++
		}
		return false
	})
	return index, field, uses == 1
}

// ancestorIndex returns V for a reference input.F[V] to an ancestor
// field F.
func ancestorIndex(r ast.Ref) (ast.Var, bool) {
	if len(r) < 3 || !r[0].Equal(ast.InputRootDocument) {
		return "", false
	}
	v, ok := r[len(r)-1].Value.(ast.Var)
	if !ok {
		return "", false
	}
	name := ""
	for i, p := range r[1 : len(r)-1] {
		s, ok := p.Value.(ast.String)
		if !ok {
			return "", false
		}
		if i > 0 {
			name += "."
		}
		name += string(s)
	}
	return v, ancestorSet[name]
}

// isLowerBound reports whether e is i > 0 or i >= 1, either way round.
func isLowerBound(e *ast.Expr, i ast.Var) bool {
	if e.Negated || len(e.With) > 0 || !e.IsCall() || len(e.Operands()) != 2 {
		return false
	}
	a, b := e.Operands()[0], e.Operands()[1]
	isVar := func(t *ast.Term) bool { return t.Value.Compare(i) == 0 }
	isNum := func(t *ast.Term, n int) bool {
		x, ok := t.Value.(ast.Number)
		m, exact := x.Int()
		return ok && exact && m == n
	}
	switch e.Operator().String() {
	case "gt":
		return isVar(a) && isNum(b, 0)
	case "gte":
		return isVar(a) && isNum(b, 1)
	case "lt":
		return isNum(a, 0) && isVar(b)
	case "lte":
		return isNum(a, 1) && isVar(b)
	}
	return false
}

// isGapCheck reports whether e is
// every _, J in numbers.range(1, i) { X = F[J]; neq(X, null) }
// (or { neq(F[J], null) }), for the ancestor field F.
func isGapCheck(e *ast.Expr, i ast.Var, field ast.Ref) bool {
	ev, ok := e.Terms.(*ast.Every)
	if e.Negated || len(e.With) > 0 || !ok {
		return false
	}
	j, ok := ev.Value.Value.(ast.Var)
	call, isCall := ev.Domain.Value.(ast.Call)
	if !ok || !isCall || len(call) != 3 || call[0].String() != "numbers.range" ||
		call[1].Value.Compare(ast.Number("1")) != 0 || call[2].Value.Compare(i) != 0 {
		return false
	}
	elem := field.Append(ast.VarTerm(string(j)))
	isElem := func(t *ast.Term) bool { return t.Value.Compare(elem) == 0 }
	notNull := func(e *ast.Expr, isX func(*ast.Term) bool) bool {
		if e.Negated || !e.IsCall() || e.Operator().String() != "neq" || len(e.Operands()) != 2 {
			return false
		}
		a, b := e.Operands()[0], e.Operands()[1]
		return (isX(a) && b.Value.Compare(ast.Null{}) == 0) || (isX(b) && a.Value.Compare(ast.Null{}) == 0)
	}
	switch len(ev.Body) {
	case 1:
		return notNull(ev.Body[0], isElem)
	case 2:
		eq := ev.Body[0]
		if eq.Negated || !eq.IsEquality() {
			return false
		}
		a, b := eq.Operand(0), eq.Operand(1)
		if isElem(a) {
			a, b = b, a
		}
		x, ok := a.Value.(ast.Var)
		if !ok || x == j || !isElem(b) {
			return false
		}
		return notNull(ev.Body[1], func(t *ast.Term) bool { return t.Value.Compare(x) == 0 })
	}
	return false
}

// substituteIndex returns a copy of e reading input.F[anyAncestor] where
// e reads input.F[i].
func substituteIndex(e *ast.Expr, i ast.Var) *ast.Expr {
	out := e.Copy()
	ast.WalkTerms(out, func(t *ast.Term) bool {
		if r, ok := t.Value.(ast.Ref); ok {
			if v, ok := ancestorIndex(r); ok && v == i {
				r[len(r)-1] = ast.VarTerm(string(anyAncestor))
			}
		}
		return false
	})
	return out
}
