package falcocompat

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
)

// lowerer turns a parsed, macro-resolved condition into the IR.
type lowerer struct {
	l        *Loader
	item     string
	warnings []posError
}

func (lw *lowerer) lower(p *parsed, n node) (policy.Expr, *posError) {
	switch n := n.(type) {
	case *andNode:
		out := &policy.And{}
		for _, c := range n.children {
			x, err := lw.lower(p, c)
			if err != nil {
				return nil, err
			}
			out.Exprs = append(out.Exprs, x)
		}
		return out, nil
	case *orNode:
		out := &policy.Or{}
		for _, c := range n.children {
			x, err := lw.lower(p, c)
			if err != nil {
				return nil, err
			}
			out.Exprs = append(out.Exprs, x)
		}
		return out, nil
	case *notNode:
		x, err := lw.lower(p, n.x)
		if err != nil {
			return nil, err
		}
		return &policy.Not{X: x}, nil
	case *macroRef:
		return lw.lower(n.p, n.x)
	case *identNode:
		return nil, &posError{p.pos(n.pos), fmt.Sprintf("filter error: unexpected identifier '%s'", n.name)}
	case *checkNode:
		return lw.check(p, n)
	}
	return nil, &posError{p.pos(n.position()), fmt.Sprintf("unexpected node %T", n)}
}

// fieldRef resolves a field as written in a condition or template.
func fieldRef(fn *fieldNode) (policy.FieldRef, error) {
	ref, err := resolveFieldName(fn.name)
	if err != nil {
		if fn.hasArg {
			return ref, fmt.Errorf("filter_check called with nonexistent field %s[%s]", fn.name, fn.arg)
		}
		return ref, err
	}
	if fn.hasArg {
		if ref.HasArg || !ref.Field.TakesArg() {
			return ref, fmt.Errorf("filter_check called with nonexistent field %s[%s]", fn.name, fn.arg)
		}
		ref.Arg, ref.HasArg = fn.arg, true
		if n, err := strconv.Atoi(fn.arg); err == nil && n >= 0 {
			ref.Index = n
		} else if ref.Field.Arg == policy.ArgIndexOptional {
			return ref, fmt.Errorf("filter_check called with nonexistent field %s[%s]: the argument must be a non-negative number", fn.name, fn.arg)
		}
	}
	for _, t := range fn.transformers {
		tr, ok := policy.ParseTransformer(t)
		if !ok {
			return ref, fmt.Errorf("unknown transformer '%s'", t)
		}
		if fn.hasArg && false {
			return ref, fmt.Errorf("filter error: transformer '%s' does not support field arguments", t)
		}
		ref.Transformers = append(ref.Transformers, tr)
	}
	return ref, nil
}

func (lw *lowerer) check(p *parsed, n *checkNode) (policy.Expr, *posError) {
	left, err := fieldRef(n.left)
	if err != nil {
		return nil, &posError{p.pos(n.left.pos), err.Error()}
	}
	c := &policy.Compare{Left: left}
	op, ok := policy.ParseOp(n.op)
	if !ok {
		return nil, &posError{p.pos(n.pos), fmt.Sprintf("unknown operator '%s'", n.op)}
	}
	c.Op = op
	if n.modifier != "" {
		c.Modifier, _ = policy.ParseModifier(n.modifier)
		if !policy.ModifierOK(op) {
			return nil, &posError{p.pos(n.valuePos), fmt.Sprintf("operator '%s' does not take the modifier '%s'", n.op, n.modifier)}
		}
	}
	if n.right != nil {
		right, err := fieldRef(n.right)
		if err != nil {
			return nil, &posError{p.pos(n.right.pos), err.Error()}
		}
		c.Right = &right
	} else if op != policy.OpExists {
		c.Values = append([]string{}, n.values...)
	}
	if left.Field.Name == "evt.type" && !left.HasArg {
		if perr := lw.checkEventTypeCheck(p, n, c); perr != nil {
			return nil, perr
		}
	}
	if _, err := policy.PrepareCheck(c); err != nil {
		at := n.valuePos
		if at == 0 {
			at = n.pos
		}
		return nil, &posError{p.pos(at), err.Error()}
	}
	lw.lint(p, n, c)
	return c, nil
}

// checkEventTypeCheck validates evt.type comparisons the way Falco's event
// code search does.
func (lw *lowerer) checkEventTypeCheck(p *parsed, n *checkNode, c *policy.Compare) *posError {
	if c.Right != nil {
		return &posError{p.pos(n.pos), "right-hand field comparisons on `evt.type`/`syscall.type` checks are not supported by event code search"}
	}
	if len(c.Left.Transformers) > 0 {
		return &posError{p.pos(n.pos), "event code search does not support `evt.type` checks with transformers"}
	}
	switch c.Op {
	case policy.OpEq, policy.OpNe, policy.OpIn, policy.OpIntersects:
		for _, v := range c.Values {
			if !policy.IsEventType(v) {
				return &posError{p.pos(n.valuePos), fmt.Sprintf("unknown event type %s", v)}
			}
		}
	}
	return nil
}

// lint records Falco's compile warnings for a check.
func (lw *lowerer) lint(p *parsed, n *checkNode, c *policy.Compare) {
	for _, v := range c.Values {
		compact := strings.Join(strings.Fields(v), "")
		if compact == "" || c.Op == policy.OpRegex {
			continue
		}
		if _, err := resolveFieldName(compact); err == nil && strings.Contains(compact, ".") {
			lw.warnings = append(lw.warnings, posError{p.pos(n.valuePos), fmt.Sprintf("'%s' may be a valid field misused as a const string value", v)})
		}
	}
	if c.Op == policy.OpRegex && len(c.Values) == 1 && simpleRegex(c.Values[0]) {
		lw.warnings = append(lw.warnings, posError{p.pos(n.valuePos), fmt.Sprintf("regex check with '%s' may be optimized with simpler operators such as '=', 'contains', 'startswith', 'endswith'", c.Values[0])})
	}
}

// simpleRegex reports whether a regex is a literal, maybe anchored or
// with a leading or trailing .* / .+ / .?.
func simpleRegex(re string) bool {
	re = strings.TrimPrefix(re, "^")
	re = strings.TrimSuffix(re, "$")
	for _, w := range []string{".*", ".+", ".?"} {
		re = strings.TrimPrefix(re, w)
		re = strings.TrimSuffix(re, w)
	}
	return re != "" && !strings.ContainsAny(re, `\.+*?()[]{}|^$`)
}
