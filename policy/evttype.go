package policy

import "sort"

// evset is a set of event types, either finite (names) or the complement
// of a finite set (all but except). The operations change the set in
// place: a set made for one node is folded into its parent's, so a long
// condition costs a map per comparison on evt.type, not a copy per node.
type evset struct {
	cofinite bool
	names    map[string]bool // nil when empty
}

func allEvents() evset { return evset{cofinite: true} }

func finite(names []string) evset {
	s := evset{names: make(map[string]bool, len(names))}
	for _, n := range names {
		s.names[n] = true
	}
	return s
}

func (s evset) complement() evset { return evset{cofinite: !s.cofinite, names: s.names} }

// union makes s the union of s and t, taking t's names over: t must not be
// used after.
func (s *evset) union(t evset) {
	switch {
	case !s.cofinite && !t.cofinite:
		if len(s.names) < len(t.names) {
			s.names, t.names = t.names, s.names
		}
		for n := range t.names {
			s.names[n] = true
		}
	case s.cofinite && t.cofinite: // complement of the intersection
		for n := range s.names {
			if !t.names[n] {
				delete(s.names, n)
			}
		}
	case s.cofinite: // all but s's names, less t's
		for n := range t.names {
			delete(s.names, n)
		}
	default: // all but t's names, less s's
		for n := range s.names {
			delete(t.names, n)
		}
		*s = t
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// intersect makes s the intersection of s and t, taking t over.
func (s *evset) intersect(t evset) {
	*s = s.complement()
	s.union(t.complement())
	*s = s.complement()
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
				out.union(inferTypes(s, true))
			} else {
				out.intersect(inferTypes(s, false))
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
				out.intersect(inferTypes(s, true))
			} else {
				out.union(inferTypes(s, false))
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
