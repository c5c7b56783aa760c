package telemetry

import (
	"context"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/rules"
	"github.com/peregrine-sec/peregrine/runtime"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestFromEnv reads the standard variables, keeps what the configuration
// sets over them, and names the variable of an invalid value.
func TestFromEnv(t *testing.T) {
	c, err := FromEnv(Config{Protocol: ProtocolHTTP}, envOf(map[string]string{
		"OTEL_SERVICE_NAME":           "agent-7",
		"OTEL_RESOURCE_ATTRIBUTES":    "host.name=node%201,deployment.environment=prod",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/base/",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":     "0.25",
		"OTEL_BSP_MAX_QUEUE_SIZE":     "100",
		"OTEL_METRIC_EXPORT_INTERVAL": "1500",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ServiceName != "agent-7" || c.ResourceAttributes["host.name"] != "node 1" || c.ResourceAttributes["deployment.environment"] != "prod" {
		t.Errorf("resource: %q %v", c.ServiceName, c.ResourceAttributes)
	}
	if c.Protocol != ProtocolHTTP {
		t.Errorf("protocol %q: the configuration's http/protobuf should win over the variable", c.Protocol)
	}
	if c.TracesExporter != ExporterOTLP || c.MetricsExporter != ExporterOTLP || !c.Enabled() {
		t.Errorf("an endpoint should turn on OTLP export: %+v", c)
	}
	if hp, secure, err := c.endpoint(); err != nil || hp != "collector:4318" || secure || c.urlPath() != "/base" {
		t.Errorf("endpoint %q %v %v, path %q", hp, secure, err, c.urlPath())
	}
	if c.Sampler != "parentbased_traceidratio" || c.SamplerArg != 0.25 || c.QueueSize != 100 || c.MetricInterval != 1500*time.Millisecond {
		t.Errorf("sampler %q %v, queue %d, interval %v", c.Sampler, c.SamplerArg, c.QueueSize, c.MetricInterval)
	}

	tr, err := FromEnv(Config{}, envOf(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example:443/v1/traces"}))
	if err != nil || tr.TracesExporter != ExporterOTLP || exporting(tr.MetricsExporter) || !tr.envTraces {
		t.Errorf("a traces endpoint alone: %+v, %v", tr, err)
	}

	off, err := FromEnv(Config{}, envOf(nil))
	if err != nil || off.Enabled() {
		t.Errorf("no configuration: enabled %v, %v", off.Enabled(), err)
	}

	for _, bad := range []struct{ k, v, want string }{
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "OTLP protocol"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector:21", "http:// or https://"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://:4317", "no host"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:99999", "no port number"},
		{"OTEL_TRACES_SAMPLER", "sometimes", "traces sampler"},
		{"OTEL_TRACES_SAMPLER_ARG", "1.5", "OTEL_TRACES_SAMPLER_ARG"},
		{"OTEL_TRACES_EXPORTER", "zipkin", "traces exporter"},
		{"OTEL_RESOURCE_ATTRIBUTES", "novalue", "OTEL_RESOURCE_ATTRIBUTES"},
		{"OTEL_SDK_DISABLED", "maybe", "OTEL_SDK_DISABLED"},
		{"OTEL_BSP_MAX_QUEUE_SIZE", "-3", "OTEL_BSP_MAX_QUEUE_SIZE"},
	} {
		_, err := FromEnv(Config{}, envOf(map[string]string{bad.k: bad.v}))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s=%s: error %v, want one with %q", bad.k, bad.v, err, bad.want)
		}
	}
	if c, err := FromEnv(Config{MetricsListen: "9464"}, envOf(map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"})); err != nil ||
		exporting(c.TracesExporter) || c.MetricsListen != "9464" {
		t.Errorf("OTEL_SDK_DISABLED: %+v, %v", c, err)
	}
}

// TestListenAddrLoopback: a scrape address without a host listens on
// loopback only.
func TestListenAddrLoopback(t *testing.T) {
	for in, want := range map[string]string{"9464": "127.0.0.1:9464", ":9464": "127.0.0.1:9464", "0.0.0.0:9464": "0.0.0.0:9464", "[::1]:80": "[::1]:80"} {
		c := Config{MetricsListen: in}
		if err := c.Validate(); err != nil || c.MetricsListen != want {
			t.Errorf("%q: %q, %v; want %q", in, c.MetricsListen, err, want)
		}
	}
	for _, in := range []string{"localhost", "1.2.3.4:http-alt", "99999"} {
		c := Config{MetricsListen: in}
		if err := c.Validate(); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

// TestComputeTop reads an exposition and computes rates and the ranking.
func TestComputeTop(t *testing.T) {
	a, err := ParseExposition(strings.NewReader(`# HELP x
peregrine_rule_kernel_passed_total{peregrine_rule_stage="kernel",security_rule_name="A \"quoted\", rule"} 100
peregrine_rule_userspace_time_seconds_total{security_rule_name="A \"quoted\", rule"} 0.001
peregrine_rule_kernel_passed_total{security_rule_name="B"} 10
peregrine_kernel_bpf_run_time_seconds_total{peregrine_bpf_program="raw_sys_enter"} 1
peregrine_kernel_bpf_run_count_total{peregrine_bpf_program="raw_sys_enter"} 1e6
peregrine_process_cpu_time_seconds_total{cpu_mode="user"} 2
`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseExposition(strings.NewReader(`peregrine_rule_kernel_passed_total{peregrine_rule_stage="kernel",security_rule_name="A \"quoted\", rule"} 1100
peregrine_rule_userspace_time_seconds_total{security_rule_name="A \"quoted\", rule"} 0.002
peregrine_rule_matches_total{security_rule_name="A \"quoted\", rule"} 50
peregrine_rule_kernel_passed_total{security_rule_name="B"} 20
peregrine_rule_userspace_time_seconds_total{security_rule_name="B"} 0.5
peregrine_kernel_bpf_run_time_seconds_total{peregrine_bpf_program="raw_sys_enter"} 1.2
peregrine_kernel_bpf_run_count_total{peregrine_bpf_program="raw_sys_enter"} 2e6
peregrine_process_cpu_time_seconds_total{cpu_mode="user"} 2.3
`))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(100, 0)
	top := Compute(NewSnapshot(t0, a), NewSnapshot(t0.Add(2*time.Second), b))
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }
	if !near(top.KernelNsPerEvent, 200) {
		t.Errorf("kernel ns/event %v, want 200", top.KernelNsPerEvent)
	}
	if len(top.Rules) != 2 || top.Rules[0].Rule != "B" {
		t.Fatalf("rules %+v: want B (0.25 s/s of userspace) first", top.Rules)
	}
	r := top.Rules[1]
	if r.Rule != `A "quoted", rule` || !near(r.PassedPerSec, 500) || !near(r.KernelNsPerSec, 500*2*200) || r.MatchesPerSec != 25 || r.Stage != "kernel" {
		t.Errorf("rule A: %+v", r)
	}
	top.Sort("kernel")
	if top.Rules[0].Rule != r.Rule {
		t.Errorf("sorted by kernel: %s first", top.Rules[0].Rule)
	}
}

// TestCollectWhileEvaluating scrapes the Prometheus endpoint while a
// pipeline evaluates (run it with -race), then checks that the scrape
// after the last event counts every match under both names.
func TestCollectWhileEvaluating(t *testing.T) {
	name, src := rules.Default()
	ld := falcocompat.NewLoader()
	ld.AddFile(name, src)
	res := ld.Compile()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	pipe, err := runtime.NewPipeline(res.Ruleset, runtime.MatchFirst)
	if err != nil {
		t.Fatal(err)
	}
	tel, err := Setup(context.Background(), Config{MetricsListen: "127.0.0.1:0", TracesExporter: ExporterConsole, EventSampleRatio: 0.1}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	stats := runtime.NewStats(4)
	m, err := tel.RegisterMetrics(Sources{Stats: stats})
	if err != nil {
		t.Fatal(err)
	}
	m.SetOutputStats(func() []OutputStat { return []OutputStat{{Name: "stdout", Queued: 2, Dropped: 3}} })
	pipe.Observe(stats, tel.EventTracer(), TraceEvery(0.1))
	ev := policy.NewEvent()
	line := `{"evt.type":"openat","proc.name":"cat","fd.name":"/etc/shadow","fd.typechar":"f","fd.num":3,"evt.arg.flags":"O_RDONLY","evt.rawres":3,"proc.aname":["cat","bash","sshd"],"user.uid":0}`
	if err := policy.DecodeEventInto(ev, []byte(line), 1); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	done := make(chan int)
	go func() {
		alerts := 0
		for i := 0; i < n; i++ {
			alerts += len(pipe.Evaluate(&runtime.Input{Event: ev}, nil))
		}
		done <- alerts
	}()
	var alerts int
	for scraping := true; scraping; {
		select {
		case alerts = <-done:
			scraping = false
		default:
		}
		m.AddSuppressed("Credential file read by untrusted program", 1)
		if _, err := Scrape(context.Background(), tel.MetricsAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if alerts != n {
		t.Fatalf("%d alerts of %d events", alerts, n)
	}
	series, err := Scrape(context.Background(), tel.MetricsAddr())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range series {
		if s.Labels["security_rule_name"] == "Credential file read by untrusted program" || s.Labels["rule_name"] == "Credential file read by untrusted program" || s.Labels["peregrine_output"] == "stdout" {
			got[s.Name] = s.Value
		}
		if s.Name == "falcosecurity_falco_outputs_queue_num_drops_total" {
			got[s.Name] = s.Value
		}
	}
	for k, want := range map[string]float64{"peregrine_rule_matches_total": n, "falcosecurity_falco_rules_matches_total": n,
		"peregrine_rule_evaluations_total": n, "peregrine_output_dropped_total": 3, "peregrine_output_queued": 2,
		"falcosecurity_falco_outputs_queue_num_drops_total": 3} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if got["peregrine_rule_alerts_suppressed_total"] < 1 {
		t.Errorf("suppressed alerts %v", got["peregrine_rule_alerts_suppressed_total"])
	}
}
