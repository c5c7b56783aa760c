package compiler

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
)

// generatedRules writes n rules, each with its own kernel predicate.
func generatedRules(t testing.TB, n int) *policy.Ruleset {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "- rule: r%d\n  desc: d\n  condition: evt.type = openat and proc.name = p%d and fd.name startswith /dir%d/ and evt.is_open_write = true\n  output: o\n  priority: info\n", i, i, i%50)
	}
	l := falcocompat.NewLoader()
	l.AddFile("gen.yaml", []byte(b.String()))
	res := l.Compile()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return res.Ruleset
}

func TestClassBudget(t *testing.T) {
	rs := generatedRules(t, 1000)
	plan, err := Compile(rs, Options{Syscalls: capturable})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Classes) != MaskBits || len(plan.Warnings) == 0 {
		t.Fatalf("%d classes, warnings %v: want %d merged classes and a warning", len(plan.Classes), plan.Warnings, MaskBits)
	}
	// Merged classes stay sound: every rule's own event passes.
	ref, _ := policy.NewEvaluator(rs)
	for i := 0; i < 1000; i += 7 {
		raw, _ := json.Marshal(map[string]any{"evt.type": "openat", "proc.name": fmt.Sprintf("p%d", i),
			"fd.name": fmt.Sprintf("/dir%d/x", i%50), "evt.arg.flags": "O_WRONLY", "evt.rawres": 3, "fd.typechar": "f"})
		e, err := policy.DecodeEvent(raw, 1)
		if err != nil {
			t.Fatal(err)
		}
		m, err := checkSound(plan, rs, ref, e)
		if err != nil {
			t.Fatal(err)
		}
		if m != 1 {
			t.Fatalf("event %d matched %d rules, want 1", i, m)
		}
	}
	// And a smaller budget merges further, still soundly.
	small, err := Compile(rs, Options{Syscalls: capturable, MaxClasses: 8})
	if err != nil || len(small.Classes) != 8 {
		t.Fatalf("budget 8: %v, %d classes", err, len(small.Classes))
	}
}

// BenchmarkEmulate measures the emulated kernel filter as the rule count
// grows: its cost is a fixed number of lookups per event, not per rule.
func BenchmarkEmulate(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			plan, err := Compile(generatedRules(b, n), Options{Syscalls: capturable})
			if err != nil {
				b.Fatal(err)
			}
			v := View{Syscall: "openat", Comm: "p3", CommKnown: true, Parent: "bash", ParentKnown: true,
				Path: "/dir3/file", PathKnown: true, Features: FeatWrite}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				plan.Encoding.Emulate(v)
			}
		})
	}
}

func TestIntSet(t *testing.T) {
	s := intervals(Interval{5, 10}, Interval{11, 20}, Interval{30, 30})
	if s.String() != "{5-20,30}" {
		t.Errorf("merge: %s", s)
	}
	c := s.complement()
	if c.String() != "{0-4,21-29,31-4294967295}" || !c.complement().contains(30) || c.contains(7) {
		t.Errorf("complement: %s", c)
	}
	if got := s.intersect(intervals(Interval{8, 31})).String(); got != "{8-20,30}" {
		t.Errorf("intersect: %s", got)
	}
	if !s.union(c).All {
		t.Error("a set and its complement do not make everything")
	}
	for _, tc := range []struct {
		op   string
		v    uint64
		in   []uint64
		out  []uint64
		none bool
	}{
		{op: "=", v: 0, in: []uint64{0}, out: []uint64{1}},
		{op: "!=", v: 0, in: []uint64{1, UIDMax}, out: []uint64{0}},
		{op: "<", v: 1000, in: []uint64{0, 999}, out: []uint64{1000}},
		{op: "<=", v: 1000, in: []uint64{1000}, out: []uint64{1001}},
		{op: ">", v: 1000, in: []uint64{1001}, out: []uint64{1000}},
		{op: ">=", v: 1000, in: []uint64{1000, UIDMax}, out: []uint64{999}},
		{op: "<", v: 0, none: true},
		{op: ">", v: UIDMax, none: true},
	} {
		s, ok := uidAtom(tc.op, []uint64{tc.v})
		if !ok {
			t.Fatalf("%s %d not projected", tc.op, tc.v)
		}
		if tc.none && (s.All || len(s.Ivs) > 0) {
			t.Errorf("%s %d = %s, want empty", tc.op, tc.v, s)
		}
		for _, x := range tc.in {
			if !s.contains(x) {
				t.Errorf("%s %d: %d not in %s", tc.op, tc.v, x, s)
			}
		}
		for _, x := range tc.out {
			if s.contains(x) {
				t.Errorf("%s %d: %d in %s", tc.op, tc.v, x, s)
			}
		}
	}
}

func TestEncodeUIDs(t *testing.T) {
	p1, p2 := Truth(), Truth()
	p1.UID = intervals(Interval{0, 0})
	p2.UID = intervals(Interval{1000, UIDMax})
	e := encodeRanges([]*Class{{Pred: p1}, {Pred: p2}, {Pred: Truth()}}, DimUID)
	for uid, want := range map[uint64][]int{0: {0, 2}, 1: {2}, 999: {2}, 1000: {1, 2}, UIDMax: {1, 2}} {
		m := lookupRange(e, uid)
		var got []int
		for c := 0; c < 3; c++ {
			if m.Has(c) {
				got = append(got, c)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("uid %d: classes %v, want %v", uid, got, want)
		}
	}
}

func TestRegexLiteralPrefix(t *testing.T) {
	for re, want := range map[string]string{
		"/etc/shadow":          "/etc/shadow",
		"^/tmp/secret-[0-9]+$": "/tmp/secret-",
		`/etc/.*\.conf`:        "/etc/",
		`/var/log\.d/x`:        "/var/log.d/x",
		"/etc/a*":              "/etc/",
		"/etc/a+":              "/etc/a",
		"/etc/a?b":             "/etc/",
		"/etc/x{2}":            "/etc/",
		"/a|/b":                "",
		"(/a|/b)/c":            "",
		"[/]etc":               "",
		`\d+`:                  "",
		".*shadow":             "",
	} {
		if got := regexLiteralPrefix(re); got != want {
			t.Errorf("regexLiteralPrefix(%q) = %q, want %q", re, got, want)
		}
	}
}
