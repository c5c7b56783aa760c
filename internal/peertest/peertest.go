// Package peertest runs real peers for end-to-end tests: telemetry
// receivers, Prometheus (Debian's package) scraping a target and Jaeger
// v2 (built from the module proxy by .ci/run into a cache outside the
// repository) receiving OTLP, and a TCP peer that never answers. Each runs with its own configuration in a temporary
// directory, on free loopback ports, and stops when the test ends. A
// missing binary skips the test, and fails it when CI is set.
package peertest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// JaegerBinary is where .ci/run builds Jaeger (PEREGRINE_JAEGER
// overrides it).
const JaegerBinary = "/root/.cache/peregrine-peers/jaeger/jaeger"

func need(t testing.TB, what, install string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("no %s: CI must install it (%s)", what, install)
	}
	t.Skipf("no %s: %s to run this test (under CI it fails)", what, install)
}

// listen listens on a free loopback TCP port.
func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// FreePort returns a loopback port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l := listen(t)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Closing listens on a loopback port and closes every connection it
// accepts, for workloads that connect; it returns the port and stops when
// the test ends.
func Closing(t testing.TB) int {
	t.Helper()
	l := listen(t)
	t.Cleanup(func() { l.Close() })
	go func() {
		for c, err := l.Accept(); err == nil; c, err = l.Accept() {
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// Silent listens on a loopback port, accepts connections and neither
// reads nor answers, as a hung collector does; it returns its address and
// stops when the test ends.
func Silent(t testing.TB) string {
	t.Helper()
	l := listen(t)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// Start runs a peer (args: the program and its arguments), logging to
// NAME.log in dir, stopped (SIGTERM, then SIGKILL after 10 s) when the
// test ends, which shows the log's tail when the test failed. The channel
// it returns is closed when the peer has exited.
func Start(t testing.TB, dir, name string, args ...string) <-chan struct{} {
	return start(t, dir, name, args...)
}

// start runs a receiver, logging to a file in dir, stopped (SIGTERM, then
// SIGKILL) when the test ends; the log is shown when the test failed.
func start(t testing.TB, dir, name string, args ...string) <-chan struct{} {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("%s log (tail):\n%s", name, b)
		}
	})
	return done
}

// waitHTTP waits until url answers 200.
func waitHTTP(t testing.TB, what, u string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up at %s: %v", what, u, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// getJSON GETs u and decodes its JSON body into v.
func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, v)
}

// Prometheus is a running Prometheus server scraping one target.
type Prometheus struct {
	// URL is the server's base URL (http://127.0.0.1:PORT).
	URL string
}

// StartPrometheus starts Debian's Prometheus scraping target (host:port,
// path /metrics) every 500 ms.
func StartPrometheus(t testing.TB, target string) *Prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		need(t, "prometheus", "apt-get install prometheus")
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: peregrine
    static_configs:
      - targets: [%q]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	start(t, dir, "prometheus", bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	p := &Prometheus{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	waitHTTP(t, "prometheus", p.URL+"/-/ready")
	return p
}

// Sample is one series of an instant query's result.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query runs a PromQL instant query through the HTTP API
// (/api/v1/query). It returns an error when the server refuses it.
func (p *Prometheus) Query(q string) ([]Sample, error) {
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(p.URL+"/api/v1/query?query="+url.QueryEscape(q), &out); err != nil {
		return nil, err
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("query %q: status %s", q, out.Status)
	}
	var samples []Sample
	for _, r := range out.Data.Result {
		s := Sample{Labels: r.Metric}
		if len(r.Value) == 2 {
			if v, ok := r.Value[1].(string); ok {
				_, _ = fmt.Sscan(v, &s.Value)
			}
		}
		samples = append(samples, s)
	}
	return samples, nil
}

// Jaeger is a running Jaeger v2 with an OTLP receiver and its query API.
type Jaeger struct {
	// OTLPGRPC and OTLPHTTP are the receiver's endpoints (host:port).
	OTLPGRPC, OTLPHTTP string
	// QueryURL is the query service's base URL.
	QueryURL string
}

// StartJaeger starts Jaeger v2 with in-memory storage.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	bin := os.Getenv("PEREGRINE_JAEGER")
	if bin == "" {
		bin = JaegerBinary
	}
	if _, err := os.Stat(bin); err != nil {
		need(t, "jaeger at "+bin, "bash .ci/run builds it; or go build github.com/jaegertracing/jaeger/cmd/jaeger@v1.76.0 into "+filepath.Dir(JaegerBinary))
	}
	dir := t.TempDir()
	ports := make([]int, 5)
	for i := range ports {
		ports[i] = FreePort(t)
	}
	j := &Jaeger{OTLPGRPC: fmt.Sprintf("127.0.0.1:%d", ports[0]), OTLPHTTP: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		QueryURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2])}
	conf := fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    storage:
      traces: mem
    http:
      endpoint: 127.0.0.1:%[3]d
    grpc:
      endpoint: 127.0.0.1:%[4]d
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[1]d
      http:
        endpoint: 127.0.0.1:%[2]d
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`, ports[0], ports[1], ports[2], ports[3])
	path := filepath.Join(dir, "jaeger.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, dir, "jaeger", bin, "--config", path)
	waitHTTP(t, "jaeger", j.QueryURL+"/api/services")
	return j
}

// Span is a span as Jaeger's query API gives it.
type Span struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Duration int64 `json:"duration"`
	Tags     []struct {
		Key   string `json:"key"`
		Type  string `json:"type"`
		Value any    `json:"value"`
	} `json:"tags"`
}

// Tag returns the value of the span's tag key as text, "" when absent.
func (s *Span) Tag(key string) string {
	for _, tg := range s.Tags {
		if tg.Key == key {
			return fmt.Sprint(tg.Value)
		}
	}
	return ""
}

// Traces returns the spans of the service's traces (at most limit
// traces) that hold a span named operation ("" for any), through the
// query API (/api/traces).
func (j *Jaeger) Traces(service, operation string, limit int) ([][]Span, error) {
	q := url.Values{"service": {service}, "limit": {fmt.Sprint(limit)}, "lookback": {"1h"}}
	if operation != "" {
		q.Set("operation", operation)
	}
	var out struct {
		Data []struct {
			TraceID string `json:"traceID"`
			Spans   []Span `json:"spans"`
		} `json:"data"`
	}
	if err := getJSON(j.QueryURL+"/api/traces?"+q.Encode(), &out); err != nil {
		return nil, err
	}
	traces := make([][]Span, 0, len(out.Data))
	for _, d := range out.Data {
		traces = append(traces, d.Spans)
	}
	return traces, nil
}
