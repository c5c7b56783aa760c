package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of Peregrine's spans and
// instruments.
const ScopeName = "github.com/peregrine-sec/peregrine"

// Telemetry is the running export: the tracer and meter providers, the
// Prometheus scrape endpoint, and the counts of what was dropped.
type Telemetry struct {
	cfg    Config
	tp     *sdktrace.TracerProvider // nil: no traces
	bp     *boundedProcessor
	meterP *sdkmetric.MeterProvider // nil: no metrics
	tracer trace.Tracer
	meter  metric.Meter
	reg    *prometheus.Registry
	srv    *http.Server
	addr   string
	// Span accounting (see boundedProcessor) and failed metric exports.
	spansEnded, spansExported, spansFailed, spansDropped atomic.Uint64
	metricExportsFailed                                  atomic.Uint64
}

// Setup starts exporting as cfg says (call cfg.Validate or FromEnv
// first; Setup validates again). Exporters connect lazily: an unreachable
// collector is no error here, its exports fail and are counted. It
// returns an error for an invalid configuration, an exporter that cannot
// be built, or a scrape address it cannot listen on.
func Setup(ctx context.Context, cfg Config, stdout io.Writer) (*Telemetry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Telemetry{cfg: cfg, tracer: tracenoop.NewTracerProvider().Tracer(ScopeName), meter: noop.NewMeterProvider().Meter(ScopeName)}
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.ServiceName)}
	keys := make([]string, 0, len(cfg.ResourceAttributes))
	for k := range cfg.ResourceAttributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "service.name" {
			attrs = append(attrs, attribute.String(k, cfg.ResourceAttributes[k]))
		}
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	if exporting(cfg.TracesExporter) {
		exp, err := t.spanExporter(ctx, stdout)
		if err != nil {
			return nil, err
		}
		bsp := sdktrace.NewBatchSpanProcessor(&countingSpanExporter{SpanExporter: exp, t: t},
			sdktrace.WithMaxQueueSize(cfg.QueueSize+1), sdktrace.WithExportTimeout(cfg.ExportTimeout))
		t.bp = &boundedProcessor{SpanProcessor: bsp, t: t, limit: uint64(cfg.QueueSize)}
		t.tp = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSampler(sampler(cfg)),
			sdktrace.WithSpanProcessor(t.bp))
		t.tracer = t.tp.Tracer(ScopeName)
	}
	var readers []sdkmetric.Option
	if exporting(cfg.MetricsExporter) {
		exp, err := t.metricExporter(ctx, stdout)
		if err != nil {
			return nil, errors.Join(err, t.Shutdown(ctx))
		}
		readers = append(readers, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(&countingMetricExporter{Exporter: exp, t: t},
			sdkmetric.WithInterval(cfg.MetricInterval), sdkmetric.WithTimeout(cfg.ExportTimeout))))
	}
	if cfg.MetricsListen != "" {
		t.reg = prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(t.reg), otelprom.WithoutScopeInfo())
		if err != nil {
			return nil, errors.Join(fmt.Errorf("prometheus exporter: %w", err), t.Shutdown(ctx))
		}
		readers = append(readers, sdkmetric.WithReader(exp))
		ln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("metrics endpoint: %w", err), t.Shutdown(ctx))
		}
		t.addr = ln.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{}))
		t.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = t.srv.Serve(ln) }()
	}
	if len(readers) > 0 {
		t.meterP = sdkmetric.NewMeterProvider(append(readers, sdkmetric.WithResource(res))...)
		t.meter = t.meterP.Meter(ScopeName)
	}
	return t, nil
}

// MetricsAddr returns the address the scrape endpoint listens on ("" for
// none): with port 0 in the configuration, the port the kernel chose.
func (t *Telemetry) MetricsAddr() string { return t.addr }

// Tracer returns the tracer of Peregrine's spans (a no-op one when traces
// are off).
func (t *Telemetry) Tracer() trace.Tracer { return t.tracer }

// Meter returns the meter of Peregrine's instruments (a no-op one when
// metrics are off).
func (t *Telemetry) Meter() metric.Meter { return t.meter }

// Metering reports whether metrics are exported (OTLP, stdout or the
// Prometheus endpoint).
func (t *Telemetry) Metering() bool { return t.meterP != nil }

// Tracing reports whether spans are exported.
func (t *Telemetry) Tracing() bool { return t.tp != nil }

// Config returns the configuration in force, defaults filled.
func (t *Telemetry) Config() Config { return t.cfg }

// SpansDropped returns how many spans were dropped: the queue was full,
// or their export failed.
func (t *Telemetry) SpansDropped() uint64 { return t.spansDropped.Load() + t.spansFailed.Load() }

// Shutdown exports what is queued (within ctx's deadline), stops the
// providers and the scrape endpoint. It returns the errors of the
// exporters' last flush.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.srv != nil {
		errs = append(errs, t.srv.Shutdown(ctx))
	}
	if t.tp != nil {
		errs = append(errs, t.tp.Shutdown(ctx))
	}
	if t.meterP != nil {
		errs = append(errs, t.meterP.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

func (t *Telemetry) spanExporter(ctx context.Context, stdout io.Writer) (sdktrace.SpanExporter, error) {
	if t.cfg.TracesExporter == ExporterConsole {
		return stdouttrace.New(stdouttrace.WithWriter(stdout))
	}
	hostport, secure, err := t.cfg.endpoint()
	if t.cfg.Endpoint == "" {
		hostport, secure, err = defaultEndpoint(t.cfg.Protocol), false, nil
	}
	if err != nil {
		return nil, err
	}
	// Without an endpoint, a signal-specific variable is the exporter's
	// to read; else the local collector's default port, in the clear.
	fromEnv := t.cfg.Endpoint == "" && t.cfg.envTraces
	if t.cfg.Protocol == ProtocolHTTP {
		opts := []otlptracehttp.Option{otlptracehttp.WithTimeout(t.cfg.ExportTimeout), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false})}
		if !fromEnv {
			opts = append(opts, otlptracehttp.WithEndpoint(hostport), otlptracehttp.WithURLPath(t.cfg.urlPath()+"/v1/traces"))
			if !secure {
				opts = append(opts, otlptracehttp.WithInsecure())
			}
		}
		return otlptracehttp.New(ctx, opts...)
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithTimeout(t.cfg.ExportTimeout), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false})}
	if !fromEnv {
		opts = append(opts, otlptracegrpc.WithEndpoint(hostport))
		if !secure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
	}
	return otlptracegrpc.New(ctx, opts...)
}

func (t *Telemetry) metricExporter(ctx context.Context, stdout io.Writer) (sdkmetric.Exporter, error) {
	if t.cfg.MetricsExporter == ExporterConsole {
		return stdoutmetric.New(stdoutmetric.WithWriter(stdout))
	}
	hostport, secure, err := t.cfg.endpoint()
	if t.cfg.Endpoint == "" {
		hostport, secure, err = defaultEndpoint(t.cfg.Protocol), false, nil
	}
	if err != nil {
		return nil, err
	}
	fromEnv := t.cfg.Endpoint == "" && t.cfg.envMetrics
	if t.cfg.Protocol == ProtocolHTTP {
		opts := []otlpmetrichttp.Option{otlpmetrichttp.WithTimeout(t.cfg.ExportTimeout), otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false})}
		if !fromEnv {
			opts = append(opts, otlpmetrichttp.WithEndpoint(hostport), otlpmetrichttp.WithURLPath(t.cfg.urlPath()+"/v1/metrics"))
			if !secure {
				opts = append(opts, otlpmetrichttp.WithInsecure())
			}
		}
		return otlpmetrichttp.New(ctx, opts...)
	}
	opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithTimeout(t.cfg.ExportTimeout), otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false})}
	if !fromEnv {
		opts = append(opts, otlpmetricgrpc.WithEndpoint(hostport))
		if !secure {
			opts = append(opts, otlpmetricgrpc.WithInsecure())
		}
	}
	return otlpmetricgrpc.New(ctx, opts...)
}

func defaultEndpoint(protocol string) string {
	if protocol == ProtocolHTTP {
		return "localhost:4318"
	}
	return "localhost:4317"
}

// sampler is the tracer provider's sampler for cfg.
func sampler(cfg Config) sdktrace.Sampler {
	switch cfg.Sampler {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(cfg.SamplerArg)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SamplerArg))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

// boundedProcessor bounds the spans waiting for export to limit: a span
// ending while limit are waiting is dropped and counted, so the batch
// processor's own queue (one larger) never drops unseen.
type boundedProcessor struct {
	sdktrace.SpanProcessor
	t       *Telemetry
	limit   uint64
	pending atomic.Int64
}

// OnEnd queues s for export, or drops it when the queue is full.
func (p *boundedProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	p.t.spansEnded.Add(1)
	if uint64(p.pending.Load()) >= p.limit {
		p.t.spansDropped.Add(1)
		return
	}
	p.pending.Add(1)
	p.SpanProcessor.OnEnd(s)
}

// countingSpanExporter counts the spans exported and those whose export
// failed (dropped: the batch processor does not retry).
type countingSpanExporter struct {
	sdktrace.SpanExporter
	t *Telemetry
}

// ExportSpans exports spans and counts the outcome.
func (e *countingSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if e.t.bp != nil {
		e.t.bp.pending.Add(-int64(len(spans)))
	}
	if err != nil {
		e.t.spansFailed.Add(uint64(len(spans)))
		return err
	}
	e.t.spansExported.Add(uint64(len(spans)))
	return nil
}

// countingMetricExporter counts the metric exports that failed.
type countingMetricExporter struct {
	sdkmetric.Exporter
	t *Telemetry
}

// Export exports rm and counts a failure.
func (e *countingMetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	err := e.Exporter.Export(ctx, rm)
	if err != nil {
		e.t.metricExportsFailed.Add(1)
	}
	return err
}
