package compiler

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
)

// TestSharedProjections checks that the projections splitKernel shares
// between syscalls (projectionKey) are those each syscall gets alone.
func TestSharedProjections(t *testing.T) {
	rs := upstreamRules(t)
	plan, err := Compile(rs, Options{Syscalls: capturable})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, r := range plan.Rules {
		cond := Normalize(r.Condition)
		for _, sp := range plan.Preds[i] {
			x := SpecializeEventType(cond, sp.Syscall)
			if got, want := sp.Pred.key(), Project(x, sp.Syscall).key(); got != want {
				t.Errorf("%s, %s: shared predicate %s, alone %s", r.Name, sp.Syscall, got, want)
			}
			if sp.Exact != Exact(x, sp.Syscall) {
				t.Errorf("%s, %s: shared exactness %v", r.Name, sp.Syscall, sp.Exact)
			}
			n++
		}
	}
	if n < 100 {
		t.Fatalf("only %d rule and syscall pairs", n)
	}
}

// TestSetAlgebra checks the unions and intersections of many predicates
// at once against membership, value by value.
func TestSetAlgebra(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	universe := []string{"a", "b", "c", "d", "e", "unlisted"}
	randStrs := func() StrSet {
		if rng.Intn(5) == 0 {
			return allStrings()
		}
		var items []string
		for _, v := range universe[:5] {
			if rng.Intn(2) == 0 {
				items = append(items, v)
			}
		}
		return strSet(rng.Intn(2) == 0, items...)
	}
	hasStr := func(s StrSet, v string) bool { return s.All || s.Items[v] != s.Neg }
	randInts := func() IntSet {
		if rng.Intn(5) == 0 {
			return allInts()
		}
		var ivs []Interval
		for k := rng.Intn(3); k > 0; k-- {
			lo := uint64(rng.Intn(20))
			ivs = append(ivs, Interval{lo, lo + uint64(rng.Intn(5))})
		}
		s := intervals(ivs...)
		if rng.Intn(2) == 0 {
			s = s.complement()
		}
		return s
	}
	for round := 0; round < 2000; round++ {
		ps := make([]*Pred, 1+rng.Intn(4))
		for i := range ps {
			ps[i] = Truth()
			ps[i].Comm, ps[i].UID = randStrs(), randInts()
		}
		and, or := andAll(ps), orAll(ps)
		for _, v := range universe {
			all, any := true, false
			for _, p := range ps {
				all = all && hasStr(p.Comm, v)
				any = any || hasStr(p.Comm, v)
			}
			if hasStr(and.Comm, v) != all || hasStr(or.Comm, v) != any {
				t.Fatalf("%q in %v: and %v, or %v", v, ps, and.Comm, or.Comm)
			}
		}
		for v := uint64(0); v < 30; v++ {
			all, any := true, false
			for _, p := range ps {
				all = all && p.UID.contains(v)
				any = any || p.UID.contains(v)
			}
			if and.UID.contains(v) != all || or.UID.contains(v) != any {
				t.Fatalf("%d: and %v, or %v", v, and.UID, or.UID)
			}
		}
	}
}

// BenchmarkCompileLongCondition compiles rules of one condition of about
// 1 MB (the loader's limit on a condition) and no evt.type, so compiled
// for every syscall: disjunctions of 50,000 comparisons on the comm, the
// path and the uid, and a conjunction of 20,000 disjunctions. Uniting
// the predicates of a disjunction one by one was quadratic: the first
// took over 10 minutes.
func BenchmarkCompileLongCondition(b *testing.B) {
	conds := map[string]func(i int) string{
		"or_comm":     func(i int) string { return fmt.Sprintf("proc.name = p%d", i) },
		"or_path":     func(i int) string { return fmt.Sprintf("fd.name startswith /d%d/", i) },
		"or_uid":      func(i int) string { return fmt.Sprintf("user.uid = %d", i) },
		"and_of_ors":  func(i int) string { return fmt.Sprintf("(proc.name = p%d or fd.name = /f%d)", i, i) },
		"and_not_uid": func(i int) string { return fmt.Sprintf("not user.uid = %d", i) },
	}
	for name, term := range conds {
		sep := " or "
		if strings.HasPrefix(name, "and") {
			sep = " and "
		}
		var sb strings.Builder
		for i := 0; sb.Len() < 1<<20-100; i++ {
			if i > 0 {
				sb.WriteString(sep)
			}
			sb.WriteString(term(i))
		}
		l := falcocompat.NewLoader()
		l.AddFile("long.yaml", []byte("- rule: r\n  desc: d\n  condition: "+sb.String()+"\n  output: o\n  priority: INFO\n"))
		res := l.Compile()
		if err := res.Err(); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := Compile(res.Ruleset, Options{Syscalls: capturable}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDeepTreeKeys builds the decision tree of a condition nesting 1,000
// nots around 10,000 comparisons: keys holding their operands' text would
// add up to 10,000 times 1,000 comparisons.
func TestDeepTreeKeys(t *testing.T) {
	var x policy.Expr = &policy.Or{}
	or := x.(*policy.Or)
	field := policy.LookupField("proc.name")
	for i := 0; i < 10000; i++ {
		or.Exprs = append(or.Exprs, &policy.Compare{Left: policy.FieldRef{Field: field, Index: -1}, Op: policy.OpEq, Values: []string{fmt.Sprint("p", i)}})
	}
	for i := 0; i < 1000; i++ {
		x = &policy.Not{X: x}
	}
	b := &treeBuilder{t: &Tree{}, ids: map[policy.Expr]int{}, canon: map[string]int{}, refs: map[int]int{}, nodes: map[int]treePred{}}
	b.count(x)
	total := 0
	for k := range b.canon {
		total += len(k)
	}
	if total > 1<<20 {
		t.Fatalf("keys of %d bytes", total)
	}
}

// TestSyscallFields checks syscallFields: a comparison on any other field
// projects to the same predicate, and is exact or not alike, for every
// syscall, so that splitKernel may share its projection.
func TestSyscallFields(t *testing.T) {
	aname := policy.LookupField("proc.aname")
	refs := []policy.FieldRef{{Field: aname, Arg: "1", HasArg: true, Index: 1}, {Field: aname, Arg: "2", HasArg: true, Index: 2}}
	var names []string
	for _, f := range policy.Fields() {
		if !f.TakesArg() {
			names = append(names, f.Name)
		}
	}
	for _, a := range []string{"flags", "mode", "fd", "res", "name", "path", "dirfd", "target", "linkpath", "oldpath",
		"newpath", "filename", "dev", "data", "request", "uid", "addr", "tuple", "size"} {
		names = append(names, "evt.arg."+a)
	}
	ops := []policy.Op{policy.OpEq, policy.OpNe, policy.OpIn, policy.OpStartsWith, policy.OpEndsWith, policy.OpContains,
		policy.OpLt, policy.OpGe, policy.OpGlob, policy.OpPmatch, policy.OpExists}
	values := []string{"/etc/x", "0", "-1", "O_RDONLY", "../", "f", "SUCCESS", "E", "true"}
	// One syscall of each projectionKey over every field of
	// syscallFields: the others project alike.
	var all []string
	for f := range syscallFields {
		all = append(all, f)
	}
	sort.Strings(all)
	var syscalls []string
	seen := map[string]bool{}
	for _, s := range capturable {
		if k := projectionKey(s, all); !seen[k] {
			seen[k] = true
			syscalls = append(syscalls, s)
		}
	}
	for _, name := range names {
		ref, err := policy.ResolveFieldName(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		refs = append(refs, ref)
	}
	checked := 0
	for _, ref := range refs {
		if syscallFields[fieldName(&ref)] {
			continue
		}
		for _, op := range ops {
			for _, v := range values {
				c := &policy.Compare{Left: ref, Op: op, Values: []string{v}}
				if op == policy.OpExists {
					c.Values = nil
				}
				for _, x := range []policy.Expr{c, &policy.Not{X: c}} {
					want, wantExact := "", false
					for i, s := range syscalls {
						got, exact := Project(x, s).key(), Exact(x, s)
						if i == 0 {
							want, wantExact = got, exact
						} else if got != want || exact != wantExact {
							t.Fatalf("%s for %s: %s (exact %v), for %s: %s (exact %v)", x, s, got, exact, syscalls[0], want, wantExact)
						}
					}
					checked++
				}
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d comparisons checked", checked)
	}
}
