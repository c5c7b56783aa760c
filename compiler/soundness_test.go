package compiler

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/syscalls"
)

// upstreamRules loads the upstream rule files, skipping the test when they
// are absent outside CI. Every rule is enabled.
func upstreamRules(t testing.TB) *policy.Ruleset {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "falco")
	if _, err := os.Stat(filepath.Join(dir, "falco_rules.yaml")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("upstream rule files missing in CI: %v", err)
		}
		t.Skipf("upstream rule files not found: %v", err)
	}
	res := falcocompat.LoadPaths(filepath.Join(dir, "falco_rules.yaml"), filepath.Join(dir, "falco-incubating_rules.yaml"))
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Ruleset.Rules {
		r.Enabled = true
	}
	return res.Ruleset
}

// capturable is what the live capture delivers (the syscall table's
// rows); the tests compile for it.
var capturable = syscalls.Names()

// generator makes random events whose values come mostly from the rules'
// own literals, so that rules match often enough to test anything.
type generator struct {
	rng   *rand.Rand
	pool  map[string][]string // field name -> literals the rules compare it with
	types []string
	seeds []map[string]any
}

func newGenerator(rs *policy.Ruleset, seed int64, seeds []map[string]any) *generator {
	g := &generator{rng: rand.New(rand.NewSource(seed)), pool: map[string][]string{}, seeds: seeds}
	typeSet := map[string]bool{}
	for _, r := range rs.Rules {
		for _, t := range r.EventTypes {
			typeSet[t] = true
		}
		policy.Walk(r.Condition, func(x policy.Expr) {
			if c, ok := x.(*policy.Compare); ok {
				g.pool[c.Left.Name()] = append(g.pool[c.Left.Name()], c.Values...)
			}
		})
	}
	for t := range typeSet {
		g.types = append(g.types, t)
	}
	sort.Strings(g.types)
	return g
}

var genFields = []string{"proc.name", "proc.pname", "fd.name", "fd.nameraw", "fd.directory", "fd.filename",
	"fd.typechar", "fd.type", "evt.arg.flags", "evt.rawres", "evt.res", "fd.num", "user.uid", "user.name",
	"container.id", "proc.args", "proc.cmdline", "proc.exe", "proc.exepath", "proc.pexe", "proc.pcmdline",
	"evt.arg.name", "fs.path.name", "proc.tty", "user.loginuid", "evt.is_open_read", "evt.is_open_write",
	"evt.failed", "fd.sip", "fd.sport", "fd.rport", "fd.l4proto", "proc.cwd", "evt.arg.request",
	"proc.is_exe_from_memfd", "thread.cap_permitted", "proc.aname[2]", "proc.aname[3]", "fd.sip.name",
	"evt.arg.target", "evt.arg.linkpath", "evt.arg.oldpath", "evt.arg.newpath", "k8s.ns.name", "evt.arg.path",
	"fs.path.source", "evt.arg.filename", "fd.lport", "fd.cport"}

var openFlagChoices = []string{"O_RDONLY", "O_WRONLY", "O_RDWR", "O_WRONLY|O_CREAT|O_TRUNC", "O_RDWR|O_CREAT",
	"O_RDONLY|O_CLOEXEC", "O_WRONLY|O_APPEND", "O_TRUNC|O_CREAT|O_WRONLY|O_F_CREATED", "O_RDONLY|O_DIRECTORY", "O_NONE"}

// value picks a value for a field.
func (g *generator) value(field string) any {
	r := g.rng.Intn(10)
	pool := g.pool[field]
	switch {
	case field == "evt.arg.flags":
		return openFlagChoices[g.rng.Intn(len(openFlagChoices))]
	case field == "evt.rawres" || field == "fd.num":
		return []int{-1, -2, -13, 0, 3, 7}[g.rng.Intn(6)]
	case field == "evt.is_open_read" || field == "evt.is_open_write" || field == "evt.failed" || field == "proc.is_exe_from_memfd":
		return g.rng.Intn(2) == 0
	case field == "user.uid" || field == "proc.tty" || field == "user.loginuid" || field == "fd.sport" || field == "fd.rport" ||
		field == "fd.lport" || field == "fd.cport":
		if len(pool) > 0 && r < 6 {
			if n, err := strconv.Atoi(pool[g.rng.Intn(len(pool))]); err == nil {
				return n
			}
		}
		return g.rng.Intn(2000) - 1
	case field == "fd.typechar":
		return []string{"f", "d", "4", "u", "p"}[g.rng.Intn(5)]
	case field == "fd.sip":
		return []string{"127.0.0.1", "10.1.2.3", "169.254.169.254", "8.8.8.8"}[g.rng.Intn(4)]
	case len(pool) > 0 && r < 7:
		v := pool[g.rng.Intn(len(pool))]
		switch g.rng.Intn(4) {
		case 0:
			v += []string{"/x", "x", "/../etc/shadow", "/"}[g.rng.Intn(4)]
		case 1:
			if len(v) > 1 {
				v = v[:g.rng.Intn(len(v))]
			}
		}
		return v
	}
	return []string{"", "bash", "/tmp/a", "/etc/shadow", "/etc/../etc/passwd", "sh", "cat", "/usr/bin/true",
		"host", "abcdef012345", "-c /dev/shm/x", "/root/.ssh/id_rsa", "relative/path", "//etc//sudoers"}[g.rng.Intn(14)]
}

// event returns a random event in the replay format.
func (g *generator) event() map[string]any {
	var ev map[string]any
	if len(g.seeds) > 0 && g.rng.Intn(3) == 0 {
		ev = map[string]any{}
		for k, v := range g.seeds[g.rng.Intn(len(g.seeds))] {
			if g.rng.Intn(8) != 0 { // drop some fields
				ev[k] = v
			}
		}
		for i := g.rng.Intn(3); i > 0; i-- {
			f := genFields[g.rng.Intn(len(genFields))]
			ev[f] = g.value(f)
		}
	} else {
		ev = map[string]any{"evt.type": g.types[g.rng.Intn(len(g.types))]}
		for _, f := range genFields {
			if g.rng.Intn(3) != 0 {
				ev[f] = g.value(f)
			}
		}
		if g.rng.Intn(2) == 0 {
			anc := []any{g.value("proc.name"), g.value("proc.pname")}
			for i := g.rng.Intn(4); i > 0; i-- {
				anc = append(anc, g.value("proc.aname[2]"))
			}
			ev["proc.aname"] = anc
			delete(ev, "proc.name")
			delete(ev, "proc.pname")
		}
	}
	if g.rng.Intn(10) == 0 {
		ev["evt.type"] = g.types[g.rng.Intn(len(g.types))]
	}
	return ev
}

// loadSeeds reads the upstream test events (fires and near misses).
func loadSeeds(t testing.TB) []map[string]any {
	data, err := os.ReadFile("../testdata/upstream/events.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Fires    map[string]any `yaml:"fires"`
		NearMiss map[string]any `yaml:"near_miss"`
	}
	if err := yaml.Unmarshal(data, &entries); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range entries {
		for _, ev := range []map[string]any{e.Fires, e.NearMiss} {
			if ev != nil {
				out = append(out, ev)
			}
		}
	}
	return out
}

// checkSound evaluates one event with the reference evaluator and the
// emulated kernel filter, and reports a rule that matches an event the
// filter drops.
func checkSound(plan *Plan, ev *policy.Ruleset, ref *policy.Evaluator, e *policy.Event) (matched int, err error) {
	v := ViewOf(e)
	mask := plan.Encoding.Emulate(v)
	typ, _ := str(e, "evt.type")
	// The whole plan, emulated kernel filter then decision tree, must give
	// the reference's alerts.
	var want []int
	defer func() {
		if err != nil || !contains(capturable, typ) {
			return
		}
		got := plan.Tree.Match(e, false, plan.Candidates(typ, mask, nil), nil)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			raw, _ := e.MarshalJSON()
			err = fmt.Errorf("plan matches rules %v, the reference %v, for %s", got, want, raw)
		}
	}()
	for i, r := range plan.Rules {
		if r.EventTypes != nil && !contains(r.EventTypes, typ) {
			continue
		}
		if !ref.Match(r, e) {
			continue
		}
		matched++
		want = append(want, i)
		if !contains(capturable, typ) {
			continue
		}
		class := -1
		for _, sp := range plan.Preds[i] {
			if sp.Syscall == typ {
				class = sp.Class
			}
		}
		if class < 0 || !mask.Has(class) {
			raw, _ := e.MarshalJSON()
			pred := "none"
			if class >= 0 {
				pred = plan.Classes[class].Pred.String()
			}
			return matched, fmt.Errorf("rule %q matches but the kernel filter drops the event\nevent %s\nview %+v\nclass %d predicate %s",
				r.Name, raw, v, class, pred)
		}
	}
	return matched, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// soundnessEvents is how many random events the differential test checks;
// PEREGRINE_SOUNDNESS_EVENTS raises it for long runs (10^6 and more).
func soundnessEvents() int {
	if n, err := strconv.Atoi(os.Getenv("PEREGRINE_SOUNDNESS_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 30000
}

func TestSoundnessUpstream(t *testing.T) {
	rs := upstreamRules(t)
	plan, err := Compile(rs, Options{Syscalls: capturable})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := policy.NewEvaluator(rs)
	if err != nil {
		t.Fatal(err)
	}
	g := newGenerator(rs, 1, loadSeeds(t))
	n, matched, dropped := soundnessEvents(), 0, 0
	for i := 0; i < n; i++ {
		raw, _ := json.Marshal(g.event())
		e, err := policy.DecodeEvent(raw, uint64(i+1))
		if err != nil {
			continue
		}
		m, err := checkSound(plan, rs, ref, e)
		if err != nil {
			t.Fatal(err)
		}
		matched += m
		if typ, _ := str(e, "evt.type"); plan.Encoding.Emulate(ViewOf(e)).IsZero() && contains(capturable, typ) {
			dropped++
		}
	}
	t.Logf("%d events, %d rule matches, %d events dropped by the emulated kernel filter", n, matched, dropped)
	if matched < n/100 {
		t.Errorf("only %d rule matches in %d events: the generator does not exercise the rules", matched, n)
	}
	if dropped < n/100 {
		t.Errorf("the filter dropped only %d of %d events: it filters nothing", dropped, n)
	}
}

// randomCondition writes a random condition over the fields the kernel
// filter knows, nested with and, or and not.
func randomCondition(rng *rand.Rand, depth int) string {
	if depth == 0 || rng.Intn(3) == 0 {
		atoms := []string{
			"proc.name in (bash, sh, cat, nginx)", "proc.name = cat", "proc.name != sh", "proc.pname in (bash, sshd)",
			"proc.pname = nginx", "proc.aname[1] = sshd", "fd.name startswith /etc/", "fd.name = /etc/shadow",
			"fd.name in (/etc/passwd, /tmp/a)", "fd.name pmatch (/var/log, /root)", "fd.directory in (/etc, /var/log)",
			"fs.path.name startswith /usr", "evt.arg.name = /tmp/a", "evt.is_open_read = true", "evt.is_open_write = true",
			"evt.is_open_write = false", "evt.arg.flags contains O_TRUNC", "evt.arg.flags contains O_RDWR",
			"evt.arg.flags contains O_CREAT", "evt.res = SUCCESS", "evt.res startswith E", "evt.res != SUCCESS",
			"evt.rawres >= 0", "evt.rawres < 0", "evt.rawres = -2", "fd.num >= 0", "fd.num = -1", "fd.num > 3",
			"evt.failed = true", "fd.typechar = f", "fd.typechar = d", "fd.nameraw contains ../",
			"user.uid = 0", "user.uid != 0", "user.uid < 1000", "user.uid >= 33", "user.uid in (0, 33, 1000)", "user.uid > 4294967295",
			"evt.arg.target startswith /etc/", "evt.arg.oldpath = /etc/shadow", "evt.arg.path startswith /var/",
			"fs.path.source in (/etc/shadow, /tmp/a)", "evt.arg.filename = /etc/passwd", "fd.directory = /etc",
			`fd.name regex "/etc/.*"`, `fd.name regex "^/tmp/a[0-9]*$"`, `fd.name regex "/etc/(shadow|passwd)"`, `fd.name regex ".*a"`,
			"fd.name endswith .log", "fd.filename in (syslog, auth.log)", "evt.arg.target endswith shadow",
			"fd.rport = 443", "fd.sport in (80, 443)", "fd.lport > 1024", "fd.cport = 22", "fd.rport < 1024",
			"proc.args contains -c", "fd.name contains shadow", "proc.name startswith ba",
			`fd.name glob "/etc/*"`, `fd.name glob "/tmp/a"`, `fd.name glob "/var/log/*.log"`, `fd.name glob "*shadow"`,
			`fd.name glob "/etc/sh?dow"`, `fd.name glob "/tmp/[ab]"`, `evt.arg.target glob "/etc/*"`,
			"evt.type = openat", "evt.type in (open, openat, execve)", "evt.type != execve", "proc.name exists",
			"container.id != host", "container.id = host", "container.id = abcdef012345", "container.id in (host, abcdef012345)",
			"container.id != abcdef012345", "container.id startswith abc",
		}
		a := atoms[rng.Intn(len(atoms))]
		if rng.Intn(4) == 0 {
			return "not " + a
		}
		return a
	}
	n := 2 + rng.Intn(2)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = randomCondition(rng, depth-1)
	}
	op := " and "
	if rng.Intn(2) == 0 {
		op = " or "
	}
	s := "(" + strings.Join(parts, op) + ")"
	if rng.Intn(5) == 0 {
		return "not " + s
	}
	return s
}

// TestSoundnessGeneratedRules checks the filter on random rule sets.
func TestSoundnessGeneratedRules(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	sets, perSet, events := 40, 15, soundnessEvents()/40
	for s := 0; s < sets; s++ {
		var b strings.Builder
		for i := 0; i < perSet; i++ {
			fmt.Fprintf(&b, "- rule: r%d\n  desc: d\n  condition: evt.type in (open, openat, openat2, creat, execve, connect, symlinkat, linkat, unlinkat, mkdir, chmod, rename, accept, bind) and %s\n  output: o\n  priority: info\n",
				i, randomCondition(rng, 3))
		}
		l := falcocompat.NewLoader()
		l.AddFile("generated.yaml", []byte(b.String()))
		res := l.Compile()
		if err := res.Err(); err != nil {
			t.Fatalf("generated rules do not load: %v\n%s", err, b.String())
		}
		plan, err := Compile(res.Ruleset, Options{Syscalls: capturable})
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := policy.NewEvaluator(res.Ruleset)
		g := newGenerator(res.Ruleset, int64(s), nil)
		for i := 0; i < events; i++ {
			raw, _ := json.Marshal(g.event())
			e, err := policy.DecodeEvent(raw, uint64(i+1))
			if err != nil {
				continue
			}
			if _, err := checkSound(plan, res.Ruleset, ref, e); err != nil {
				t.Fatalf("rule set %d:\n%s\n%v", s, b.String(), err)
			}
		}
	}
}

func TestSoundnessSeeds(t *testing.T) {
	rs := upstreamRules(t)
	plan, err := Compile(rs, Options{Syscalls: capturable})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := policy.NewEvaluator(rs)
	for i, seed := range loadSeeds(t) {
		raw, _ := json.Marshal(seed)
		e, err := policy.DecodeEvent(raw, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := checkSound(plan, rs, ref, e); err != nil {
			t.Errorf("seed %d: %v", i, err)
		}
	}
}

// FuzzSoundness builds events from the fuzzer's bytes and checks that the
// emulated kernel filter never drops one that an upstream rule matches.
func FuzzSoundness(f *testing.F) {
	rs := upstreamRules(f)
	plan, err := Compile(rs, Options{Syscalls: capturable})
	if err != nil {
		f.Fatal(err)
	}
	ref, _ := policy.NewEvaluator(rs)
	f.Add(int64(1), []byte(`{"fd.name":"/etc/shadow"}`))
	f.Add(int64(2), []byte(`{"proc.name":"bash","proc.pname":"nginx"}`))
	f.Fuzz(func(t *testing.T, seed int64, extra []byte) {
		g := newGenerator(rs, seed, nil)
		ev := g.event()
		var more map[string]any
		if json.Unmarshal(extra, &more) == nil {
			for k, v := range more {
				ev[k] = v
			}
		}
		raw, _ := json.Marshal(ev)
		e, err := policy.DecodeEvent(raw, 1)
		if err != nil {
			return
		}
		if _, err := checkSound(plan, rs, ref, e); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPathNormalized(t *testing.T) {
	for p, want := range map[string]bool{
		"/etc/shadow": true, "/": true, "/etc/": false, "etc/shadow": false, "/etc//shadow": false,
		"/etc/./shadow": false, "/etc/../shadow": false, "/a/b..c": true, "/..": false, "": false,
		"/" + strings.Repeat("a", 300): false,
	} {
		if got := PathNormalized(p); got != want {
			t.Errorf("PathNormalized(%q) = %v, want %v", p, got, want)
		}
	}
}
