package runtime_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/policy/rego"
	"github.com/peregrine-sec/peregrine/rules"
	"github.com/peregrine-sec/peregrine/ruletest"
	"github.com/peregrine-sec/peregrine/runtime"
)

func TestLiveShadowRead(t *testing.T) {
	le := startLive(t, defaultRules(t), runtime.LiveOptions{})
	run(t, exec.Command("/bin/sh", "-c", "cat /etc/shadow > /dev/null; true"))
	a := le.wait(t, "cat /etc/shadow", func(a runtime.Alert) bool {
		return a.Rule.Name == "Credential file read by untrusted program" && field(a, "proc.name") == "cat"
	})
	want := map[string]string{
		"proc.name":    "cat",
		"proc.pname":   "sh",
		"proc.cmdline": "cat /etc/shadow",
		"fd.name":      "/etc/shadow",
		"user.name":    "root",
		"user.uid":     "0",
		"proc.exepath": "/usr/bin/cat",
		"evt.type":     "openat",
		"container.id": "host",
	}
	wantFields(t, a, want)
	if !strings.Contains(field(a, "evt.arg.flags"), "O_RDONLY") || field(a, "evt.is_open_read") != "true" {
		t.Errorf("flags %q, is_open_read %q", field(a, "evt.arg.flags"), field(a, "evt.is_open_read"))
	}
}

func TestLiveExecChain(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	os.WriteFile(marker, []byte("x"), 0o644)
	rs := loadRules(t, "chain.yaml", []byte(fmt.Sprintf(`
- rule: Marker read
  desc: the marker file of the exec chain test was opened
  condition: evt.type in (open, openat) and fd.name = %s
  output: "%%proc.name %%proc.aname[1] %%proc.aname[2] %%proc.aname[3]"
  priority: notice
`, marker)))
	le := startLive(t, rs, runtime.LiveOptions{})
	// Scripts run through #!, so each level's comm is the script's name.
	// "exit 0" after each call keeps the shell from exec'ing its last
	// command in place.
	lvl3 := script(t, dir, "lvl3", "cat "+marker+" > /dev/null\nexit 0")
	lvl2 := script(t, dir, "lvl2", lvl3+"\nexit 0")
	lvl1 := script(t, dir, "lvl1", lvl2+"\nexit 0")
	run(t, exec.Command(lvl1))
	a := le.wait(t, "the marker read", func(a runtime.Alert) bool { return field(a, "proc.name") == "cat" })
	for i, w := range []string{"cat", "lvl3", "lvl2", "lvl1"} {
		f := "proc.aname[" + strconv.Itoa(i) + "]"
		if got := field(a, f); got != w {
			t.Errorf("%s = %q, want %q", f, got, w)
		}
	}
	if got := field(a, "proc.pname"); got != "lvl3" {
		t.Errorf("proc.pname = %q", got)
	}
	// A script's executable is its interpreter, as /proc/PID/exe says.
	interp, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []string{"1", "2", "3"} {
		if got := field(a, "proc.aexepath["+i+"]"); got != interp {
			t.Errorf("proc.aexepath[%s] = %q, want the interpreter %q", i, got, interp)
		}
	}
	if got := field(a, "proc.exepath"); got != "/usr/bin/cat" {
		t.Errorf("proc.exepath = %q", got)
	}
}

func TestLiveSymlinkAndConnect(t *testing.T) {
	port := loopbackListener(t)
	rs := loadRules(t, "net.yaml", []byte(fmt.Sprintf(`
- rule: Symlink to etc
  desc: a symbolic link pointing into /etc
  condition: evt.type in (symlink, symlinkat) and evt.arg.target startswith /etc
  output: "%%evt.arg.target %%evt.arg.linkpath"
  priority: warning
- rule: Loopback connect
  desc: a TCP connect to the test listener
  condition: evt.type = connect and fd.rport = %d and fd.l4proto = tcp
  output: "%%fd.name"
  priority: notice
`, port)))
	le := startLive(t, rs, runtime.LiveOptions{})
	link := filepath.Join(t.TempDir(), "etc-link")
	run(t, exec.Command("ln", "-s", "/etc", link))
	a := le.wait(t, "the symlink", func(a runtime.Alert) bool { return a.Rule.Name == "Symlink to etc" })
	if field(a, "evt.arg.target") != "/etc" || field(a, "evt.arg.linkpath") != link || field(a, "proc.name") != "ln" {
		t.Errorf("symlink alert: target %q linkpath %q proc %q", field(a, "evt.arg.target"), field(a, "evt.arg.linkpath"), field(a, "proc.name"))
	}
	run(t, exec.Command("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d; exec 3>&-", port)))
	a = le.wait(t, "the connect", func(a runtime.Alert) bool { return a.Rule.Name == "Loopback connect" })
	checks := map[string]string{
		"fd.rport": strconv.Itoa(port), "fd.sport": strconv.Itoa(port), "fd.sip": "127.0.0.1", "fd.rip": "127.0.0.1",
		"fd.type": "ipv4", "fd.typechar": "4", "evt.arg.addr": fmt.Sprintf("127.0.0.1:%d", port), "evt.res": "SUCCESS",
		"proc.name": "bash", "fd.connected": "true",
	}
	for f, w := range checks {
		if got := field(a, f); got != w {
			t.Errorf("%s = %q, want %q", f, got, w)
		}
	}
	if !strings.HasSuffix(field(a, "fd.name"), fmt.Sprintf("->127.0.0.1:%d", port)) {
		t.Errorf("fd.name = %q", field(a, "fd.name"))
	}
}

func TestLiveMemfdExec(t *testing.T) {
	le := startLive(t, defaultRules(t), runtime.LiveOptions{})
	run(t, helper("memfd-exec", "/bin/true"))
	a := le.wait(t, "the memfd exec", func(a runtime.Alert) bool { return a.Rule.Name == "Fileless execution from memfd" })
	if field(a, "proc.is_exe_from_memfd") != "true" || !strings.HasPrefix(field(a, "proc.exepath"), "memfd:peregrine-test") {
		t.Errorf("is_exe_from_memfd %q exepath %q", field(a, "proc.is_exe_from_memfd"), field(a, "proc.exepath"))
	}
}

// TestLiveRecordReplay records a live run of the default rules that
// performs a few alerting actions, then runs the recording through the
// other two sources of the one pipeline: replay's (runtime.Replay) and
// `peregrine test`'s (a Peregrine test file whose cases are the recorded
// events, run by ruletest.RunFile). Each must raise the live alerts,
// rule and text, event by event; with rule matching first, each must
// raise the first of them. A rule after the default ones alerts on the
// shadow read too, so that an event raises two alerts.
func TestLiveRecordReplay(t *testing.T) {
	dir := t.TempDir()
	extraFile := filepath.Join(dir, "extra.yaml")
	extra := []byte("- rule: Shadow opened\n  desc: d\n  condition: evt.type = openat and fd.name = /etc/shadow and proc.name = cat\n" +
		"  output: shadow opened by %proc.name (%proc.cmdline)\n  priority: notice\n")
	if err := os.WriteFile(extraFile, extra, 0o644); err != nil {
		t.Fatal(err)
	}
	l := falcocompat.NewLoader()
	name, src := rules.Default()
	l.AddFile(name, src)
	l.AddFile(extraFile, extra)
	res := l.Compile()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	rs := res.Ruleset
	var rec bytes.Buffer
	le := startLive(t, rs, runtime.LiveOptions{Record: &rec})
	run(t, exec.Command("/bin/sh", "-c", "cat /etc/shadow >/dev/null; ln -s /etc/shadow "+filepath.Join(dir, "s")+"; true"))
	run(t, helper("memfd-exec", "/bin/true"))
	run(t, helper("ptrace-traceme"))
	for _, w := range []string{"Credential file read by untrusted program", "Shadow opened", "Link created to sensitive file",
		"Fileless execution from memfd", "Anti-debugging with PTRACE_TRACEME"} {
		le.wait(t, w, func(a runtime.Alert) bool { return a.Rule.Name == w })
	}
	le.stop()
	recording := rec.Bytes()

	// The live alerts, in order and by event.
	var live []string
	byEvent := map[string][]runtime.Alert{}
	for _, a := range le.alerts {
		live = append(live, alertText(a))
		n := eventNum(t, a.Event)
		byEvent[n] = append(byEvent[n], a)
	}

	// replay's code path.
	replay := func(m runtime.Matching) []runtime.Alert {
		pipe, err := runtime.NewPipeline(rs, m)
		if err != nil {
			t.Fatal(err)
		}
		var out []runtime.Alert
		err = runtime.Replay(pipe, "recording", bytes.NewReader(recording), func(a runtime.Alert) error {
			out = append(out, a)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var replayed []string
	for _, a := range replay(runtime.MatchAll) {
		replayed = append(replayed, alertText(a))
	}
	if strings.Join(live, "\n") != strings.Join(replayed, "\n") {
		t.Errorf("live alerts:\n%s\nreplayed:\n%s", strings.Join(live, "\n"), strings.Join(replayed, "\n"))
	}
	if len(live) < 5 {
		t.Errorf("want at least the two shadow read, the link, memfd and traceme alerts, got %v", live)
	}
	var first, wantFirst []string
	for _, a := range replay(runtime.MatchFirst) {
		first = append(first, alertText(a))
	}
	seen := map[string]bool{}
	for _, a := range le.alerts {
		if n := eventNum(t, a.Event); !seen[n] {
			seen[n] = true
			wantFirst = append(wantFirst, alertText(a))
		}
	}
	if len(wantFirst) == len(live) {
		t.Errorf("no event raised two alerts: %v", live)
	}
	if strings.Join(first, "\n") != strings.Join(wantFirst, "\n") {
		t.Errorf("replayed with rule matching first:\n%s\nwant the first live alert of each event:\n%s", strings.Join(first, "\n"), strings.Join(wantFirst, "\n"))
	}

	// peregrine test's code path: a test file whose cases are the recorded
	// events (JSON is YAML) with the live alerts and outputs, checked
	// against the reference evaluator too.
	rulesFile, err := filepath.Abs(filepath.Join("..", "rules", "peregrine_rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"all", "first"} {
		var tf strings.Builder
		fmt.Fprintf(&tf, "rules: [%q, %q]\nrule_matching: %s\ncases:\n", rulesFile, extraFile, m)
		cases := 0
		for _, line := range bytes.Split(recording, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var num struct {
				Num json.Number `json:"evt.num"`
			}
			if err := json.Unmarshal(line, &num); err != nil {
				t.Fatal(err)
			}
			alerts := byEvent[num.Num.String()]
			if m == "first" && len(alerts) > 1 {
				alerts = alerts[:1]
			}
			names, outputs := []string{}, []string{}
			for _, a := range alerts {
				names = append(names, strconv.Quote(a.Rule.Name))
				outputs = append(outputs, strconv.Quote(a.Output))
			}
			cases++
			fmt.Fprintf(&tf, "  - name: event %s\n    event: %s\n    alerts: [%s]\n    outputs: [%s]\n",
				num.Num, line, strings.Join(names, ", "), strings.Join(outputs, ", "))
		}
		path := filepath.Join(dir, "recording_"+m+"_test.yaml")
		if err := os.WriteFile(path, []byte(tf.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		results, _ := ruletest.RunFile(path)
		failed := 0
		for _, r := range results {
			if !r.Pass() {
				if failed++; failed <= 10 {
					t.Errorf("peregrine test, rule matching %s: %s: %s: %s", m, r.Name, r.Status, r.Message)
				}
			}
		}
		if len(results) != cases {
			t.Errorf("peregrine test, rule matching %s: %d results for %d recorded events", m, len(results), cases)
		}
		if failed > 10 {
			t.Errorf("... and %d more failures", failed-10)
		}
		t.Logf("peregrine test, rule matching %s: %d recorded events, %d cases passed", m, cases, len(results)-failed)
	}
	t.Logf("%d live alerts", len(live))
}

// alertText is an alert's rule and output.
func alertText(a runtime.Alert) string { return a.Rule.Name + "|" + a.Output }

// eventNum is an event's evt.num, as text.
func eventNum(t *testing.T, ev *policy.Event) string {
	t.Helper()
	v, ok := ev.Raw("evt.num")
	if !ok {
		t.Fatal("an alert's event has no evt.num")
	}
	return fmt.Sprint(v)
}

// TestLiveRingBufferOverflow floods a deliberately small ring buffer: the
// loss must be counted and detection must go on.
func TestLiveRingBufferOverflow(t *testing.T) {
	le := startLive(t, defaultRules(t), runtime.LiveOptions{RingBufferSize: os.Getpagesize()})
	dir := t.TempDir()
	target := filepath.Join(dir, "f")
	os.WriteFile(target, nil, 0o644)
	run(t, exec.Command("/bin/sh", "-c", "i=0; while [ $i -lt 3000 ]; do : < "+target+"; i=$((i+1)); done"))
	deadline := time.Now().Add(5 * time.Second)
	var m runtime.Metrics
	for time.Now().Before(deadline) {
		var err error
		if m, err = le.live.Metrics(); err != nil {
			t.Fatal(err)
		}
		if m.Kernel.EventsLost > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m.Kernel.EventsLost == 0 {
		t.Fatalf("no loss counted after a burst into a %d-byte ring buffer: %+v", os.Getpagesize(), m)
	}
	// Detection goes on: a later shadow read alerts. Other activity on the
	// machine can fill so small a buffer too, so try a few times.
	found := func(a runtime.Alert) bool {
		return a.Rule.Name == "Credential file read by untrusted program" && field(a, "proc.name") == "cat"
	}
	for i := 0; i < 20 && !le.has(found); i++ {
		run(t, exec.Command("/bin/sh", "-c", "cat /etc/shadow > /dev/null; true"))
		time.Sleep(200 * time.Millisecond)
	}
	le.wait(t, "a shadow read after the overflow", found)
}

// stillLoaded returns the ids among ids that the kernel still has.
func stillLoaded(ids []ebpf.ProgramID) []ebpf.ProgramID {
	var out []ebpf.ProgramID
	for _, id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err == nil {
			p.Close()
			out = append(out, id)
		}
	}
	return out
}

// TestLiveDetach checks that stopping the engine leaves none of the
// capture's programs loaded (a program stays loaded while any link or fd
// holds it, so this covers the links too).
func TestLiveDetach(t *testing.T) {
	le := startLive(t, defaultRules(t), runtime.LiveOptions{})
	ids := le.live.ProgramIDs()
	if len(ids) != 11 || len(stillLoaded(ids)) != 11 {
		t.Fatalf("program ids %v while running", ids)
	}
	le.stop()
	// The kernel frees programs after an RCU grace period: poll.
	deadline := time.Now().Add(10 * time.Second)
	for len(stillLoaded(ids)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := stillLoaded(ids); len(left) > 0 {
		t.Errorf("programs %v still loaded after stop", left)
	}
}

// TestLiveRegoRule checks a Rego rule end to end: loaded through
// policy/rego, pushed into the kernel filter, alerting live.
func TestLiveRegoRule(t *testing.T) {
	loaded, err := rego.Load(map[string][]byte{"shadow.rego": []byte(`# METADATA
# title: Shadow read (Rego)
# custom:
#   priority: Critical
#   output: "rego shadow read by %proc.name file=%fd.name"
package peregrine.shadow

alert if {
	input.evt.type == "openat"
	input.proc.name == "cat"
	startswith(input.fd.name, "/etc/shadow")
}
`)})
	if err != nil {
		t.Fatal(err)
	}
	rules := loaded.Rules
	le := startLive(t, &policy.Ruleset{Rules: rules}, runtime.LiveOptions{})
	run(t, exec.Command("/bin/sh", "-c", "cat /etc/shadow > /dev/null; true"))
	a := le.wait(t, "the Rego rule", func(a runtime.Alert) bool { return a.Rule.Name == "Shadow read (Rego)" })
	if a.Output != "rego shadow read by cat file=/etc/shadow" || a.Rule.Priority != policy.PriorityCritical {
		t.Errorf("alert %q priority %s", a.Output, a.Rule.Priority)
	}
	sp := le.live.Plan().Preds[0]
	if len(sp) != 1 || sp[0].Pred.Comm.All || sp[0].Pred.Path.All {
		t.Errorf("the Rego rule's kernel predicate checks no comm or path: %v", sp)
	}
}

// TestLiveReload swaps the ruleset of a running engine: the new rules
// alert, the old ones no longer do, and a ruleset that does not compile
// leaves the running one in place.
func TestLiveReload(t *testing.T) {
	first := loadRules(t, "a.yaml", []byte("- rule: Cat of shadow\n  desc: d\n  condition: evt.type = openat and proc.name = cat and fd.name = /etc/shadow\n  output: o\n  priority: warning\n"))
	second := loadRules(t, "b.yaml", []byte("- rule: Head of shadow\n  desc: d\n  condition: evt.type = openat and proc.name = head and fd.name = /etc/shadow\n  output: o\n  priority: warning\n"))
	le := startLive(t, first, runtime.LiveOptions{})
	run(t, exec.Command("cat", "/etc/shadow"))
	le.wait(t, "the first ruleset", func(a runtime.Alert) bool { return a.Rule.Name == "Cat of shadow" })
	if _, err := le.live.Reload(second); err != nil {
		t.Fatal(err)
	}
	run(t, exec.Command("head", "-c1", "/etc/shadow"))
	le.wait(t, "the reloaded ruleset", func(a runtime.Alert) bool { return a.Rule.Name == "Head of shadow" })
	before := len(le.alerts)
	run(t, exec.Command("cat", "/etc/shadow"))
	time.Sleep(300 * time.Millisecond)
	le.mu.Lock()
	for _, a := range le.alerts[before:] {
		if a.Rule.Name == "Cat of shadow" {
			t.Errorf("the replaced rule still alerts")
		}
	}
	le.mu.Unlock()
	// A broken ruleset (a comparison no evaluator can prepare) is refused.
	broken := &policy.Ruleset{Rules: []*policy.Rule{{Name: "broken", Enabled: true, Condition: &policy.Compare{
		Left: policy.FieldRef{Field: policy.LookupField("user.uid"), Index: -1}, Op: policy.OpEq, Values: []string{"root"}}}}}
	if _, err := le.live.Reload(broken); err == nil {
		t.Fatal("a ruleset that does not compile was accepted")
	}
	run(t, exec.Command("head", "-c1", "/etc/shadow"))
	heads := func() int {
		le.mu.Lock()
		defer le.mu.Unlock()
		n := 0
		for _, a := range le.alerts {
			if a.Rule.Name == "Head of shadow" {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); heads() < 2 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if n := heads(); n < 2 {
		t.Errorf("%d alerts of the running rule after a refused reload, want 2", n)
	}
}

// TestReloadsWithQueuedRecords floods the engine with records that all
// alert and reloads the rules many times while they are still queued, each
// plan numbering its classes differently: every record must be evaluated
// with the plan that judged it (or against every rule, once that plan is
// no longer kept), so that not one alert is lost.
func TestReloadsWithQueuedRecords(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rule := fmt.Sprintf("- rule: Marker open\n  desc: d\n  condition: evt.type = openat and fd.name = %s\n  output: \"%%fd.name\"\n  priority: notice\n", marker)
	name, def := rules.Default()
	// The marker rule first, in the middle, last: its kernel class differs
	// in each, and so between plans that follow each other in one of the
	// kernel's two generations of maps.
	mid := strings.Index(string(def), "\n- rule: Write below etc")
	variants := []*policy.Ruleset{
		loadRules(t, "first.yaml", append([]byte(rule), def...)),
		loadRules(t, name, []byte(string(def[:mid+1])+rule+string(def[mid+1:]))),
		loadRules(t, name, append(append([]byte{}, def...), rule...)),
	}
	le := startLive(t, variants[0], runtime.LiveOptions{RingBufferSize: 256 << 20})
	markers := func() int {
		le.mu.Lock()
		defer le.mu.Unlock()
		n := 0
		for _, a := range le.alerts {
			if a.Rule.Name == "Marker open" {
				n++
			}
		}
		return n
	}
	const opens = 200000
	burst := helper("open-burst", marker, strconv.Itoa(opens))
	if err := burst.Start(); err != nil {
		t.Fatal(err)
	}
	// Reload while the burst's records wait in the ring buffer: more
	// reloads than Live keeps plans.
	var atLastReload int
	for i := 1; i <= 12; i++ {
		time.Sleep(40 * time.Millisecond)
		if _, err := le.live.Reload(variants[i%len(variants)]); err != nil {
			t.Fatal(err)
		}
		atLastReload = markers()
	}
	if err := burst.Wait(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); markers() < opens && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	m, err := le.live.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if m.Kernel.EventsLost > 0 {
		t.Fatalf("%d records lost to a full ring buffer: the test needs them all", m.Kernel.EventsLost)
	}
	if atLastReload >= opens {
		t.Fatalf("every alert had arrived by the last reload: no record was queued across the reloads")
	}
	t.Logf("%d of %d alerts had arrived at the last reload", atLastReload, opens)
	if n := markers(); n != opens {
		t.Errorf("%d alerts for %d opens of the marker: %d lost across the reloads", n, opens, opens-n)
	}
}
