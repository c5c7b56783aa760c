package falcocompat_test

import (
	"bytes"
	"fmt"
	goruntime "runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime"
)

// ruleText is a rule item with the given condition.
func ruleText(name, cond string) string {
	return fmt.Sprintf("- rule: %s\n  desc: d\n  condition: %s\n  output: o\n  priority: INFO\n", name, cond)
}

// doubling returns macros m_0 (leaf) to m_n, each m_i being op with X
// standing for m_{i-1}: "X and X" doubles the expansion at every level.
func doubling(n int, op, leaf string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- macro: m_0\n  condition: %s\n", leaf)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "- macro: m_%d\n  condition: %s\n", i, strings.ReplaceAll(op, "X", fmt.Sprintf("m_%d", i-1)))
	}
	return b.String()
}

// hostileFiles are rule files that expand beyond the default limits, in
// the ways rule files can: macros naming macros (in and, or, not), lists
// including lists, exceptions, many rules writing out one macro, YAML
// aliases, deep nesting.
var hostileFiles = map[string]string{
	"macros and": doubling(40, "X and X", "evt.type=open") + ruleText("r", "m_40"),
	"macros or":  doubling(40, "X or X", "evt.type=open") + ruleText("r", "m_40"),
	"macros not": doubling(40, "not X and not X", "proc.name=x") + ruleText("r", "m_40"),
	"macros and lists": "- list: l\n  items: [" + strings.Repeat("item, ", 200) + "x]\n" +
		doubling(30, "X or X or proc.name in (l)", "proc.name in (l)") + ruleText("r", "evt.type=open and m_30"),
	"lists in lists": "- list: l_0\n  items: [" + strings.Repeat("item, ", 2000) + "x]\n" +
		"- list: l_1\n  items: [" + strings.Repeat("l_0, ", 2000) + "l_0]\n" + ruleText("r", "evt.type=open and proc.name in (l_1)"),
	"list in a condition": "- list: l\n  items: [" + strings.Repeat("item, ", 2000) + "x]\n" +
		ruleText("r", "evt.type=open and proc.name in ("+strings.Repeat("l, ", 200)+"l)"),
	"exceptions": "- list: l\n  items: [" + strings.Repeat("item, ", 1000) + "x]\n" +
		ruleText("r", "evt.type=open") + "  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      comps: [in, in]\n      values:\n" +
		strings.Repeat("        - [l, l]\n", 200),
	"rules sharing a macro": doubling(14, "X and X", "evt.type=open") + func() string {
		var b strings.Builder
		for i := 0; i < 40; i++ {
			b.WriteString(ruleText(fmt.Sprintf("r%d", i), "m_14"))
		}
		return b.String()
	}(),
	"yaml aliases": "- x: &a0 [" + strings.Repeat("aaaaaaaa, ", 10) + "a]\n" + func() string {
		var b strings.Builder
		for i := 1; i <= 30; i++ {
			fmt.Fprintf(&b, "- x: &a%d [*a%d, *a%d]\n", i, i-1, i-1)
		}
		return b.String()
	}(),
	"macro chain": "- macro: m_0\n  condition: evt.type=open\n" + func() string {
		var b strings.Builder
		for i := 1; i <= 1200; i++ {
			fmt.Fprintf(&b, "- macro: m_%d\n  condition: not m_%d\n", i, i-1)
		}
		return b.String()
	}() + ruleText("r", "m_1200"),
	"nots": ruleText("r", strings.Repeat("not ", 2000)+"evt.type=open"),
}

// TestLimits checks the first error each hostile file gets, exactly, and
// the limits' edges: a condition, list or expansion at a limit loads, one
// byte more is refused.
func TestLimits(t *testing.T) {
	cases := []struct {
		name string
		src  string
		lim  *falcocompat.Limits // nil: the defaults
		want string              // the first error, with its code
	}{
		{"macros and", hostileFiles["macros and"], nil,
			"hostile.yaml:33:8: macro 'm_16': the condition is 1179643 bytes long with its lists and macros written out: over the condition size limit of 1048576 bytes (LOAD_ERR_LIMIT)"},
		{"macros or", hostileFiles["macros or"], nil,
			"hostile.yaml:33:8: macro 'm_16': the condition is 1114108 bytes long with its lists and macros written out: over the condition size limit of 1048576 bytes (LOAD_ERR_LIMIT)"},
		{"macros not", hostileFiles["macros not"], nil,
			"hostile.yaml:33:8: macro 'm_16': the condition is 1572851 bytes long with its lists and macros written out: over the condition size limit of 1048576 bytes (LOAD_ERR_LIMIT)"},
		{"macros and lists", hostileFiles["macros and lists"], nil,
			"hostile.yaml:21:8: macro 'm_9': the condition is 1250102 bytes long with its lists and macros written out: over the condition size limit of 1048576 bytes (LOAD_ERR_LIMIT)"},
		{"lists in lists", hostileFiles["lists in lists"], nil,
			"hostile.yaml:3:7: list 'l_1': the list is 24018003 bytes long with the lists it includes written out: over the condition size limit of 1048576 bytes (LOAD_ERR_LIMIT)"},
		{"list in a condition", hostileFiles["list in a condition"], nil,
			"hostile.yaml:3:7: rule 'r': the condition is longer than the condition size limit of 1048576 bytes with its lists written out (LOAD_ERR_LIMIT)"},
		{"exceptions", hostileFiles["exceptions"], nil,
			"hostile.yaml:3:7: rule 'r': the condition is longer than the condition size limit of 1048576 bytes with its lists written out (LOAD_ERR_LIMIT)"},
		{"rules sharing a macro", hostileFiles["rules sharing a macro"], nil,
			"hostile.yaml:101:7: rule 'r14': YAML aliases, lists and macros written out add more to the rules files than the expansion limit of 4194304 bytes (LOAD_ERR_LIMIT)"},
		{"yaml aliases", hostileFiles["yaml aliases"], nil,
			"hostile.yaml:16:12: YAML aliases, lists and macros written out add more to the rules files than the expansion limit of 4194304 bytes (LOAD_ERR_LIMIT)"},
		{"macro chain", hostileFiles["macro chain"], nil,
			"hostile.yaml:2003:8: macro 'm_1001': the condition nests and/or/not 1001 deep with its macros written out: over the condition depth limit of 1000 (LOAD_ERR_LIMIT)"},
		{"nots", hostileFiles["nots"], nil,
			"hostile.yaml:3:4014: rule 'r': exceeded max depth limit of 1000 (LOAD_ERR_COMPILE_CONDITION)"},
		// The edges, with small limits. "evt.type=open" is 13 bytes; m_1
		// is "m_0 and m_0" with m_0 written out twice: 31 bytes.
		{"condition at the limit", doubling(1, "X and X", "evt.type=open") + ruleText("r", "m_1"),
			&falcocompat.Limits{ConditionBytes: 31, Depth: 10, ExpandedBytes: 100}, ""},
		{"condition over the limit", doubling(1, "X and X", "evt.type=open") + ruleText("r", "m_1"),
			&falcocompat.Limits{ConditionBytes: 30, Depth: 10, ExpandedBytes: 100},
			"hostile.yaml:3:8: macro 'm_1': the condition is 31 bytes long with its lists and macros written out: over the condition size limit of 30 bytes (LOAD_ERR_LIMIT)"},
		// The rule writes m_1 out: 31 bytes for its own 3.
		{"expansion at the limit", doubling(1, "X and X", "evt.type=open") + ruleText("r", "m_1"),
			&falcocompat.Limits{ConditionBytes: 100, Depth: 10, ExpandedBytes: 28}, ""},
		{"expansion over the limit", doubling(1, "X and X", "evt.type=open") + ruleText("r", "m_1"),
			&falcocompat.Limits{ConditionBytes: 100, Depth: 10, ExpandedBytes: 27},
			"hostile.yaml:5:7: rule 'r': YAML aliases, lists and macros written out add more to the rules files than the expansion limit of 27 bytes (LOAD_ERR_LIMIT)"},
		{"depth at the limit", doubling(2, "not X", "evt.type=open") + ruleText("r", "m_2"),
			&falcocompat.Limits{ConditionBytes: 100, Depth: 2, ExpandedBytes: 100}, ""},
		{"depth over the limit", doubling(2, "not X", "evt.type=open") + ruleText("r", "not m_2"),
			&falcocompat.Limits{ConditionBytes: 100, Depth: 2, ExpandedBytes: 100},
			"hostile.yaml:7:7: rule 'r': the condition nests and/or/not 3 deep with its macros written out: over the condition depth limit of 2 (LOAD_ERR_LIMIT)"},
		// [a, b] is written "a, b": counted with a separator after each
		// item, 6 bytes; the list including it twice, 12.
		{"list at the limit", "- list: a\n  items: [a, b]\n- list: b\n  items: [a, a]\n" + ruleText("r", "proc.name=x"),
			&falcocompat.Limits{ConditionBytes: 12, Depth: 10, ExpandedBytes: 100}, ""},
		{"list over the limit", "- list: a\n  items: [a, b]\n- list: b\n  items: [a, a]\n" + ruleText("r", "proc.name=x"),
			&falcocompat.Limits{ConditionBytes: 11, Depth: 10, ExpandedBytes: 100},
			"hostile.yaml:3:7: list 'b': the list is 12 bytes long with the lists it includes written out: over the condition size limit of 11 bytes (LOAD_ERR_LIMIT)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := falcocompat.NewLoader()
			if c.lim != nil {
				l.SetLimits(*c.lim)
			}
			l.AddFile("hostile.yaml", []byte(c.src))
			res := l.Compile()
			got := ""
			if len(res.Errors) > 0 {
				got = fmt.Sprintf("%s (%s)", res.Errors[0], res.Errors[0].Code)
			}
			if got != c.want {
				t.Errorf("first error:\n got %s\nwant %s", got, c.want)
			}
			if (c.want == "") != (res.Ruleset != nil) {
				t.Errorf("ruleset %v with errors %v", res.Ruleset != nil, res.Errors)
			}
		})
	}
}

// BenchmarkHostileRules loads each hostile file (refused) and two files at
// the limit of a condition (loaded: one of 32768 comparisons on evt.type,
// one of 32768 on proc.name that the compiler projects for every syscall),
// compiling what loads as replay and run do. One op is one load and
// compile; the benchmark fails when one takes more than 1 s or allocates
// more than 100 MB.
func BenchmarkHostileRules(b *testing.B) {
	files := map[string]string{
		"at the limit, evt.type": doubling(15, "X and X", "evt.type=open") + ruleText("r", "m_15"),
		"at the limit, no type":  doubling(15, "X or X", "proc.name=a") + ruleText("r", "m_15"),
	}
	for name, src := range hostileFiles {
		files[name] = src
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		src := []byte(files[name])
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			var before, after goruntime.MemStats
			goruntime.ReadMemStats(&before)
			for i := 0; i < b.N; i++ {
				l := falcocompat.NewLoader()
				l.AddFile("hostile.yaml", src)
				res := l.Compile()
				if _, hostile := hostileFiles[name]; hostile != (res.Ruleset == nil) {
					b.Fatalf("loaded %v, errors %v", res.Ruleset != nil, res.Errors)
				}
				if res.Ruleset != nil {
					if _, err := runtime.NewPipeline(res.Ruleset, runtime.MatchAll); err != nil {
						b.Fatal(err)
					}
				}
			}
			goruntime.ReadMemStats(&after)
			perOp := (after.TotalAlloc - before.TotalAlloc) / uint64(b.N)
			if perOp > 100<<20 || b.Elapsed()/time.Duration(b.N) > time.Second {
				b.Fatalf("%v and %d bytes per load: over 1 s or 100 MB", b.Elapsed()/time.Duration(b.N), perOp)
			}
		})
	}
}

// genRules turns fuzz bytes into a rules file made of what expands: macros
// naming earlier macros in and, or and not, lists including lists, rules
// and exceptions using them, appends, and YAML anchors and aliases. Each
// byte picks a construction and the bytes after it its operands.
func genRules(data []byte) string {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		v := int(data[0])
		data = data[1:]
		return v
	}
	var b strings.Builder
	b.WriteString("- list: l_0\n  items: [a, b]\n- macro: m_0\n  condition: evt.type = open\n")
	macros, lists, rules, anchors := 1, 1, 0, 0
	m := func() int { return next() % macros }
	li := func() int { return next() % lists }
	for len(data) > 0 {
		switch next() % 9 {
		case 0:
			fmt.Fprintf(&b, "- macro: m_%d\n  condition: m_%d and m_%d\n", macros, m(), m())
			macros++
		case 1:
			fmt.Fprintf(&b, "- macro: m_%d\n  condition: m_%d or m_%d\n", macros, m(), m())
			macros++
		case 2:
			fmt.Fprintf(&b, "- macro: m_%d\n  condition: not m_%d and not (m_%d or proc.name in (l_%d))\n", macros, m(), m(), li())
			macros++
		case 3:
			fmt.Fprintf(&b, "- list: l_%d\n  items: [l_%d, l_%d, x%d]\n", lists, li(), li(), lists)
			lists++
		case 4:
			fmt.Fprintf(&b, "- rule: r_%d\n  desc: d\n  condition: m_%d and proc.name in (l_%d)\n  output: o\n  priority: INFO\n", rules, m(), li())
			rules++
		case 5:
			fmt.Fprintf(&b, "- rule: r_%d\n  desc: d\n  condition: m_%d\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      comps: [in, in]\n      values: [[l_%d, l_%d], [x, l_%d]]\n",
				rules, m(), li(), li(), li())
			rules++
		case 6:
			fmt.Fprintf(&b, "- macro: m_%d\n  condition: &c%d m_%d or m_%d\n", macros, anchors, m(), m())
			fmt.Fprintf(&b, "- macro: m_%d\n  condition: *c%d\n", macros+1, anchors)
			macros += 2
			anchors++
		case 7:
			fmt.Fprintf(&b, "- list: l_%d\n  items: &c%d [l_%d, l_%d]\n- list: l_%d\n  items: *c%d\n", lists, anchors, li(), li(), lists+1, anchors)
			lists += 2
			anchors++
		case 8: // an append naming an earlier macro
			if i := m(); i > 0 {
				fmt.Fprintf(&b, "- macro: m_%d\n  condition: or m_%d\n  override:\n    condition: append\n", i, next()%i)
			}
		}
	}
	return b.String()
}

// exprSize counts the operators, comparisons and values of x.
func exprSize(x policy.Expr) int {
	switch x := x.(type) {
	case *policy.And:
		n := 1
		for _, s := range x.Exprs {
			n += exprSize(s)
		}
		return n
	case *policy.Or:
		n := 1
		for _, s := range x.Exprs {
			n += exprSize(s)
		}
		return n
	case *policy.Not:
		return 1 + exprSize(x.X)
	case *policy.Compare:
		return 1 + len(x.Values)
	}
	return 1
}

// FuzzExpansion loads generated rule files with limits proportional to
// their size (16 bytes of expansion per byte of the file) and checks that
// what loading and compiling build stays proportional too: the rules'
// expressions hold at most 2 nodes (operators, comparisons, values) per
// byte of the file and of its allowed expansion, and the load and compile
// allocate at most 256 bytes per such byte, beyond a fixed 2 MB. Without
// the limits, a few dozen bytes (m_i: m_{i-1} and m_{i-1}) make billions.
func FuzzExpansion(f *testing.F) {
	// chain makes macro i of op name macro i-1 twice, for 40 levels, then
	// adds the constructions of tail.
	chain := func(op byte, tail ...byte) []byte {
		var b []byte
		for i := 0; i < 40; i++ {
			b = append(b, op, byte(i), byte(i))
		}
		return append(b, tail...)
	}
	f.Add(chain(0, 4, 40, 0))                    // and, a rule
	f.Add(chain(0, 4, 16, 0))                    // a rule at 16 levels
	f.Add(chain(1, 5, 40, 0, 0, 0))              // or, a rule with exceptions
	f.Add(chain(2, 6, 40, 40, 4, 41, 0))         // not, an alias of a macro
	f.Add(chain(3, 4, 0, 40))                    // lists of lists
	f.Add(chain(7, 5, 0, 80, 80, 80))            // aliased lists in exceptions
	f.Add(append(chain(0), 8, 39, 40, 4, 39, 0)) // an append
	f.Add(bytes.Repeat([]byte{0, 12, 13, 4, 14, 0}, 30))
	f.Fuzz(func(t *testing.T, data []byte) {
		src := genRules(data)
		allowed := 17 * len(src) // the file and its expansion
		var before, after goruntime.MemStats
		goruntime.ReadMemStats(&before)
		l := falcocompat.NewLoader()
		l.SetLimits(falcocompat.Limits{ConditionBytes: 16 * len(src), Depth: 100, ExpandedBytes: 16 * len(src)})
		l.AddFile("gen.yaml", []byte(src))
		res := l.Compile()
		nodes := 0
		if res.Ruleset != nil {
			for _, r := range res.Ruleset.Rules {
				nodes += exprSize(r.Condition)
			}
			if _, err := runtime.NewPipeline(res.Ruleset, runtime.MatchAll); err != nil {
				t.Fatalf("loaded ruleset does not compile: %v", err)
			}
		}
		goruntime.ReadMemStats(&after)
		if nodes > 2*allowed {
			t.Fatalf("%d expression nodes from %d bytes:\n%s", nodes, len(src), src)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20+256*uint64(allowed) {
			t.Fatalf("%d bytes allocated for %d bytes:\n%s", alloc, len(src), src)
		}
		for _, e := range res.Errors {
			if e.Pos.File != "gen.yaml" || e.Pos.Line == 0 {
				t.Fatalf("error without a position: %v", e)
			}
		}
	})
}
