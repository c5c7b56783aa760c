// Package telemetry exports what Peregrine measures with OpenTelemetry:
// metrics (per rule, kernel, process, outputs) through OTLP (gRPC or
// HTTP), stdout or a Prometheus scrape endpoint, and traces (loading and
// compiling the rules, sampled events with a child span per rule) through
// OTLP or stdout.
//
// The engine's hot path never calls OpenTelemetry: package runtime counts
// into plain atomic counters (runtime.Stats), which the observable
// instruments here read when a reader collects, and hands only sampled
// events to the tracer. Export queues are bounded: a slow or unreachable
// collector drops spans (counted in peregrine.telemetry.spans.dropped),
// it never blocks detection.
package telemetry

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Exporter names, as OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER spell
// them.
const (
	ExporterNone    = "none"
	ExporterOTLP    = "otlp"
	ExporterConsole = "console"
)

// OTLP protocols, as OTEL_EXPORTER_OTLP_PROTOCOL spells them.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// DefaultEventSampleRatio is the share of evaluated events traced when
// the configuration asks for no other: one in a thousand, which costs far
// under 2% of the evaluation throughput (BenchmarkTelemetry in runtime).
const DefaultEventSampleRatio = 0.001

// DefaultQueueSize bounds the spans waiting for export.
const DefaultQueueSize = 2048

// Config is what telemetry exports and where. The zero value exports
// nothing; FromEnv fills it from the OTEL_* environment variables.
type Config struct {
	// ServiceName is service.name (default "peregrine").
	ServiceName string
	// ResourceAttributes are added to the resource.
	ResourceAttributes map[string]string
	// TracesExporter and MetricsExporter are ExporterNone (or ""),
	// ExporterOTLP or ExporterConsole (stdout).
	TracesExporter, MetricsExporter string
	// Endpoint is the OTLP collector's base URL (http://host:port, or
	// https://); for gRPC a host:port is taken too. Empty: the protocol's
	// default on localhost.
	Endpoint string
	// Protocol is ProtocolGRPC (default) or ProtocolHTTP.
	Protocol string
	// Sampler and SamplerArg select the tracer provider's sampler, as
	// OTEL_TRACES_SAMPLER and _ARG do (default parentbased_always_on).
	// They apply to every span; EventSampleRatio chooses the events
	// offered to it.
	Sampler    string
	SamplerArg float64
	// EventSampleRatio is the share of evaluated events traced, in
	// [0, 1] (0: none; see DefaultEventSampleRatio).
	EventSampleRatio float64
	// RuleTimingEvery is how often, in events, each rule of an event is
	// timed (0: runtime.DefaultTimingEvery).
	RuleTimingEvery uint64
	// MetricsListen is the address of the Prometheus scrape endpoint
	// (/metrics); "" for none. A bare port or ":port" listens on the
	// loopback address only.
	MetricsListen string
	// MetricInterval is the OTLP and console metric export interval
	// (default 10s).
	MetricInterval time.Duration
	// QueueSize bounds the spans waiting for export (DefaultQueueSize).
	QueueSize int
	// ExportTimeout bounds one export (default 5s).
	ExportTimeout time.Duration

	// envTraces and envMetrics say that OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
	// or _METRICS_ENDPOINT is set: without Endpoint, the exporters then
	// read it (and the other signal-specific variables) themselves.
	envTraces, envMetrics bool
}

// Enabled reports whether the configuration exports anything.
func (c *Config) Enabled() bool {
	return exporting(c.TracesExporter) || exporting(c.MetricsExporter) || c.MetricsListen != ""
}

func exporting(e string) bool { return e != "" && e != ExporterNone }

// FromEnv returns c with what it leaves unset taken from the standard
// OTEL_* environment variables, read with getenv: OTEL_SDK_DISABLED,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_EXPORTER,
// OTEL_METRICS_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_TRACES_SAMPLER,
// OTEL_TRACES_SAMPLER_ARG, OTEL_BSP_MAX_QUEUE_SIZE,
// OTEL_METRIC_EXPORT_INTERVAL. An endpoint alone turns on OTLP export of
// traces and metrics; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// _METRICS_ENDPOINT that of its signal, and the exporter reads it (with
// the SDK's other OTEL_EXPORTER_OTLP_* variables, such as _HEADERS) itself
// when no endpoint is configured. It returns an error naming the variable whose value
// is invalid, and Validate's errors.
func FromEnv(c Config, getenv func(string) string) (Config, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	if v := env("OTEL_SDK_DISABLED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("OTEL_SDK_DISABLED=%q: want true or false", v)
		}
		if b {
			return Config{MetricsListen: c.MetricsListen}, nil
		}
	}
	setStr := func(dst *string, k string) {
		if *dst == "" {
			*dst = env(k)
		}
	}
	setStr(&c.ServiceName, "OTEL_SERVICE_NAME")
	setStr(&c.TracesExporter, "OTEL_TRACES_EXPORTER")
	setStr(&c.MetricsExporter, "OTEL_METRICS_EXPORTER")
	setStr(&c.Endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT")
	setStr(&c.Protocol, "OTEL_EXPORTER_OTLP_PROTOCOL")
	if v := env("OTEL_RESOURCE_ATTRIBUTES"); v != "" {
		attrs, err := parseResourceAttributes(v)
		if err != nil {
			return c, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
		}
		if c.ResourceAttributes == nil {
			c.ResourceAttributes = map[string]string{}
		}
		for k, v := range attrs {
			if _, set := c.ResourceAttributes[k]; !set {
				c.ResourceAttributes[k] = v
			}
		}
	}
	if c.Sampler == "" {
		c.Sampler = env("OTEL_TRACES_SAMPLER")
		if v := env("OTEL_TRACES_SAMPLER_ARG"); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				return c, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio between 0 and 1", v)
			}
			c.SamplerArg = f
		} else if strings.HasSuffix(c.Sampler, "traceidratio") {
			c.SamplerArg = 1
		}
	}
	if v := env("OTEL_BSP_MAX_QUEUE_SIZE"); v != "" && c.QueueSize == 0 {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("OTEL_BSP_MAX_QUEUE_SIZE=%q: want a positive number", v)
		}
		c.QueueSize = n
	}
	if v := env("OTEL_METRIC_EXPORT_INTERVAL"); v != "" && c.MetricInterval == 0 {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return c, fmt.Errorf("OTEL_METRIC_EXPORT_INTERVAL=%q: want milliseconds, a positive number", v)
		}
		c.MetricInterval = time.Duration(ms) * time.Millisecond
	}
	c.envTraces = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	c.envMetrics = env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != ""
	if c.TracesExporter == "" && (c.Endpoint != "" || c.envTraces) {
		c.TracesExporter = ExporterOTLP
	}
	if c.MetricsExporter == "" && (c.Endpoint != "" || c.envMetrics) {
		c.MetricsExporter = ExporterOTLP
	}
	return c, c.Validate()
}

// parseResourceAttributes reads key=value,key=value (values
// percent-decoded, as the specification says).
func parseResourceAttributes(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want key=value pairs separated by commas", kv)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", kv, err)
		}
		out[k] = dv
	}
	return out, nil
}

// Validate checks the configuration and fills its defaults. It returns
// an error naming the setting that is invalid: an unknown exporter,
// protocol or sampler, an endpoint that is no URL with a host and port, a
// ratio out of [0, 1], an address that is not host:port.
func (c *Config) Validate() error {
	if c.ServiceName == "" {
		c.ServiceName = "peregrine"
	}
	for _, e := range []struct{ name, v string }{{"traces exporter", c.TracesExporter}, {"metrics exporter", c.MetricsExporter}} {
		switch e.v {
		case "", ExporterNone, ExporterOTLP, ExporterConsole:
		default:
			return fmt.Errorf("%s %q: want otlp, console or none", e.name, e.v)
		}
	}
	switch c.Protocol {
	case "":
		c.Protocol = ProtocolGRPC
	case ProtocolGRPC, ProtocolHTTP:
	default:
		return fmt.Errorf("OTLP protocol %q: want grpc or http/protobuf", c.Protocol)
	}
	if c.Endpoint != "" {
		if _, _, err := c.endpoint(); err != nil {
			return err
		}
	}
	switch c.Sampler {
	case "", "always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio":
	default:
		return fmt.Errorf("traces sampler %q: want always_on, always_off, traceidratio or their parentbased_ forms", c.Sampler)
	}
	if c.SamplerArg < 0 || c.SamplerArg > 1 {
		return fmt.Errorf("traces sampler argument %v: want a ratio between 0 and 1", c.SamplerArg)
	}
	if c.EventSampleRatio < 0 || c.EventSampleRatio > 1 {
		return fmt.Errorf("event sample ratio %v: want a ratio between 0 and 1", c.EventSampleRatio)
	}
	if c.MetricsListen != "" {
		addr, err := listenAddr(c.MetricsListen)
		if err != nil {
			return err
		}
		c.MetricsListen = addr
	}
	if c.MetricInterval <= 0 {
		c.MetricInterval = 10 * time.Second
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.ExportTimeout <= 0 {
		c.ExportTimeout = 5 * time.Second
	}
	return nil
}

// endpoint returns the collector's host:port, whether to use TLS, and the
// URL's path (for HTTP, the base the signal's path is appended to).
func (c *Config) endpoint() (hostport string, secure bool, err error) {
	e := c.Endpoint
	if !strings.Contains(e, "://") {
		e = "http://" + e
	}
	u, err := url.Parse(e)
	if err != nil {
		return "", false, fmt.Errorf("OTLP endpoint %q: %w", c.Endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", false, fmt.Errorf("OTLP endpoint %q: want an http:// or https:// URL", c.Endpoint)
	}
	if u.Hostname() == "" {
		return "", false, fmt.Errorf("OTLP endpoint %q: no host", c.Endpoint)
	}
	port := u.Port()
	if port == "" {
		port = "4317"
		if c.Protocol == ProtocolHTTP {
			port = "4318"
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", false, fmt.Errorf("OTLP endpoint %q: port %q is no port number", c.Endpoint, port)
	}
	return net.JoinHostPort(u.Hostname(), port), u.Scheme == "https", nil
}

// urlPath is the endpoint's path for HTTP, without a trailing slash.
func (c *Config) urlPath() string {
	e := c.Endpoint
	if !strings.Contains(e, "://") {
		e = "http://" + e
	}
	u, err := url.Parse(e)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

// listenAddr makes a scrape address host:port, on loopback when it names
// no host.
func listenAddr(s string) (string, error) {
	if _, err := strconv.Atoi(s); err == nil {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("metrics listen address %q: want host:port or a port: %w", s, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("metrics listen address %q: port %q is no port number", s, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}
