package compiler

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
)

var treeLong = flag.Bool("tree.long", false, "check the decision tree on many more generated events")

// ttEvents is how many generated events the upstream equivalence test
// checks: 20000, 500000 with -tree.long, or PEREGRINE_TREE_EVENTS.
func ttEvents() int {
	if n, err := strconv.Atoi(os.Getenv("PEREGRINE_TREE_EVENTS")); err == nil && n > 0 {
		return n
	}
	if *treeLong {
		return 500000
	}
	return 20000
}

// ttRef is the reference: policy.Evaluator over the enabled rules whose
// event types include the event's, in load order.
type ttRef struct {
	rules  []*policy.Rule
	eval   *policy.Evaluator
	byType map[string][]int
	any    []int
}

func newTTRef(t testing.TB, rs *policy.Ruleset) *ttRef {
	t.Helper()
	ev, err := policy.NewEvaluator(rs)
	if err != nil {
		t.Fatal(err)
	}
	r := &ttRef{rules: rs.Enabled(), eval: ev, byType: map[string][]int{}}
	for i, rule := range r.rules {
		if rule.EventTypes == nil {
			r.any = append(r.any, i)
		}
		for _, typ := range rule.EventTypes {
			r.byType[typ] = append(r.byType[typ], i)
		}
	}
	return r
}

// match returns the numbers of the matching rules, in load order.
func (r *ttRef) match(e *policy.Event, dst []int) []int {
	typ := ""
	if v, ok := e.Raw("evt.type"); ok {
		typ, _ = v.(string)
	}
	typed, any := r.byType[typ], r.any
	for len(typed) > 0 || len(any) > 0 {
		var i int
		if len(any) == 0 || (len(typed) > 0 && typed[0] < any[0]) {
			i, typed = typed[0], typed[1:]
		} else {
			i, any = any[0], any[1:]
		}
		if r.eval.Match(r.rules[i], e) {
			dst = append(dst, i)
		}
	}
	return dst
}

// ttCheck compares the tree with the reference on one event: all matches,
// the first, and all matches among random candidates. It returns the
// reference's matches.
func ttCheck(t testing.TB, tree *Tree, ref *ttRef, e *policy.Event, rng *rand.Rand) []int {
	t.Helper()
	want := ref.match(e, nil)
	got := tree.Match(e, false, nil, nil)
	if !slices.Equal(got, want) {
		t.Fatalf("event %s: tree matches %s, reference %s", ttJSON(e), ttNames(tree, got), ttNames(tree, want))
	}
	first := tree.Match(e, true, nil, nil)
	if len(want) > 1 {
		want = want[:1]
	}
	if !slices.Equal(first, want) {
		t.Fatalf("event %s: tree first %s, reference first %s", ttJSON(e), ttNames(tree, first), ttNames(tree, want))
	}
	if rng != nil {
		cand := make([]uint64, (len(tree.Rules())+63)/64)
		for i := range cand {
			cand[i] = rng.Uint64()
		}
		if len(cand) > 0 && rng.Intn(4) == 0 {
			cand = cand[:len(cand)-1] // rules past the end are not candidates
		}
		var wantC []int
		for _, i := range ref.match(e, nil) {
			if i/64 < len(cand) && cand[i/64]&(1<<(i%64)) != 0 {
				wantC = append(wantC, i)
			}
		}
		if gotC := tree.Match(e, false, cand, nil); !slices.Equal(gotC, wantC) {
			t.Fatalf("event %s: tree candidate matches %v, want %v", ttJSON(e), gotC, wantC)
		}
	}
	return ref.match(e, nil)
}

func ttJSON(e *policy.Event) string {
	b, _ := json.Marshal(e)
	return string(b)
}

func ttNames(tree *Tree, ids []int) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = strconv.Quote(tree.Rules()[id].Name)
	}
	return "[" + strings.Join(names, ", ") + "]"
}

func ttBuild(t testing.TB, rs *policy.Ruleset) (*Tree, *ttRef) {
	t.Helper()
	tree, err := BuildTree(rs)
	if err != nil {
		t.Fatal(err)
	}
	return tree, newTTRef(t, rs)
}

// TestTreeConformance checks the tree against the reference on every event
// of every conformance case that loads.
func TestTreeConformance(t *testing.T) {
	files, err := filepath.Glob("../testdata/conformance/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance files: %v", err)
	}
	cases, events, matches := 0, 0, 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cs []struct {
			Name   string           `yaml:"name"`
			Rules  string           `yaml:"rules"`
			Events []map[string]any `yaml:"events"`
		}
		if err := yaml.Unmarshal(src, &cs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range cs {
			l := falcocompat.NewLoader()
			l.AddFile("rules.yaml", []byte(c.Rules))
			res := l.Compile()
			if res.Err() != nil {
				continue
			}
			cases++
			t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml")+"/"+c.Name, func(t *testing.T) {
				tree, ref := ttBuild(t, res.Ruleset)
				for i, raw := range c.Events {
					line, err := json.Marshal(raw)
					if err != nil {
						t.Fatal(err)
					}
					e, err := policy.DecodeEvent(line, uint64(i+1))
					if err != nil {
						continue
					}
					events++
					matches += len(ttCheck(t, tree, ref, e, nil))
				}
			})
		}
	}
	t.Logf("%d cases, %d events, %d rule matches", cases, events, matches)
	if cases < 200 {
		t.Errorf("only %d conformance cases load", cases)
	}
}

func ttDecode(t testing.TB, evs []map[string]any) []*policy.Event {
	t.Helper()
	var out []*policy.Event
	for i, m := range evs {
		line, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		e, err := policy.DecodeEvent(line, uint64(i+1))
		if err != nil {
			t.Fatalf("event %s: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// ttMutator makes random variants of seed events: fields dropped, values
// swapped between events, strings, numbers, event types and ancestor
// arrays changed, fields added with the literals the rules compare them to.
type ttMutator struct {
	rng   *rand.Rand
	seeds []map[string]any
	keys  []string            // field names of the seeds and the rules
	lits  map[string][]string // literals the rules compare each field to
	pool  []string            // every literal
	types []string            // event types the rules name
}

func newTTMutator(rs *policy.Ruleset, seed int64, seeds []map[string]any) *ttMutator {
	m := &ttMutator{rng: rand.New(rand.NewSource(seed)), seeds: seeds, lits: map[string][]string{}}
	keys, types := map[string]bool{}, map[string]bool{}
	for _, s := range seeds {
		for k, v := range s {
			keys[k] = true
			if str, ok := v.(string); ok {
				m.pool = append(m.pool, str)
			}
		}
	}
	for _, r := range rs.Rules {
		for _, typ := range r.EventTypes {
			types[typ] = true
		}
		policy.Walk(r.Condition, func(x policy.Expr) {
			c, ok := x.(*policy.Compare)
			if !ok {
				return
			}
			for _, ref := range []*policy.FieldRef{&c.Left, c.Right} {
				if ref != nil {
					keys[ref.Name()] = true
					keys[ref.Field.Name] = true
				}
			}
			m.lits[c.Left.Name()] = append(m.lits[c.Left.Name()], c.Values...)
			m.lits[c.Left.Field.Name] = append(m.lits[c.Left.Field.Name], c.Values...)
			m.pool = append(m.pool, c.Values...)
		})
	}
	for _, a := range ttAncestors {
		for i := 0; i < 6; i++ {
			keys[fmt.Sprintf("%s[%d]", a, i)] = true
		}
		pair, _ := policy.AncestorPair(a)
		keys[pair[0]], keys[pair[1]] = true, true
	}
	for _, k := range []string{"evt.arg", "evt.rawarg", "evt.arg.flags", "evt.rawarg.flags", "evt.arg[0]", "k8s.pod.label", "proc.env", "fd.types"} {
		keys[k] = true
	}
	for k := range keys {
		m.keys = append(m.keys, k)
	}
	for typ := range types {
		m.types = append(m.types, typ)
	}
	sort.Strings(m.keys)
	sort.Strings(m.types)
	m.types = append(m.types, "openat", "execve", "connect", "procexit", "")
	sort.Strings(m.pool)
	m.pool = append(m.pool, "", "/", "a", "A", "/tmp/x", "x/y", "10.0.0.1", "::1", "-1", "0", " 7", "true")
	return m
}

func (m *ttMutator) pick(l []string) string { return l[m.rng.Intn(len(l))] }

// literal returns a value the rules compare field k with, or any literal.
func (m *ttMutator) literal(k string) string {
	if f, arg := policy.SplitDottedArg(k); f != nil {
		k = f.Name + "[" + arg + "]"
	}
	if l := m.lits[k]; len(l) > 0 && m.rng.Intn(4) != 0 {
		return m.pick(l)
	}
	if i := strings.IndexByte(k, '['); i > 0 {
		if l := m.lits[k[:i]]; len(l) > 0 && m.rng.Intn(2) == 0 {
			return m.pick(l)
		}
	}
	return m.pick(m.pool)
}

var ttNumbers = []any{0, 1, -1, 2, 22, 53, 80, 443, 1024, 4096, 65535, 65536, -2, 33, 1000,
	"4294967295", "18446744073709551615", "-9223372036854775808", "12abc", " 5", "+3", 3.5}

func (m *ttMutator) value(k string) any {
	switch m.rng.Intn(10) {
	case 0:
		return ttNumbers[m.rng.Intn(len(ttNumbers))]
	case 1:
		return m.rng.Intn(2) == 0
	case 2:
		n := m.rng.Intn(9)
		l := make([]any, n)
		for i := range l {
			l[i] = m.literal(k)
			if m.rng.Intn(8) == 0 {
				l[i] = nil
			}
		}
		return l
	case 3:
		if m.rng.Intn(2) == 0 {
			return nil
		}
		var v any = m.literal(k)
		if m.rng.Intn(3) == 0 {
			v = nil
		}
		return map[string]any{m.pick([]string{"app", "HOME", "X", "flags", "0"}): v}
	case 4:
		return m.mutateString(m.literal(k))
	}
	return m.literal(k)
}

func (m *ttMutator) mutateString(s string) string {
	switch m.rng.Intn(9) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return s + m.pick([]string{"x", "/", "/x", ".sh", " ", "0"})
	case 2:
		return m.pick([]string{"/", "x", "/usr", "", "É"}) + s
	case 3:
		if len(s) > 0 {
			return s[:m.rng.Intn(len(s))]
		}
	case 4:
		if len(s) > 1 {
			i := m.rng.Intn(len(s))
			return s[:i] + string(rune('a'+m.rng.Intn(26))) + s[i+1:]
		}
	case 5:
		return strings.ReplaceAll(s, "*", "")
	case 6:
		return s + s
	case 7:
		return "\xff" + s
	}
	return m.pick(m.pool)
}

var ttAncestors = []string{"proc.aname", "proc.apid", "proc.aexe", "proc.aexepath", "proc.acmdline"}

func (m *ttMutator) event() map[string]any {
	src := m.seeds[m.rng.Intn(len(m.seeds))]
	ev := make(map[string]any, len(src)+4)
	sparse := m.rng.Intn(4) == 0 // the seed's type only, then random fields
	for k, v := range src {
		if sparse && k != "evt.type" {
			continue
		}
		if l, ok := v.([]any); ok {
			v = append([]any(nil), l...)
		}
		ev[k] = v
	}
	keys := func() []string {
		out := make([]string, 0, len(ev))
		for k := range ev {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	if sparse {
		for n := m.rng.Intn(12); n > 0; n-- {
			k := m.pick(m.keys)
			ev[k] = m.value(k)
		}
	}
	for n := 1 + m.rng.Intn(4); n > 0; n-- {
		switch m.rng.Intn(9) {
		case 0: // drop a field
			if ks := keys(); len(ks) > 0 {
				delete(ev, m.pick(ks))
			}
		case 1: // a field's value from another event
			other := m.seeds[m.rng.Intn(len(m.seeds))]
			for k, v := range other {
				if m.rng.Intn(3) == 0 {
					ev[k] = v
				}
			}
		case 2: // change a string
			for _, k := range keys() {
				if s, ok := ev[k].(string); ok && m.rng.Intn(3) == 0 {
					ev[k] = m.mutateString(s)
				}
			}
		case 3: // change a number
			for _, k := range keys() {
				switch ev[k].(type) {
				case uint64, int64, int, float64:
					if m.rng.Intn(2) == 0 {
						ev[k] = ttNumbers[m.rng.Intn(len(ttNumbers))]
					}
				}
			}
		case 4:
			ev["evt.type"] = m.pick(m.types)
		case 5: // ancestor arrays
			k := m.pick(ttAncestors)
			l, _ := ev[k].([]any)
			switch m.rng.Intn(7) {
			case 0:
				m.rng.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
			case 1:
				if len(l) > 0 {
					l = l[:m.rng.Intn(len(l))]
				}
			case 2:
				l = append(l, m.literal(k))
			case 3:
				if len(l) > 0 {
					l[m.rng.Intn(len(l))] = nil
				}
			case 4:
				for i := m.rng.Intn(3); i < 6; i++ {
					if m.rng.Intn(3) != 0 {
						ev[fmt.Sprintf("%s[%d]", k, i)] = m.value(k)
					}
				}
			case 6: // the indexed keys only
				pair, _ := policy.AncestorPair(k)
				delete(ev, pair[0])
				delete(ev, pair[1])
				delete(ev, k)
				for i := 0; i < 6; i++ {
					if m.rng.Intn(4) != 0 {
						ev[fmt.Sprintf("%s[%d]", k, i)] = m.value(k)
					}
				}
				continue
			case 5:
				for len(l) < 20 {
					l = append(l, m.literal(k))
				}
			}
			ev[k] = l
		case 6, 7: // a field the rules read
			k := m.pick(m.keys)
			ev[k] = m.value(k)
		case 8:
			k := m.pick(m.keys)
			ev[k] = m.literal(k)
		}
	}
	return ev
}

// ttEvent turns a generated event into a policy.Event: mostly through the
// replay decoder (skipping what it refuses), sometimes through Set without
// validation.
func (m *ttMutator) ttEvent(raw map[string]any, num uint64) (*policy.Event, bool) {
	if m.rng.Intn(5) == 0 {
		e := policy.NewEvent()
		for k, v := range raw {
			e.Set(k, v)
		}
		return e, true
	}
	line, err := json.Marshal(raw)
	if err != nil {
		return nil, false
	}
	e, err := policy.DecodeEvent(line, num)
	return e, err == nil
}

func ttEquivalence(t *testing.T, rs *policy.Ruleset, seeds []map[string]any, n int) {
	tree, ref := ttBuild(t, rs)
	m := newTTMutator(rs, 1, seeds)
	checked, matched, matches := 0, 0, 0
	for _, e := range ttDecode(t, seeds) {
		ttCheck(t, tree, ref, e, m.rng)
	}
	for i := 0; checked < n; i++ {
		e, ok := m.ttEvent(m.event(), uint64(i+1))
		if !ok {
			continue
		}
		checked++
		got := ttCheck(t, tree, ref, e, m.rng)
		if len(got) > 0 {
			matched++
			matches += len(got)
		}
	}
	t.Logf("%d rules, %d generated events, %d matching some rule, %d rule matches", len(tree.Rules()), checked, matched, matches)
	if matched < n/50 {
		t.Errorf("only %d of %d events match a rule: the generator is too weak", matched, n)
	}
}

// TestTreeUpstreamEquivalence checks the tree against the reference on the
// upstream rules, every one enabled, over mutated upstream events.
func TestTreeUpstreamEquivalence(t *testing.T) {
	rs := upstreamRules(t)
	ttEquivalence(t, rs, loadSeeds(t), ttEvents())
}

// ttBuiltinRules exercises every kind of comparison: ancestors, list
// fields, val(), transformers, modifiers, addresses, networks and ports,
// pmatch, regex, glob, numbers and booleans, keyed and indexed arguments.
const ttBuiltinRules = `
- list: shells
  items: [bash, sh, zsh, dash]
- macro: spawned_process
  condition: evt.type in (execve, execveat) and evt.dir = <
- macro: open_read
  condition: evt.type in (open, openat, openat2) and evt.is_open_read = true and fd.num >= 0
- macro: container
  condition: container.id != host
- rule: disabled
  desc: d
  condition: proc.name exists
  output: o
  priority: warning
  enabled: false
`

// ttBuiltinConds are the conditions of the built-in rules, one rule each,
// so that no comparison hides behind another.
var ttBuiltinConds = []string{
	"spawned_process and container and proc.name in (shells) and not proc.pname in (shells)",
	"spawned_process and proc.aname in (sshd, systemd, bash) and proc.aname[2] startswith ss and proc.apid != 1",
	"proc.aname = sshd", "proc.aname[2] = sshd", "proc.aname[1] = bash", "proc.pname = bash", "proc.apid = 1",
	"proc.aexe[3] exists", "proc.acmdline contains sh", "proc.name = bash",
	"open_read and (fd.name pmatch (/etc, /root/.ssh, /home/*/.ssh) or fd.directory = /etc/ssh) and fd.filename glob \"*s[h-z]*\"",
	"fd.name pmatch (/etc, /home/*/.ssh)", "fd.filename glob \"*s[h-z]*\"", "fd.directory = /etc/ssh",
	"evt.type in (connect, accept) and fd.ip = 10.0.0.1", "fd.ip = 10.0.0.1", "fd.ip != \"::1\"",
	"fd.net = 192.168.0.0/16", "fd.rip != \"::1\"", "fd.snet in (10.0.0.0/8, 172.16.0.0/12)", "fd.cnet = 10.0.0.0/8",
	"fd.port in (22, 443, 8080, https)", "fd.sport < 1024", "fd.lport >= 65535", "fd.port != 443",
	"fd.types in (file, ipv4, pipe)", "fd.types intersects (unix)", "fd.types[3] = file", "fd.types exists",
	"tolower(proc.name) = bash", "toupper(proc.exe) contains BIN", "basename(fd.name) = passwd",
	"len(proc.args) > 10", "b64(proc.env[X]) in (secret, secre)", "len(fd.types) >= 2", "len(fd.types) = 0",
	"tolower(proc.cmdline) icontains \"CURL\"", "toupper(tolower(proc.name)) = BASH", "len(basename(fd.name)) < 4",
	"proc.cmdline startswith anyof (curl, wget)", "fd.name endswith allof (sh, .sh)", "proc.name contains oneof (a, b)",
	"proc.exe = anyof (/bin/sh, /bin/bash)", "proc.name regex anyof (\"[a-z]+\", \"c.*\")",
	"proc.name = val(proc.pname)", "fd.num > val(evt.rawres)", "proc.pname != val(proc.aname[2])",
	"fd.name startswith val(proc.cwd)", "proc.cmdline icontains val(proc.name)", "user.uid <= val(proc.pid)",
	"proc.name regex \"[a-z]+[0-9]\"", "proc.exe iglob \"*PY*\"", "proc.cmdline icontains \"HTTP\"",
	"evt.buffer bcontains 6869", "evt.buffer bstartswith 68",
	"user.uid = 0 and user.loginuid < 0", "proc.pid >= 4294967296", "user.uid > 4294967294", "user.loginuid = -1",
	"evt.rawarg.flags = 1", "evt.arg.flags contains O_", "evt.arg[0] = foo", "proc.env[HOME] exists",
	"k8s.pod.label[app] = web", "evt.rawres < 0", "proc.tty = 0", "not proc.tty exists",
	"evt.failed = true", "container.privileged != false", "evt.is_open_read = false",
	"not (proc.name = bash or proc.pname = bash)",
}

// ttBuiltinSeeds are events for the built-in rules.
var ttBuiltinSeeds = []string{
	`{"evt.type":"execve","proc.name":"bash","proc.pname":"runc","container.id":"abc","proc.aname":["bash","runc","sshd","systemd"],"proc.apid":[10,9,1],"proc.exe":"/bin/bash","proc.cmdline":"curl http://x","proc.cwd":"/tmp","proc.env":{"X":"c2VjcmV0","HOME":"/root"}}`,
	`{"evt.type":"execve","proc.name":"sh","proc.env[X]":"c2VjcmU=","proc.args":"-c 0123456789","fd.types":["file"],"proc.aname[3]":"sshd","proc.aname[2]":"ssh"}`,
	`{"evt.type":"openat","evt.arg.flags":"O_RDONLY","fd.num":3,"evt.rawres":3,"fd.name":"/etc/ssh/sshd_config","fd.type":"file","proc.name":"cat2","proc.pname":"cat2","fd.types":["file","ipv4","pipe","file"]}`,
	`{"evt.type":"connect","fd.cip":"10.0.0.1","fd.sip":"192.168.1.5","fd.rip":"192.168.1.5","fd.cport":40000,"fd.sport":443,"fd.lport":40000,"fd.types":["unix"],"proc.name":"python3","proc.exe":"/usr/bin/Python3","user.uid":0,"user.loginuid":-1}`,
	`{"evt.type":"openat","evt.rawarg":{"flags":null},"evt.arg.flags":"1","proc.aname[1]":["x"],"proc.aname[2]":"sshd"}`,
	`{"evt.type":"openat","evt.rawarg.flags":1,"evt.arg":["foo"],"k8s.pod.label":{"app":"web"},"evt.buffer":"hi there","evt.rawres":-2,"container.privileged":true}`,
}

func ttBuiltin(t testing.TB) (*policy.Ruleset, []map[string]any) {
	t.Helper()
	var sb strings.Builder
	sb.WriteString(ttBuiltinRules)
	for i, c := range ttBuiltinConds {
		fmt.Fprintf(&sb, "- rule: r%d\n  desc: d\n  condition: %s\n  output: o\n  priority: warning\n", i, strconv.Quote(c))
	}
	l := falcocompat.NewLoader()
	l.AddFile("builtin.yaml", []byte(sb.String()))
	res := l.Compile()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	var seeds []map[string]any
	for _, s := range ttBuiltinSeeds {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, m)
	}
	return res.Ruleset, seeds
}

// TestTreeBuiltinEquivalence checks the tree against the reference on the
// built-in rules over mutated events; it needs nothing outside the repo.
func TestTreeBuiltinEquivalence(t *testing.T) {
	rs, seeds := ttBuiltin(t)
	ttEquivalence(t, rs, seeds, ttEvents())
}

// TestTreeShared checks that shared sub-expressions get one closure each
// and are evaluated once per event.
func TestTreeShared(t *testing.T) {
	rs, seeds := ttBuiltin(t)
	tree, _ := ttBuild(t, rs)
	if len(tree.Rules()) != len(rs.Rules)-1 {
		t.Fatalf("%d rules, want the %d enabled ones", len(tree.Rules()), len(rs.Rules)-1)
	}
	if tree.slots == 0 {
		t.Fatal("no shared sub-expression memoised")
	}
	m := tree.NewMatcher()
	e := ttDecode(t, seeds)[0]
	m.Match(e, false, nil, nil)
	for i, s := range m.memo {
		if s.gen > m.gen {
			t.Errorf("memo slot %d from the future", i)
		}
	}
}

// TestTreeZeroAllocs checks that matching a prepared event allocates
// nothing.
func TestTreeZeroAllocs(t *testing.T) {
	rs, seeds := ttBuiltin(t)
	for _, c := range []struct {
		rs  *policy.Ruleset
		evs []*policy.Event
	}{{rs, ttDecode(t, seeds)}} {
		tree, _ := ttBuild(t, c.rs)
		ttAllocs(t, tree, c.evs)
	}
	if _, err := os.Stat("../../shared/falco/falco_rules.yaml"); err == nil {
		rs := upstreamRules(t)
		tree, _ := ttBuild(t, rs)
		ttAllocs(t, tree, ttDecode(t, loadSeeds(t)))
	}
}

func ttAllocs(t *testing.T, tree *Tree, evs []*policy.Event) {
	dst := make([]int, 0, len(tree.Rules()))
	for _, e := range evs {
		tree.Match(e, false, nil, dst[:0]) // grow the scratch buffers
	}
	i := 0
	if n := testing.AllocsPerRun(len(evs)*5, func() {
		tree.Match(evs[i%len(evs)], false, nil, dst[:0])
		i++
	}); n != 0 {
		t.Errorf("Match allocates %v times per event", n)
	}
}

// FuzzTreeEquivalence builds an event from a JSON object and (field,
// value) picks, and checks the tree against the reference on the upstream
// rules, or the built-in ones when ../shared is absent.
func FuzzTreeEquivalence(f *testing.F) {
	var rs *policy.Ruleset
	var seeds []map[string]any
	if _, err := os.Stat("../../shared/falco/falco_rules.yaml"); err == nil {
		rs, seeds = upstreamRules(f), loadSeeds(f)
	} else {
		rs, seeds = ttBuiltin(f)
	}
	tree, ref := ttBuild(f, rs)
	m := newTTMutator(rs, 3, seeds)
	for i, s := range seeds {
		b, _ := json.Marshal(s)
		f.Add(b, []byte{byte(i), byte(i * 7), byte(i * 13), byte(i * 31)})
	}
	f.Fuzz(func(t *testing.T, js []byte, picks []byte) {
		raw := map[string]any{}
		_ = json.Unmarshal(js, &raw)
		if raw == nil {
			raw = map[string]any{}
		}
		for i := 0; i+1 < len(picks); i += 2 {
			k := m.keys[int(picks[i])%len(m.keys)]
			v := int(picks[i+1])
			switch {
			case v < 8:
				raw[k] = ttNumbers[v%len(ttNumbers)]
			case v < 16:
				raw["evt.type"] = m.types[v%len(m.types)]
			case v < 24:
				delete(raw, k)
			case v < 32:
				raw[k] = []any{m.pool[v%len(m.pool)], m.pool[(v*7)%len(m.pool)]}
			default:
				if l := m.lits[k]; len(l) > 0 {
					raw[k] = l[v%len(l)]
				} else {
					raw[k] = m.pool[v%len(m.pool)]
				}
			}
		}
		line, err := json.Marshal(raw)
		if err != nil {
			return
		}
		e, err := policy.DecodeEvent(line, 1)
		if err != nil {
			return
		}
		ttCheck(t, tree, ref, e, nil)
	})
}

func ttBenchEvents(b *testing.B) (*policy.Ruleset, []*policy.Event) {
	rs := upstreamRules(b)
	return rs, ttDecode(b, loadSeeds(b))
}

// BenchmarkTreeUpstream is the decision tree on the upstream rules (all
// enabled), one upstream event per op.
func BenchmarkTreeUpstream(b *testing.B) {
	rs, evs := ttBenchEvents(b)
	tree, _ := ttBuild(b, rs)
	dst := make([]int, 0, len(tree.Rules()))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = tree.Match(evs[i%len(evs)], false, nil, dst[:0])
	}
}

// BenchmarkReferenceUpstream is the reference evaluator on the same rules
// and events, visiting the rules of the event's type as the engine does.
func BenchmarkReferenceUpstream(b *testing.B) {
	rs, evs := ttBenchEvents(b)
	ref := newTTRef(b, rs)
	dst := make([]int, 0, len(ref.rules))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = ref.match(evs[i%len(evs)], dst[:0])
	}
}

// BenchmarkTreeCounted is BenchmarkTreeUpstream with first-match
// semantics, plain (Match) and counting per rule (MatchCounted, what the
// pipeline runs when telemetry is on): the difference is the counters'
// cost per event.
func BenchmarkTreeCounted(b *testing.B) {
	rs, evs := ttBenchEvents(b)
	tree, _ := ttBuild(b, rs)
	dst := make([]int, 0, len(tree.Rules()))
	b.Run("plain", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			dst = tree.Match(evs[i%len(evs)], true, nil, dst[:0])
		}
	})
	b.Run("counted", func(b *testing.B) {
		counts := make([]*RuleCount, len(tree.Rules()))
		for i := range counts {
			counts[i] = &RuleCount{}
		}
		for i := 0; b.Loop(); i++ {
			dst = tree.MatchCounted(evs[i%len(evs)], true, nil, dst[:0], counts)
		}
		var passed uint64
		for _, c := range counts {
			passed += c.Passed()
		}
		b.ReportMetric(float64(passed)/float64(b.N), "candidates/op")
	})
}
