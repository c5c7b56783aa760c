package output

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/peregrine-sec/peregrine/internal/peertest"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/internal/nginxtest"
)

// certs are a test CA and the server and client certificates it signed,
// as PEM files.
type certs struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

// newCerts generates a CA, a certificate for 127.0.0.1 and a client
// certificate (CN peregrine-client) in dir.
func newCerts(t *testing.T, dir string) certs {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Peregrine test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	cliDER, cliKey := leaf(3, "peregrine-client", x509.ExtKeyUsageClientAuth, nil)
	return certs{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", srvDER), serverKey: writeKey("server.key", srvKey),
		clientCert: write("client.pem", "CERTIFICATE", cliDER), clientKey: writeKey("client.key", cliKey),
	}
}

// alertNginx is an nginx that logs every request body POSTed to
// /alerts (proxied to a second server, so that nginx reads the body),
// one line per request: method|content type|user agent|X-Peregrine-Test
// header|client certificate subject|body. /fail answers 503, logged the
// same way. tls, when not empty, are the ssl directives of the server.
func alertNginx(t *testing.T, tls string) (*nginxtest.Server, string) {
	t.Helper()
	sink := peertest.FreePort(t)
	srv := nginxtest.NewConf(t, func(dir string, port int) string {
		ssl := ""
		if tls != "" {
			ssl = " ssl"
		}
		return fmt.Sprintf(`
	access_log off;
	log_format alerts escape=none '$request_method|$content_type|$http_user_agent|$http_x_peregrine_test|$ssl_client_s_dn|$request_body';
	server {
		listen 127.0.0.1:%[2]d%[3]s;
		%[4]s
		client_body_buffer_size 1m;
		client_max_body_size 1m;
		location = /alerts {
			access_log %[1]s/alerts.log alerts;
			proxy_pass http://127.0.0.1:%[5]d/;
		}
		location = /fail {
			access_log %[1]s/alerts.log alerts;
			return 503;
		}
	}
	server {
		listen 127.0.0.1:%[5]d;
		location / { return 200 "ok\n"; }
	}
`, dir, port, ssl, tls, sink)
	})
	srv.Start()
	scheme := "http"
	if tls != "" {
		scheme = "https"
	}
	return srv, fmt.Sprintf("%s://127.0.0.1:%d", scheme, srv.Port())
}

// logged is one request nginx logged.
type logged struct {
	method, contentType, userAgent, header, clientDN, body string
}

// nginxRequests returns the requests nginx logged, waiting (a little)
// until there are want: nginx logs a request after it answered it.
func nginxRequests(t *testing.T, srv *nginxtest.Server, want int) []logged {
	t.Helper()
	var data []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		data, _ = os.ReadFile(filepath.Join(srv.Dir(), "alerts.log"))
		if strings.Count(string(data), "\n") >= want {
			break
		}
	}
	var out []logged
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if l == "" {
			continue
		}
		f := strings.SplitN(l, "|", 6)
		if len(f) != 6 {
			t.Fatalf("log line %q", l)
		}
		out = append(out, logged{f[0], f[1], f[2], f[3], f[4], f[5]})
	}
	return out
}

func httpConfig(url string) Config {
	cfg := DefaultConfig()
	cfg.Stdout.Enabled = false
	cfg.JSONOutput = true
	cfg.HTTP.Enabled, cfg.HTTP.URL = true, url
	cfg.HTTP.RetryBackoff = 10 * time.Millisecond
	return cfg
}

// send sends n alerts through a Set of cfg, closes it and returns the
// http output's stats.
func sendHTTP(t *testing.T, cfg Config, n int) Stats {
	t.Helper()
	s := newSet(t, cfg, Options{})
	for i := range n {
		s.Send(alertN(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stats, _ := s.Close(ctx)
	return statsOf(t, stats, "http")
}

// TestHTTPNginx: nginx receives every alert as Falco posts it with
// json_output: a POST of the JSON alert (output, priority, rule, time,
// source, tags, hostname, output_fields), application/json, with the
// user agent and custom headers configured; with json_output off, the
// text line as text/plain.
func TestHTTPNginx(t *testing.T) {
	srv, base := alertNginx(t, "")
	cfg := httpConfig(base + "/alerts")
	cfg.HTTP.UserAgent = "falcosecurity/falco"
	cfg.HTTP.CustomHeaders = map[string]string{"x-peregrine-test": "yes"}
	const n = 50
	if st := sendHTTP(t, cfg, n); st.Delivered != n || st.Lost() != 0 {
		t.Fatalf("stats %+v", st)
	}
	reqs := nginxRequests(t, srv, n)
	if len(reqs) != n {
		t.Fatalf("nginx logged %d requests, want %d", len(reqs), n)
	}
	for i, r := range reqs {
		if r.method != "POST" || r.contentType != "application/json" || r.userAgent != "falcosecurity/falco" || r.header != "yes" {
			t.Errorf("request %d: %+v", i, r)
		}
		if r.body != string(alertN(i).JSON) {
			t.Errorf("request %d body %s, want %s", i, r.body, alertN(i).JSON)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("request %d: %v: %s", i, err, r.body)
		}
		for _, k := range []string{"output", "priority", "rule", "time", "source", "tags", "hostname", "output_fields"} {
			if _, ok := body[k]; !ok {
				t.Errorf("request %d lacks %s: %s", i, k, r.body)
			}
		}
		if f, _ := body["output_fields"].(map[string]any); len(f) == 0 {
			t.Errorf("request %d: empty output_fields", i)
		}
	}

	// echo: the responses on stdout.
	var out syncBuffer
	echo := cfg
	echo.HTTP.Echo = true
	s := newSet(t, echo, Options{Stdout: &out})
	s.Send(alertN(0))
	s.Send(alertN(1))
	if stats, err := s.Close(context.Background()); err != nil || out.String() != "ok\nok\n" {
		t.Errorf("echo: stdout %q, %v %+v", out.String(), err, stats)
	}
	nginxRequests(t, srv, n+2)

	cfg.JSONOutput = false
	if st := sendHTTP(t, cfg, 1); st.Delivered != 1 {
		t.Fatalf("text: stats %+v", st)
	}
	reqs = nginxRequests(t, srv, n+3)
	if last := reqs[len(reqs)-1]; last.contentType != "text/plain" || last.body != alertN(0).Line {
		t.Errorf("text alert: %+v", last)
	}
}

// TestHTTPRetries: a 503 is tried again max_retries times, then counted
// as failed.
func TestHTTPRetries(t *testing.T) {
	srv, base := alertNginx(t, "")
	cfg := httpConfig(base + "/fail")
	cfg.HTTP.MaxRetries = 2
	if st := sendHTTP(t, cfg, 2); st.Failed != 2 || st.Delivered != 0 {
		t.Fatalf("stats %+v, want 2 failed", st)
	}
	if reqs := nginxRequests(t, srv, 6); len(reqs) != 6 {
		t.Errorf("nginx saw %d requests, want 3 per alert", len(reqs))
	}
}

// TestHTTPSNginx: HTTPS to nginx with a test CA: trusted through ca_cert,
// ca_bundle or ca_path, refused with the system's roots alone (counted as
// failed, not retried), accepted with insecure.
func TestHTTPSNginx(t *testing.T) {
	c := newCerts(t, t.TempDir())
	srv, base := alertNginx(t, fmt.Sprintf("ssl_certificate %s; ssl_certificate_key %s;", c.serverCert, c.serverKey))
	caDir := t.TempDir()
	data, _ := os.ReadFile(c.ca)
	os.WriteFile(filepath.Join(caDir, "test-ca.pem"), data, 0o644)
	sent := 0
	for _, tc := range []struct {
		name      string
		set       func(*HTTPConfig)
		delivered bool
	}{
		{"ca_cert", func(h *HTTPConfig) { h.CACert = c.ca }, true},
		{"ca_bundle", func(h *HTTPConfig) { h.CABundle = c.ca }, true},
		{"ca_path", func(h *HTTPConfig) { h.CAPath = caDir }, true},
		{"system roots", func(h *HTTPConfig) {}, false},
		{"insecure", func(h *HTTPConfig) { h.Insecure = true }, true},
	} {
		cfg := httpConfig(base + "/alerts")
		tc.set(&cfg.HTTP)
		st := sendHTTP(t, cfg, 3)
		if tc.delivered {
			sent += 3
			if st.Delivered != 3 {
				t.Errorf("%s: stats %+v, want 3 delivered", tc.name, st)
			}
		} else if st.Failed != 3 {
			t.Errorf("%s: stats %+v, want 3 failed", tc.name, st)
		}
	}
	if reqs := nginxRequests(t, srv, sent); len(reqs) != sent {
		t.Errorf("nginx logged %d requests, want %d", len(reqs), sent)
	}
}

// TestHTTPMTLS: nginx requiring a client certificate refuses the alerts
// of an output without mtls (a 400, failed) and takes those of one with
// it, seeing the client's subject.
func TestHTTPMTLS(t *testing.T) {
	c := newCerts(t, t.TempDir())
	srv, base := alertNginx(t, fmt.Sprintf("ssl_certificate %s; ssl_certificate_key %s; ssl_client_certificate %s; ssl_verify_client on;",
		c.serverCert, c.serverKey, c.ca))
	cfg := httpConfig(base + "/alerts")
	cfg.HTTP.CACert = c.ca
	if st := sendHTTP(t, cfg, 2); st.Failed != 2 {
		t.Errorf("without a client certificate: stats %+v, want 2 failed", st)
	}
	cfg.HTTP.MTLS, cfg.HTTP.ClientCert, cfg.HTTP.ClientKey = true, c.clientCert, c.clientKey
	if st := sendHTTP(t, cfg, 2); st.Delivered != 2 || st.Lost() != 0 {
		t.Errorf("with mtls: stats %+v, want 2 delivered", st)
	}
	reqs := nginxRequests(t, srv, 2)
	if len(reqs) != 2 {
		t.Fatalf("nginx logged %d alerts, want 2: %+v", len(reqs), reqs)
	}
	for _, r := range reqs {
		if r.clientDN != "CN=peregrine-client" || r.body != string(alertN(0).JSON) && r.body != string(alertN(1).JSON) {
			t.Errorf("request %+v", r)
		}
	}
}

// TestHTTPNeverAnswers: an HTTP peer that accepts and never answers costs
// only the http output's queue: stdout gets every alert, the http output
// drops and counts the rest, and Close gives up at its deadline, saying
// how many it could not deliver.
func TestHTTPNeverAnswers(t *testing.T) {
	var out syncBuffer
	cfg := DefaultConfig()
	cfg.OutputsQueue.Capacity = 1000
	cfg.JSONOutput = true
	cfg.HTTP.Enabled, cfg.HTTP.URL = true, "http://"+peertest.Silent(t)+"/"
	cfg.HTTP.Timeout, cfg.HTTP.MaxRetries = 2*time.Second, 1
	s := newSet(t, cfg, Options{Stdout: &out})
	const n = 20000
	for i := range n {
		s.Send(alertN(i))
		if i%(cfg.OutputsQueue.Capacity/4) == 0 {
			// Let stdout, whose queue is as short, keep up.
			waitStats(t, s, "stdout", "stdout's queue", func(st Stats) bool { return st.Queued < cfg.OutputsQueue.Capacity/2 })
		}
	}
	waitStats(t, s, "stdout", "every alert on stdout", func(st Stats) bool { return st.Delivered == n })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	stats, err := s.Close(ctx)
	took := time.Since(start)
	if took > 2*time.Second {
		t.Errorf("Close took %v with a 300ms deadline", took)
	}
	if err == nil || !strings.Contains(err.Error(), "output http") || strings.Contains(err.Error(), "output stdout") {
		t.Errorf("Close: %v", err)
	}
	if got := len(strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")); got != n {
		t.Errorf("stdout has %d lines, want %d", got, n)
	}
	h := statsOf(t, stats, "http")
	if h.Delivered != 0 || h.Dropped < n-uint64(cfg.OutputsQueue.Capacity)-1 || h.Dropped+h.Failed+h.Undelivered != n {
		t.Errorf("http stats %+v: want every one of %d alerts dropped, failed or undelivered, most dropped", h, n)
	}
	if st := statsOf(t, stats, "stdout"); st.Lost() != 0 {
		t.Errorf("stdout stats %+v", st)
	}
	t.Logf("http: %+v; Close took %v", h, took)
}
