package falcocompat

import (
	"fmt"
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
		return nil, &posError{p.pos(n.pos), fmt.Sprintf("filter error: unexpected identifier '%s'", n.name), ""}
	case *checkNode:
		return lw.check(p, n)
	}
	return nil, &posError{p.pos(n.position()), fmt.Sprintf("unexpected node %T", n), ""}
}

func (lw *lowerer) check(p *parsed, n *checkNode) (policy.Expr, *posError) {
	left, err := n.left.Resolve()
	if err != nil {
		return nil, &posError{p.pos(n.left.Pos), err.Error(), ""}
	}
	c := &policy.Compare{Left: left}
	op, ok := policy.ParseOp(n.op)
	if !ok {
		return nil, &posError{p.pos(n.pos), fmt.Sprintf("unknown operator '%s'", n.op), ""}
	}
	c.Op = op
	if n.modifier != "" {
		c.Modifier, _ = policy.ParseModifier(n.modifier)
		if !policy.ModifierOK(op) {
			return nil, &posError{p.pos(n.valuePos), fmt.Sprintf("operator '%s' does not take the modifier '%s'", n.op, n.modifier), ""}
		}
	}
	if n.right != nil {
		right, err := n.right.Resolve()
		if err != nil {
			return nil, &posError{p.pos(n.right.Pos), err.Error(), ""}
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
		return nil, &posError{p.pos(at), err.Error(), ""}
	}
	lw.lint(p, n, c)
	return c, nil
}

// checkEventTypeCheck validates evt.type comparisons the way Falco's event
// code search does.
func (lw *lowerer) checkEventTypeCheck(p *parsed, n *checkNode, c *policy.Compare) *posError {
	if c.Right != nil {
		return &posError{p.pos(n.pos), "right-hand field comparisons on `evt.type`/`syscall.type` checks are not supported by event code search", ""}
	}
	if len(c.Left.Transformers) > 0 {
		return &posError{p.pos(n.pos), "event code search does not support `evt.type` checks with transformers", ""}
	}
	switch c.Op {
	case policy.OpEq, policy.OpNe, policy.OpIn, policy.OpIntersects:
		for _, v := range c.Values {
			if !policy.IsEventType(v) {
				return &posError{p.pos(n.valuePos), fmt.Sprintf("unknown event type %s", v), ""}
			}
		}
	}
	return nil
}

// lint records Falco's compile warnings for a check.
func (lw *lowerer) lint(p *parsed, n *checkNode, c *policy.Compare) {
	for _, v := range c.Values {
		// Only a value with a dot can name a field: the others are not
		// looked up (a failed lookup makes an error for each value).
		if c.Op == policy.OpRegex || !strings.Contains(v, ".") {
			continue
		}
		compact := strings.Join(strings.Fields(v), "")
		if _, err := policy.ResolveFieldName(compact); err == nil {
			lw.warnings = append(lw.warnings, posError{p.pos(n.valuePos), fmt.Sprintf("'%s' may be a valid field misused as a const string value", v), ""})
		}
	}
	if c.Op == policy.OpRegex && len(c.Values) == 1 && simpleRegex(c.Values[0]) {
		lw.warnings = append(lw.warnings, posError{p.pos(n.valuePos), fmt.Sprintf("regex check with '%s' may be optimized with simpler operators such as '=', 'contains', 'startswith', 'endswith'", c.Values[0]), ""})
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
