package policy

import (
	"net/netip"
	"regexp"
)

// This file holds non-allocating accessors for evaluators other than the
// reference one (the compiler's decision tree): they expose the Event's
// values, the lookup tables and the prepared literals of a Check without
// changing what any of them mean.

// ParseInt reads a number as the reference evaluator does (optional
// leading blanks and sign, decimal digits to the end; values above the
// int64 range but within uint64 wrap), without allocating.
func ParseInt(s string) (int64, bool) {
	i := 0
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			i++
			continue
		}
		break
	}
	s = s[i:]
	if s == "" {
		return 0, false
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	var u uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if u > (^uint64(0)-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	return int64(u), true
}

// AncestorPair returns the plain fields an ancestor field's index 0 (the
// process) and 1 (its parent) are spelled as: proc.name and proc.pname
// for proc.aname.
func AncestorPair(name string) ([2]string, bool) {
	p, ok := ancestorFields[name]
	return p, ok
}

// Literal is one right-hand literal of a prepared Check, in the form its
// type compares in: S for strings (lowered for icontains and iglob, decoded
// for bcontains and bstartswith), N for numbers and ports, B for booleans,
// Addr for addresses, Net for networks, Re for regexes.
type Literal struct {
	S    string
	N    int64
	B    bool
	Addr netip.Addr
	Net  netip.Prefix
	Re   *regexp.Regexp
}

// Literals returns the check's parsed literals, in order.
func (k *Check) Literals() []Literal {
	out := make([]Literal, len(k.rhs))
	for i, v := range k.rhs {
		out[i] = Literal{S: v.s, N: v.n, B: v.b, Addr: v.addr, Net: v.net, Re: v.re}
	}
	return out
}

// Type returns the type the check compares in: the left field's type after
// its transformers.
func (k *Check) Type() FieldType { return k.typ }

// Unsigned reports whether numbers compare as unsigned.
func (k *Check) Unsigned() bool { return k.unsigned }

// List reports whether the left side yields a list tested as a whole (fd.types).
func (k *Check) List() bool { return k.list }
