package policy

import "sort"

// evset is a set of event types, either finite (names) or the complement
// of a finite set (all but except).
type evset struct {
	cofinite bool
	names    map[string]bool
}

func allEvents() evset { return evset{cofinite: true, names: map[string]bool{}} }

func finite(names []string) evset {
	s := evset{names: map[string]bool{}}
	for _, n := range names {
		s.names[n] = true
	}
	return s
}

func (s evset) complement() evset { return evset{cofinite: !s.cofinite, names: s.names} }

func (s evset) union(t evset) evset {
	switch {
	case !s.cofinite && !t.cofinite:
		return finite(append(keys(s.names), keys(t.names)...))
	case s.cofinite && t.cofinite: // complement of the intersection
		out := evset{cofinite: true, names: map[string]bool{}}
		for n := range s.names {
			if t.names[n] {
				out.names[n] = true
			}
		}
		return out
	}
	co, fin := s, t
	if !s.cofinite {
		co, fin = t, s
	}
	out := evset{cofinite: true, names: map[string]bool{}}
	for n := range co.names {
		if !fin.names[n] {
			out.names[n] = true
		}
	}
	return out
}

func (s evset) intersect(t evset) evset {
	return s.complement().union(t.complement()).complement()
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// InferEventTypes returns the event types an expression can match, as
// Falco infers them: evt.type comparisons (=, !=, in) restrict the set,
// and/or intersect and unite, not is pushed down to the leaves, and every
// other check leaves the set unrestricted. all is true when the expression
// does not restrict the event type at all; types is then empty.
func InferEventTypes(x Expr) (types []string, all bool) {
	s := inferTypes(x, false)
	if s.cofinite && len(s.names) == 0 {
		return nil, true
	}
	if s.cofinite {
		for _, n := range EventTypes() {
			if !s.names[n] {
				types = append(types, n)
			}
		}
		return types, false
	}
	types = keys(s.names)
	sort.Strings(types)
	return types, false
}

func inferTypes(x Expr, negated bool) evset {
	switch x := x.(type) {
	case *And:
		out := allEvents()
		if negated {
			out = finite(nil)
		}
		for _, s := range x.Exprs {
			if negated {
				out = out.union(inferTypes(s, true))
			} else {
				out = out.intersect(inferTypes(s, false))
			}
		}
		return out
	case *Or:
		out := finite(nil)
		if negated {
			out = allEvents()
		}
		for _, s := range x.Exprs {
			if negated {
				out = out.intersect(inferTypes(s, true))
			} else {
				out = out.union(inferTypes(s, false))
			}
		}
		return out
	case *Not:
		return inferTypes(x.X, !negated)
	case *Compare:
		if x.Left.Field.Name != "evt.type" || x.Left.HasArg || len(x.Left.Transformers) > 0 || x.Right != nil || x.Modifier != ModNone {
			return allEvents()
		}
		switch x.Op {
		case OpEq, OpIn:
			s := finite(x.Values)
			if negated {
				return s.complement()
			}
			return s
		case OpNe:
			s := finite(x.Values)
			if negated {
				return s
			}
			return s.complement()
		case OpExists:
			if negated {
				return finite(nil)
			}
		}
	}
	return allEvents()
}
