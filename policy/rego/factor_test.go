package rego

import (
	"math/rand"
	"testing"

	"github.com/peregrine-sec/peregrine/policy"
)

func atom(field, op string, v string) policy.Expr {
	ops := map[string]policy.Op{"=": policy.OpEq, "startswith": policy.OpStartsWith}
	return &policy.Compare{Left: policy.FieldRef{Field: policy.LookupField(field), Index: -1}, Op: ops[op], Values: []string{v}}
}

func TestFactor(t *testing.T) {
	a, b, c, d := atom("evt.type", "=", "openat"), atom("proc.name", "=", "sh"), atom("user.uid", "=", "0"), atom("fd.name", "startswith", "/etc/")
	and := func(xs ...policy.Expr) policy.Expr { return &policy.And{Exprs: xs} }
	or := func(xs ...policy.Expr) policy.Expr { return &policy.Or{Exprs: xs} }
	not := func(x policy.Expr) policy.Expr { return &policy.Not{X: x} }
	tests := []struct {
		name string
		in   policy.Expr
		want string
	}{
		{"shared lead", or(and(a, b), and(a, c)), `(evt.type = openat and (proc.name = sh or user.uid = 0))`},
		{"shared tail", or(and(b, a), and(c, a)), `((proc.name = sh or user.uid = 0) and evt.type = openat)`},
		{"absorbed", or(and(a, b), a), `evt.type = openat`},
		{"grouped by first", or(and(a, b), and(c, d), and(a, d)), `((evt.type = openat and (proc.name = sh or fd.name startswith /etc/)) or (user.uid = 0 and fd.name startswith /etc/))`},
		{"nothing shared", or(b, c), `(proc.name = sh or user.uid = 0)`},
		{"under not", not(or(and(a, b), and(a, c))), `not (evt.type = openat and (proc.name = sh or user.uid = 0))`},
		{"nested and flattened", and(a, and(b, c)), `(evt.type = openat and proc.name = sh and user.uid = 0)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := factor(tc.in).String(); got != tc.want {
				t.Errorf("factor\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestFactorEquivalent checks on random conditions and events that
// factoring keeps the meaning.
func TestFactorEquivalent(t *testing.T) {
	atoms := []policy.Expr{
		atom("evt.type", "=", "openat"), atom("evt.type", "=", "execve"), atom("proc.name", "=", "sh"),
		atom("user.uid", "=", "0"), atom("fd.name", "startswith", "/etc/"), atom("proc.pname", "=", "bash"),
	}
	rng := rand.New(rand.NewSource(7))
	var gen func(depth int) policy.Expr
	gen = func(depth int) policy.Expr {
		if depth == 0 || rng.Intn(4) == 0 {
			return atoms[rng.Intn(len(atoms))]
		}
		switch rng.Intn(5) {
		case 0:
			return &policy.Not{X: gen(depth - 1)}
		case 1, 2:
			x := &policy.And{}
			for range 1 + rng.Intn(3) {
				x.Exprs = append(x.Exprs, gen(depth-1))
			}
			return x
		}
		x := &policy.Or{}
		for range 1 + rng.Intn(4) {
			x.Exprs = append(x.Exprs, gen(depth-1))
		}
		return x
	}
	values := map[string][]any{
		"evt.type": {"openat", "execve"}, "proc.name": {"sh", "bash"}, "user.uid": {0, 1},
		"fd.name": {"/etc/x", "/tmp/x"}, "proc.pname": {"bash", "sh"},
	}
	fields := []string{"evt.type", "proc.name", "user.uid", "fd.name", "proc.pname"}
	for i := range 300 {
		orig := gen(4)
		fact := factor(orig)
		rs := &policy.Ruleset{Rules: []*policy.Rule{{Name: "o", Condition: orig}, {Name: "f", Condition: fact}}}
		ev, err := policy.NewEvaluator(rs)
		if err != nil {
			t.Fatal(err)
		}
		for range 40 {
			e := policy.NewEvent()
			for _, f := range fields {
				if rng.Intn(5) > 0 {
					vs := values[f]
					e.Set(f, vs[rng.Intn(len(vs))])
				}
			}
			if ev.Match(rs.Rules[0], e) != ev.Match(rs.Rules[1], e) {
				js, _ := e.MarshalJSON()
				t.Fatalf("condition %d on %s:\n%s\nfactored\n%s", i, js, orig, fact)
			}
		}
	}
}
