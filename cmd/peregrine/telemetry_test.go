package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/bpf"
	"github.com/peregrine-sec/peregrine/internal/machinelock"
	"github.com/peregrine-sec/peregrine/internal/peertest"
	"github.com/peregrine-sec/peregrine/telemetry"
)

// telemetryRules fire "Telemetry hot" on every open a shell named
// pgtel-hot makes of its directory's hot file, and "Telemetry cold" on a
// shell named pgtel-cold's.
func telemetryRules(t *testing.T, dir string) string {
	t.Helper()
	rules := fmt.Sprintf(`- rule: Telemetry hot
  desc: opens of the hot file
  condition: evt.type in (openat, open) and proc.name = pgtel-hot and fd.name startswith %[1]s/hot
  output: hot open %%fd.name
  priority: WARNING
  tags: [telemetry_test]
- rule: Telemetry cold
  desc: opens of the cold file
  condition: evt.type in (openat, open) and proc.name = pgtel-cold and fd.name startswith %[1]s/cold
  output: cold open %%fd.name
  priority: NOTICE
`, dir)
	path := filepath.Join(dir, "telemetry_rules.yaml")
	if err := os.WriteFile(path, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"hot", "cold"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		sh, err := os.ReadFile("/bin/sh")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "pgtel-"+n), sh, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// opens makes the shell named pgtel-NAME open the file NAME n times (a
// redirection: an openat the shell itself makes).
func opens(t *testing.T, dir, name string, n int) {
	t.Helper()
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do : < %s; i=$((i+1)); done`, n, filepath.Join(dir, name))
	if out, err := exec.Command(filepath.Join(dir, "pgtel-"+name), "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("pgtel-%s: %v: %s", name, err, out)
	}
}

// agent is a running `peregrine run` with telemetry.
type agent struct {
	cmd          *exec.Cmd
	alerts, logs *lines
	metrics      string // host:port of its scrape endpoint
	exited       chan struct{}
	exitErr      error
}

func startAgent(t *testing.T, args ...string) *agent {
	t.Helper()
	port := peertest.FreePort(t)
	a := &agent{metrics: fmt.Sprintf("127.0.0.1:%d", port), exited: make(chan struct{})}
	a.cmd, a.alerts, a.logs = startCLI(t, os.Args[0], append([]string{"run", "--json", "--metrics-listen", fmt.Sprint(port)}, args...)...)
	go func() { a.exitErr = a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		a.stop(t)
		if t.Failed() {
			t.Logf("agent stderr:\n%s", a.logs.text())
		}
	})
	a.logs.waitFor(t, "the agent's metrics endpoint", nil, "metrics on http://"+a.metrics+"/metrics")
	a.logs.waitFor(t, "the capture", nil, "capturing")
	return a
}

func (a *agent) stop(t *testing.T) {
	select {
	case <-a.exited:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-a.exited:
		if a.exitErr != nil {
			t.Errorf("peregrine run exited with %v", a.exitErr)
		}
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		t.Error("peregrine run does not stop on SIGINT")
	}
}

// scrape returns the agent's /metrics text.
func (a *agent) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + a.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitQuery polls Prometheus until the query returns a sample whose value
// ok accepts, and returns it.
func waitQuery(t *testing.T, p *peertest.Prometheus, q string, ok func(float64) bool) peertest.Sample {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last []peertest.Sample
	var err error
	for time.Now().Before(deadline) {
		last, err = p.Query(q)
		for _, s := range last {
			if ok(s.Value) {
				return s
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("prometheus: %s never gave an accepted value: last %v (error %v)", q, last, err)
	return peertest.Sample{}
}

// TestTelemetryEndToEnd runs the agent under a live load with a real
// Prometheus scraping its endpoint and a real Jaeger v2 receiving its
// traces by OTLP, and finds through their query APIs the per-rule series
// (under Peregrine's and Falco's names), the kernel's BPF statistics, the
// compile spans and per-rule spans with their attributes, and the trace of
// an alert by the trace id the alert carries.
func TestTelemetryEndToEnd(t *testing.T) {
	requireRoot(t)
	// It counts every event of its load: not beside a test loading the
	// whole machine.
	machinelock.Hold(t)
	jaeger := peertest.StartJaeger(t)
	dir := t.TempDir()
	rules := telemetryRules(t, dir)
	a := startAgent(t, "-r", rules, "--otlp-endpoint", "http://"+jaeger.OTLPGRPC, "--metrics-exporter", "none",
		"--trace-sample-ratio", "0.01", "--rule-timing-every", "16")
	prom := peertest.StartPrometheus(t, a.metrics)

	const hot = 3000
	opens(t, dir, "hot", hot)
	opens(t, dir, "cold", 1)
	a.alerts.waitFor(t, "the cold alert", nil, `"rule":"Telemetry cold"`)

	// Peregrine's per-rule series, with the rule attributes.
	s := waitQuery(t, prom, `peregrine_rule_matches_total{security_rule_name="Telemetry hot"}`, func(v float64) bool { return v >= hot })
	for k, want := range map[string]string{"security_rule_ruleset_name": "telemetry_rules.yaml", "peregrine_rule_source": "yaml",
		"peregrine_rule_stage": "kernel", "security_rule_priority": "Warning", "job": "peregrine"} {
		if got := s.Labels[k]; got != want {
			t.Errorf("peregrine_rule_matches_total: label %s = %q, want %q (labels %v)", k, got, want, s.Labels)
		}
	}
	waitQuery(t, prom, `peregrine_rule_matches_total{security_rule_name="Telemetry cold"}`, func(v float64) bool { return v == 1 })
	waitQuery(t, prom, `peregrine_rule_evaluations_total{security_rule_name="Telemetry hot"}`, func(v float64) bool { return v >= hot })
	waitQuery(t, prom, `peregrine_rule_kernel_passed_total{security_rule_name="Telemetry hot"}`, func(v float64) bool { return v >= hot })
	waitQuery(t, prom, `peregrine_rule_userspace_time_seconds_total{security_rule_name="Telemetry hot"}`, func(v float64) bool { return v > 0 })
	waitQuery(t, prom, `peregrine_rule_userspace_timed_total{security_rule_name="Telemetry hot"}`, func(v float64) bool { return v >= hot/16/2 })
	waitQuery(t, prom, `peregrine_rule_userspace_duration_seconds_count{security_rule_name="Telemetry hot"}`, func(v float64) bool { return v >= hot/16/2 })
	waitQuery(t, prom, `peregrine_rule_userspace_duration_seconds_bucket{security_rule_name="Telemetry hot",le="+Inf"}`, func(v float64) bool { return v >= hot/16/2 })
	// Falco's names, for the dashboards made for Falco.
	f := waitQuery(t, prom, `falcosecurity_falco_rules_matches_total{rule_name="Telemetry hot"}`, func(v float64) bool { return v >= hot })
	if f.Labels["priority"] != "Warning" || f.Labels["source"] != "syscall" || f.Labels["tags"] != "telemetry_test" {
		t.Errorf("falcosecurity_falco_rules_matches_total labels %v", f.Labels)
	}
	waitQuery(t, prom, `falcosecurity_scap_n_evts_total`, func(v float64) bool { return v >= hot })
	waitQuery(t, prom, `falcosecurity_scap_n_drops_total`, func(v float64) bool { return v >= 0 })
	// The kernel: counters, BPF statistics, the ring buffer, the process.
	waitQuery(t, prom, `peregrine_kernel_syscalls_total{peregrine_kernel_state="filtered"}`, func(v float64) bool { return v > 0 })
	waitQuery(t, prom, `peregrine_kernel_syscall_events_total{peregrine_syscall="openat"}`, func(v float64) bool { return v >= hot })
	waitQuery(t, prom, `sum(peregrine_kernel_bpf_run_time_seconds_total)`, func(v float64) bool { return v > 0 })
	waitQuery(t, prom, `sum(peregrine_kernel_bpf_run_count_total)`, func(v float64) bool { return v >= 2*hot })
	waitQuery(t, prom, `peregrine_ringbuffer_size_bytes`, func(v float64) bool { return v == 8<<20 })
	waitQuery(t, prom, `peregrine_process_memory_rss_bytes`, func(v float64) bool { return v > 1<<20 })
	waitQuery(t, prom, `sum(peregrine_process_cpu_time_seconds_total)`, func(v float64) bool { return v > 0 })

	// A reload compiles again: a second compile span.
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	a.logs.waitFor(t, "the reload", nil, "reloaded")

	// Traces: the compiles with their passes, and sampled events with a
	// span per rule evaluated.
	var compile [][]peertest.Span
	var events [][]peertest.Span
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		compile, err = jaeger.Traces("peregrine", "peregrine.rules.compile", 5)
		if err != nil {
			t.Fatal(err)
		}
		events, err = jaeger.Traces("peregrine", "peregrine.event", 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(compile) >= 2 && len(events) >= 5 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(compile) < 2 {
		t.Fatalf("jaeger has %d peregrine.rules.compile traces, want 2 (the start and the reload)", len(compile))
	}
	passes := map[string]bool{}
	for _, sp := range compile[0] {
		if p := sp.Tag("peregrine.compiler.pass"); p != "" {
			passes[p] = true
		}
		if sp.OperationName == "peregrine.rules.compile" && sp.Tag("peregrine.rules") != "2" {
			t.Errorf("compile span: peregrine.rules = %q, want 2", sp.Tag("peregrine.rules"))
		}
		if sp.OperationName == "peregrine.compiler.group-classes" && sp.Tag("peregrine.classes") == "" {
			t.Error("the group-classes pass span has no peregrine.classes")
		}
	}
	for _, p := range []string{"select-rules", "normalize", "split-kernel-predicates", "group-classes", "encode-maps", "build-tree"} {
		if !passes[p] {
			t.Errorf("no span for compiler pass %s (have %v)", p, passes)
		}
	}
	if len(events) < 5 {
		t.Fatalf("jaeger has %d peregrine.event traces, want at least 5 of the ~%d sampled", len(events), hot/100)
	}
	ruleSpans, opensTraced, hotMatched := 0, 0, 0
	for _, tr := range events {
		var root, proc, sc string
		for _, sp := range tr {
			if sp.OperationName == "peregrine.event" {
				root, proc, sc = sp.SpanID, sp.Tag("process.executable.name"), sp.Tag("peregrine.syscall")
			}
		}
		// An open reaches userspace for a rule's class; a state syscall
		// (chdir, for the process table) may be evaluated for none.
		rules := 0
		for _, sp := range tr {
			if sp.OperationName == "peregrine.rule" {
				rules++
			}
		}
		if sc == "openat" || sc == "open" {
			opensTraced++
			if rules == 0 {
				t.Errorf("a traced %s (by %q) has no rule span", sc, proc)
			}
		}
		for _, sp := range tr {
			if sp.OperationName != "peregrine.rule" {
				continue
			}
			ruleSpans++
			if len(sp.References) == 0 || sp.References[0].SpanID != root {
				t.Errorf("rule span %s is not a child of its event span %s", sp.SpanID, root)
			}
			if sp.Tag("security_rule.name") == "Telemetry hot" && sp.Tag("peregrine.rule.matched") == "true" {
				// Processes the capture saw no exec of pass the kernel's
				// name check (unknown passes): only a match is the shell's.
				hotMatched++
				if proc != "pgtel-hot" {
					t.Errorf("the event span of a hot open says process.executable.name=%q", proc)
				}
				if sp.Tag("peregrine.rule.stage") != "kernel" ||
					sp.Tag("peregrine.rule.source") != "yaml" || sp.Tag("security_rule.ruleset.name") != "telemetry_rules.yaml" {
					t.Errorf("rule span tags %+v", sp.Tags)
				}
			}
		}
	}
	t.Logf("jaeger: %d compile pass spans, %d event traces (%d opens) with %d rule spans, %d matches of the hot rule", len(passes), len(events), opensTraced, ruleSpans, hotMatched)
	if hotMatched < 5 {
		t.Errorf("%d traced matches of the hot rule in %d event traces, want at least 5 of the ~%d", hotMatched, len(events), hot/100)
	}

	// An alert of a sampled event carries its trace id, which Jaeger knows.
	re := regexp.MustCompile(`"trace_id":"([0-9a-f]{32})"`)
	var traceID string
	for _, line := range strings.Split(a.alerts.text(), "\n") {
		if m := re.FindStringSubmatch(line); m != nil && strings.Contains(line, "Telemetry hot") {
			traceID = m[1]
			break
		}
	}
	if traceID == "" {
		t.Fatal("no alert carries a trace_id")
	}
	var tr struct {
		Data []struct {
			Spans []peertest.Span `json:"spans"`
		} `json:"data"`
	}
	resp, err := http.Get(jaeger.QueryURL + "/api/traces/" + traceID)
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if err != nil || len(tr.Data) == 0 {
		t.Fatalf("jaeger does not know the alert's trace %s: %v", traceID, err)
	}
	found := false
	for _, sp := range tr.Data[0].Spans {
		found = found || (sp.OperationName == "peregrine.rule" && sp.Tag("security_rule.name") == "Telemetry hot" && sp.Tag("peregrine.rule.matched") == "true")
	}
	if !found {
		t.Errorf("the alert's trace %s has no matching span of its rule", traceID)
	}
}

// TestTelemetryUnreachableCollector points the agent at a collector that
// is not there: detection goes on (every alert arrives), and the spans
// that could not be exported are counted as dropped.
func TestTelemetryUnreachableCollector(t *testing.T) {
	requireRoot(t)
	// It counts every event of its load: not beside a test loading the
	// whole machine.
	machinelock.Hold(t)
	dir := t.TempDir()
	rules := telemetryRules(t, dir)
	dead := peertest.FreePort(t)
	a := startAgent(t, "-r", rules, "--otlp-endpoint", fmt.Sprintf("http://127.0.0.1:%d", dead), "--trace-sample-ratio", "1")
	const hot = 2000
	start := time.Now()
	opens(t, dir, "hot", hot)
	deadline := time.Now().Add(20 * time.Second)
	for a.alerts.count(`"rule":"Telemetry hot"`) < hot && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := a.alerts.count(`"rule":"Telemetry hot"`); n != hot {
		t.Fatalf("%d alerts of %d with an unreachable collector", n, hot)
	}
	t.Logf("%d alerts in %v with an unreachable collector", hot, time.Since(start))
	re := regexp.MustCompile(`(?m)^peregrine_telemetry_spans_dropped_total(?:\{[^}]*\})? (\S+)`)
	deadline = time.Now().Add(20 * time.Second)
	for {
		m := re.FindStringSubmatch(a.scrape(t))
		if m != nil && m[1] != "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no spans counted as dropped: %v", m)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestTelemetryBadEnvironment checks that an invalid OTEL_* value stops
// run at start with an error naming the variable.
func TestTelemetryBadEnvironment(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct{ env, want string }{
		{"OTEL_EXPORTER_OTLP_PROTOCOL=carrier-pigeon", "OTLP protocol \"carrier-pigeon\""},
		{"OTEL_TRACES_SAMPLER_ARG=2", "OTEL_TRACES_SAMPLER_ARG"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:notaport", "OTLP endpoint"},
	} {
		cmd := exec.Command(os.Args[0], "run", "-r", telemetryRules(t, t.TempDir()))
		cmd.Env = append(os.Environ(), "PEREGRINE_RUN_MAIN=1", c.env)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%s: run started", c.env)
			continue
		}
		if !strings.Contains(string(out), c.want) || strings.Contains(string(out), "capturing") {
			t.Errorf("%s: output %q, want an error with %q before capturing", c.env, out, c.want)
		}
	}
}

// TestTopRanksHotRule fires one rule far more than the other and checks
// that `peregrine top --once --json` ranks it first by cost, and that the
// kernel ns per event it reports agrees within 20% with the BPF run-time
// statistics read independently from the kernel (the agent's programs'
// run_time_ns and run_cnt, over an interval holding top's).
func TestTopRanksHotRule(t *testing.T) {
	requireRoot(t)
	// It counts every event of its load: not beside a test loading the
	// whole machine.
	machinelock.Hold(t)
	dir := t.TempDir()
	rules := telemetryRules(t, dir)
	a := startAgent(t, "-r", rules, "--trace-sample-ratio", "0")
	// A steady load for the whole measurement: the hot rule's opens, in a
	// loop, and the cold rule's once.
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			opens(t, dir, "hot", 2000)
		}
	}()
	defer func() { close(stop); <-loadDone }()
	opens(t, dir, "cold", 1)
	a.alerts.waitFor(t, "the cold alert", nil, `"rule":"Telemetry cold"`)

	progs, err := bpf.SyscallProgramsOf(a.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, p := range progs {
			p.Close()
		}
	}()
	read := func() (ns, runs float64) {
		for _, p := range progs {
			st, err := p.Stats()
			if err != nil {
				t.Fatal(err)
			}
			ns += float64(st.Runtime.Nanoseconds())
			runs += float64(st.RunCount)
		}
		return ns, runs
	}
	ns0, runs0 := read()
	out, stderr, code := run(t, "", "top", "--agent", a.metrics, "--once", "--json", "--interval", "2s")
	ns1, runs1 := read()
	if code != 0 {
		t.Fatalf("top: exit %d: %s", code, stderr)
	}
	var top telemetry.Top
	if err := json.Unmarshal([]byte(out), &top); err != nil {
		t.Fatalf("top --json: %v: %q", err, out)
	}
	if len(top.Rules) != 2 {
		t.Fatalf("top lists %d rules, want 2: %s", len(top.Rules), out)
	}
	first := top.Rules[0]
	if first.Rule != "Telemetry hot" {
		t.Errorf("top ranks %q first, want Telemetry hot: %s", first.Rule, out)
	}
	if first.MatchesPerSec < 100 || first.CostNsPerSec <= top.Rules[1].CostNsPerSec || first.CPUShare <= 0 {
		t.Errorf("hot rule row %+v against %+v", first, top.Rules[1])
	}
	if runs1 <= runs0 {
		t.Fatalf("the agent's BPF programs did not run (run counts %v then %v): statistics off?", runs0, runs1)
	}
	kernel := (ns1 - ns0) / (runs1 - runs0)
	ratio := top.KernelNsPerEvent / kernel
	t.Logf("top: %.1f kernel ns/event; the kernel's BPF statistics: %.1f ns/run (%.0f runs); hot rule %+v", top.KernelNsPerEvent, kernel, runs1-runs0, first)
	if ratio < 0.8 || ratio > 1.2 {
		t.Errorf("top says %.1f kernel ns/event, the kernel's statistics %.1f: off by more than 20%%", top.KernelNsPerEvent, kernel)
	}
}

// TestMetricsSnapshots runs the agent with periodic snapshots to a file:
// each line is Falco's snapshot shape, with the rule's matches under
// Falco's key and Peregrine's figures beside them.
func TestMetricsSnapshots(t *testing.T) {
	requireRoot(t)
	machinelock.Hold(t)
	dir := t.TempDir()
	rules := telemetryRules(t, dir)
	snaps := filepath.Join(dir, "snapshots.jsonl")
	startAgent(t, "-r", rules, "--metrics-snapshot-file", snaps, "--metrics-snapshot-interval", "300ms")
	const hot = 500
	opens(t, dir, "hot", hot)
	deadline := time.Now().Add(20 * time.Second)
	var last telemetry.SnapshotLine
	for {
		b, _ := os.ReadFile(snaps)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 0 && lines[len(lines)-1] != "" {
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
				t.Fatalf("snapshot %q: %v", lines[len(lines)-1], err)
			}
			if n, _ := last.OutputFields["falco.rules.Telemetry hot"].(float64); n >= hot {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot counts %d matches of the hot rule; last %+v", hot, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if last.Rule != telemetry.SnapshotRule || last.Source != "internal" || last.Priority != "Informational" {
		t.Errorf("snapshot %+v", last)
	}
	for _, k := range []string{"scap.n_evts", "scap.n_drops", "falco.outputs_queue_num_drops", "falco.memory_rss_bytes",
		"peregrine.rules.Telemetry hot.evaluations", "peregrine.rules.Telemetry hot.userspace_ns"} {
		if _, ok := last.OutputFields[k]; !ok {
			t.Errorf("snapshot has no %s: %v", k, last.OutputFields)
		}
	}
	if n, _ := last.OutputFields["scap.n_evts"].(float64); n < hot {
		t.Errorf("scap.n_evts %v, want at least %d", n, hot)
	}
}
