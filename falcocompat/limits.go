package falcocompat

import "fmt"

// Limits bound what the rules files may expand to. A macro may name
// another twice, and that one two more: a condition of a few dozen bytes
// can stand for one of billions, which lowering would build and every
// later stage walk. YAML aliases and lists naming lists multiply text the
// same way. The loader measures each expansion before doing it and
// refuses the item that goes over a limit (LOAD_ERR_LIMIT), so loading
// takes time and memory in proportion to the files and these limits.
type Limits struct {
	// ConditionBytes is the longest a condition may be with its lists,
	// exceptions and macros written out in place, and the longest a list
	// may be with the lists it includes written out (its items joined by
	// ", ", as they are written into a condition).
	ConditionBytes int
	// Depth is how deeply and, or and not may nest in a condition with its
	// macros written out.
	Depth int
	// ExpandedBytes bounds, over all the files a loader reads, the bytes
	// that expansion adds to them: each use of a YAML alias (the size of
	// what it names), each list written into another list or into a
	// condition, and each rule's macros written out.
	ExpandedBytes int
}

// DefaultLimits are the limits NewLoader sets (the README's "Limits on
// Falco rule files"). The upstream rules stay far below them: the longest
// expanded condition of falco_rules.yaml and falco-incubating_rules.yaml
// is about 5 KB, the deepest 6 levels, and both files expand by about
// 42 KB in all.
var DefaultLimits = Limits{ConditionBytes: 1 << 20, Depth: 1000, ExpandedBytes: 4 << 20}

// errLimit is the code of an item refused for going over a limit.
const errLimit = "LOAD_ERR_LIMIT"

// SetLimits replaces the loader's limits (DefaultLimits) for the files
// it reads from now on and for Compile.
func (l *Loader) SetLimits(lim Limits) { l.limits = lim }

// expand charges n bytes of expansion to the budget of all files, and
// reports whether the budget holds them.
func (l *Loader) expand(n int) bool {
	l.expanded = addSat(l.expanded, n)
	return !l.spent()
}

// spent reports whether expansion went over the budget of all files:
// loading then stops, since every later item would be refused the same
// way.
func (l *Loader) spent() bool { return l.expanded > l.limits.ExpandedBytes }

// budgetError is the error of the item at p whose expansion spent the
// budget of all files.
func (l *Loader) budgetError(p Pos) *posError {
	return &posError{p, fmt.Sprintf("YAML aliases, lists and macros written out add more to the rules files than the expansion limit of %d bytes", l.limits.ExpandedBytes), errLimit}
}

// addSat adds sizes, saturating far below overflow: an expansion can be
// exponentially large, and only its comparison with a limit matters.
func addSat(a, b int) int {
	const max = 1 << 50
	if a+b > max || a > max || b > max {
		return max
	}
	return a + b
}

// expansion returns the length of a resolved condition with its macros
// written out, given the length of its own text (lists substituted), and
// how deeply and, or and not nest in it. A macro reference counts the
// size and depth measured for the macro once, when it was compiled, so
// this is linear in the condition's own tree however the macros nest.
func expansion(n node, own int) (size, depth int) {
	size = own
	var walk func(n node) int
	walk = func(n node) int {
		switch n := n.(type) {
		case *andNode:
			return 1 + walkAll(walk, n.children)
		case *orNode:
			return 1 + walkAll(walk, n.children)
		case *notNode:
			return 1 + walk(n.x)
		case *macroRef:
			size = addSat(size, n.def.size-len(n.name))
			return n.def.depth
		}
		return 0
	}
	depth = walk(n)
	return size, depth
}

func walkAll(walk func(node) int, children []node) int {
	d := 0
	for _, c := range children {
		d = max(d, walk(c))
	}
	return d
}
