package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/peregrine-sec/peregrine/bpf"
	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/loader"
	"github.com/peregrine-sec/peregrine/output"
	"github.com/peregrine-sec/peregrine/runtime"
	"github.com/peregrine-sec/peregrine/runtime/noise"
	"github.com/peregrine-sec/peregrine/telemetry"
)

// addTelemetryFlags adds run's telemetry flags; the OTEL_* environment
// variables fill what they leave unset.
func addTelemetryFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("metrics-listen", "", "serve Prometheus metrics on this address (/metrics); a bare port or :PORT listens on loopback only")
	f.String("otlp-endpoint", "", "export traces and metrics by OTLP to this collector URL (over OTEL_EXPORTER_OTLP_ENDPOINT)")
	f.String("otlp-protocol", "", "grpc or http/protobuf (over OTEL_EXPORTER_OTLP_PROTOCOL; default grpc)")
	f.String("traces-exporter", "", "otlp, console or none (over OTEL_TRACES_EXPORTER)")
	f.String("metrics-exporter", "", "otlp, console or none (over OTEL_METRICS_EXPORTER)")
	f.Float64("trace-sample-ratio", telemetry.DefaultEventSampleRatio, "share of evaluated events traced, with a span per rule evaluated (0: none)")
	f.Uint64("rule-timing-every", runtime.DefaultTimingEvery, "time each rule of one event in this many (per-rule userspace time is estimated from them)")
	f.Duration("metrics-interval", 0, "OTLP and console metric export interval (over OTEL_METRIC_EXPORT_INTERVAL; default 10s)")
	f.String("metrics-snapshot-file", "", "append a snapshot of the counters to this file every --metrics-snapshot-interval, one JSON line in the shape of Falco's metrics snapshot")
	f.Duration("metrics-snapshot-interval", 15*time.Minute, "time between snapshots (with --metrics-snapshot-file)")
}

// runTelemetry is a run's telemetry: nil methods do nothing when it is
// off, so run calls them unconditionally.
type runTelemetry struct {
	t       *telemetry.Telemetry
	metrics *telemetry.Metrics
	stats   *runtime.Stats
	start   context.Context
	span    trace.Span
	bpfStat io.Closer
	// Snapshots (--metrics-snapshot-file): the file, the interval, and
	// the loop's end.
	snapFile     *os.File
	snapInterval time.Duration
	snapStop     context.CancelFunc
	snapDone     chan struct{}
}

// startTelemetry reads the telemetry configuration (flags, config file,
// OTEL_* variables) and starts the exporters; nil when nothing is
// exported. It returns an error naming an invalid setting or variable.
func startTelemetry(ctx context.Context, v *viper.Viper, stdout, stderr io.Writer) (*runTelemetry, error) {
	cfg := telemetry.Config{
		MetricsListen:    v.GetString("metrics-listen"),
		Endpoint:         v.GetString("otlp-endpoint"),
		Protocol:         v.GetString("otlp-protocol"),
		TracesExporter:   v.GetString("traces-exporter"),
		MetricsExporter:  v.GetString("metrics-exporter"),
		EventSampleRatio: v.GetFloat64("trace-sample-ratio"),
		RuleTimingEvery:  v.GetUint64("rule-timing-every"),
		MetricInterval:   v.GetDuration("metrics-interval"),
	}
	cfg, err := telemetry.FromEnv(cfg, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	snapPath, snapInterval, err := snapshotSettings(v, stderr)
	if err != nil {
		return nil, err
	}
	if !cfg.Enabled() && snapPath == "" {
		return nil, nil
	}
	rt := &runTelemetry{stats: runtime.NewStats(cfg.RuleTimingEvery), snapInterval: snapInterval}
	if snapPath != "" {
		if rt.snapInterval <= 0 {
			return nil, fmt.Errorf("--metrics-snapshot-interval %v: want a positive duration", rt.snapInterval)
		}
		f, err := os.OpenFile(snapPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("metrics snapshots: %w", err)
		}
		rt.snapFile = f
	}
	t, err := telemetry.Setup(ctx, cfg, stdout)
	if err != nil {
		if rt.snapFile != nil {
			rt.snapFile.Close()
		}
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	rt.t = t
	rt.start, rt.span = t.Tracer().Start(ctx, "peregrine.start")
	if addr := t.MetricsAddr(); addr != "" {
		fmt.Fprintf(stderr, "peregrine: metrics on http://%s/metrics\n", addr)
	}
	return rt, nil
}

// snapshotSettings reads where and how often metrics snapshots go: the
// --metrics-snapshot-* flags, else falco.yaml's metrics keys (enabled,
// interval, output_file). Falco's output_rule, snapshots as alerts, is
// not done: a warning says so.
func snapshotSettings(v *viper.Viper, stderr io.Writer) (string, time.Duration, error) {
	path, interval := v.GetString("metrics-snapshot-file"), v.GetDuration("metrics-snapshot-interval")
	if path != "" || !v.GetBool("metrics.enabled") {
		return path, interval, nil
	}
	path = v.GetString("metrics.output_file")
	if s := v.GetString("metrics.interval"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return "", 0, fmt.Errorf("metrics.interval %q: want a positive duration such as 15m or 1h", s)
		}
		interval = d
	}
	if v.GetBool("metrics.output_rule") {
		fmt.Fprintln(stderr, "peregrine: warning: metrics.output_rule: snapshots are not sent as alerts; they go to metrics.output_file and the metrics endpoint")
	}
	if path == "" {
		fmt.Fprintln(stderr, "peregrine: warning: metrics.enabled without metrics.output_file: no snapshots are written (the metrics endpoint, --metrics-listen, serves the counters)")
	}
	return path, interval, nil
}

// loadRules is loadRules in a span (peregrine.rules.load) saying what
// each file gave.
func (rt *runTelemetry) loadRules(v *viper.Viper, stderr io.Writer) (*loader.Result, error) {
	if rt == nil {
		return loadRules(v, stderr, true)
	}
	_, span := rt.t.Tracer().Start(rt.start, telemetry.SpanLoad)
	defer span.End()
	res, err := loadRules(v, stderr, true)
	if err != nil {
		span.RecordError(err)
		return res, err
	}
	perFile := map[string]int{}
	for _, r := range res.Ruleset.Rules {
		perFile[r.Pos.File]++
	}
	for f, n := range perFile {
		span.AddEvent("file", trace.WithAttributes(attribute.String("peregrine.rules.file", filepath.Base(f)), attribute.Int("peregrine.rules", n)))
	}
	span.SetAttributes(attribute.Int("peregrine.rules", len(res.Ruleset.Rules)), attribute.Int("peregrine.rules.enabled", len(res.Ruleset.Enabled())),
		attribute.Int("peregrine.rules.files", len(perFile)))
	return res, nil
}

// attach observes a started capture: its compile as spans, its pipeline's
// counters and sampled events, its kernel counters and BPF run-time
// statistics (turned on until close) as metrics.
func (rt *runTelemetry) attach(live *runtime.Live, stderr io.Writer) error {
	if rt == nil {
		return nil
	}
	rt.t.RecordCompile(rt.start, live.Plan())
	live.OnPlan(func(plan *compiler.Plan) { rt.t.RecordCompile(context.Background(), plan) })
	rt.span.SetAttributes(attribute.Int("peregrine.syscalls", len(live.Syscalls())), attribute.String("peregrine.attach_mode", string(live.Mode())))
	rt.span.End()
	closer, err := bpf.EnableRunTimeStats()
	if err != nil {
		fmt.Fprintln(stderr, "peregrine: telemetry: no BPF run-time statistics:", err)
	}
	rt.bpfStat = closer
	probe := live.Probe()
	rt.metrics, err = rt.t.RegisterMetrics(telemetry.Sources{
		Stats:         rt.stats,
		Kernel:        probe.Counters,
		Programs:      probe.ProgramStats,
		RingBuffer:    probe.RingBufferUsage,
		SyscallEvents: live.SyscallEvents,
	})
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	var tracer runtime.EventTracer
	if rt.t.Tracing() {
		tracer = rt.t.EventTracer()
	}
	stats := rt.stats
	if !rt.t.Metering() && rt.snapFile == nil {
		stats = nil // nothing reads the counters: the pipeline keeps none
	}
	if rt.snapFile != nil {
		ctx, stop := context.WithCancel(context.Background())
		rt.snapStop, rt.snapDone = stop, make(chan struct{})
		go func() {
			defer close(rt.snapDone)
			if err := rt.metrics.WriteSnapshots(ctx, rt.snapFile, rt.snapInterval, version); err != nil {
				fmt.Fprintln(stderr, "peregrine: metrics snapshots:", err)
			}
		}()
	}
	live.Observe(stats, tracer, telemetry.TraceEvery(rt.t.Config().EventSampleRatio))
	return nil
}

// Metrics returns the run's metrics, for the stages that add to them
// (noise control: AddSuppressed; outputs: SetOutputStats); nil when
// telemetry is off.
func (rt *runTelemetry) Metrics() *telemetry.Metrics {
	if rt == nil {
		return nil
	}
	return rt.metrics
}

// close flushes what is queued (for at most 5 s), stops the exporters and
// restores the BPF statistics setting.
func (rt *runTelemetry) close(stderr io.Writer) {
	if rt == nil {
		return
	}
	if rt.snapStop != nil {
		rt.snapStop() // the last snapshot, then the loop ends
		<-rt.snapDone
	}
	if rt.snapFile != nil {
		if err := rt.snapFile.Close(); err != nil {
			fmt.Fprintln(stderr, "peregrine: metrics snapshots:", err)
		}
	}
	if rt.metrics != nil {
		_ = rt.metrics.Unregister()
	}
	if rt.bpfStat != nil {
		rt.bpfStat.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rt.t.Shutdown(ctx); err != nil {
		fmt.Fprintln(stderr, "peregrine: telemetry:", strings.TrimSpace(err.Error()))
	}
	if n := rt.t.SpansDropped(); n > 0 {
		fmt.Fprintf(stderr, "peregrine: telemetry: %d spans dropped (export queue full or collector unreachable)\n", n)
	}
}

// wire makes the run's metrics read the outputs' queues (stats, the
// output set's Stats) and the noise stage's suppressed alerts (counts, its
// Counts); nil when telemetry is off.
func (rt *runTelemetry) wire(stats func() []output.Stats, counts func() map[string]noise.Counts) {
	if rt == nil || rt.metrics == nil {
		return
	}
	rt.metrics.SetOutputStats(func() []telemetry.OutputStat {
		var out []telemetry.OutputStat
		for _, s := range stats() {
			out = append(out, telemetry.OutputStat{Name: s.Name, Queued: s.Queued, Dropped: s.Dropped, Failed: s.Failed})
		}
		return out
	})
	rt.metrics.SetSuppressed(func() map[string]uint64 {
		out := map[string]uint64{}
		for rule, c := range counts() {
			out[rule] = c.Suppressed()
		}
		return out
	})
}

// renderAlert is the alert's line as the outputs take it (Format.Line),
// with, in JSON, the trace id of a traced event in output_fields.trace_id.
func renderAlert(f falcocompat.Format, host string, a runtime.Alert) ([]byte, error) {
	if !f.JSON || a.TraceID == "" {
		return f.Line(host, a.Rule, a.Event, a.Time, a.Output, a.Suppressed, a.Repeats)
	}
	j := f.Alert(host, a.Rule, a.Event, a.Time, a.Output, a.Suppressed, a.Repeats)
	if j.OutputFields == nil {
		j.OutputFields = map[string]any{}
	}
	j.OutputFields["trace_id"] = a.TraceID
	return j.Marshal()
}
