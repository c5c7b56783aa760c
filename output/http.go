package output

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// httpSink POSTs each alert: Falco's JSON alert as application/json with
// json_output, else its text line as text/plain, as Falco does.
type httpSink struct {
	url     string
	client  *http.Client
	header  http.Header
	json    bool
	echo    io.Writer
	timeout time.Duration
	retries int
	backoff time.Duration
	maxBack time.Duration
}

// maxResponse bounds what is read (and echoed) of a response.
const maxResponse = 1 << 20

func newHTTP(c HTTPConfig, jsonOutput bool, stdout io.Writer) (*httpSink, error) {
	tc, err := tlsConfig(c)
	if err != nil {
		return nil, err
	}
	keepAlive := time.Duration(-1) // no TCP keepalive probes
	if c.KeepAlive {
		keepAlive = 15 * time.Second
	}
	dialer := &net.Dialer{Timeout: c.Timeout, KeepAlive: keepAlive}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: c.Timeout,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	h := &httpSink{url: strings.Trim(c.URL, `"'`), client: &http.Client{Transport: tr}, header: http.Header{},
		json: jsonOutput, timeout: c.Timeout, retries: c.MaxRetries, backoff: c.RetryBackoff, maxBack: c.MaxRetryBackoff}
	if c.Echo {
		h.echo = stdout
	}
	for k, v := range c.CustomHeaders {
		h.header.Set(k, v)
	}
	if c.UserAgent != "" {
		h.header.Set("User-Agent", c.UserAgent)
	}
	if jsonOutput {
		h.header.Set("Content-Type", "application/json")
	} else {
		h.header.Set("Content-Type", "text/plain")
	}
	return h, nil
}

// tlsConfig builds the client's TLS configuration from the http_output
// keys; its errors name the key whose file does not load.
func tlsConfig(c HTTPConfig) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: c.Insecure, MinVersion: tls.VersionTLS12}
	loadFile := func(key, path string) (*x509.CertPool, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("http_output.%s: %w", key, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("http_output.%s: %s holds no PEM certificate", key, path)
		}
		return pool, nil
	}
	var err error
	switch {
	case c.CACert != "":
		tc.RootCAs, err = loadFile("ca_cert", c.CACert)
	case c.CABundle != "":
		tc.RootCAs, err = loadFile("ca_bundle", c.CABundle)
	case c.CAPath != "":
		tc.RootCAs, err = loadDir(c.CAPath)
	}
	if err != nil {
		return nil, err
	}
	if c.MTLS {
		cert, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("http_output.client_cert, http_output.client_key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// loadDir returns the system's roots with the certificates of the PEM
// files in dir, or nil (the system's roots) when dir does not exist:
// Falco's default falco.yaml names /etc/falco/certs/, which most hosts
// lack.
func loadDir(dir string) (*x509.CertPool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("http_output.ca_path: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("http_output.ca_path: %w", err)
		}
		pool.AppendCertsFromPEM(data)
	}
	return pool, nil
}

// errRetry marks the failures worth another attempt.
type errRetry struct{ error }

func (e errRetry) Unwrap() error { return e.error }

func (h *httpSink) deliver(ctx context.Context, a *Alert) error {
	body := a.JSON
	if !h.json || body == nil {
		body = []byte(a.Line)
	}
	wait := h.backoff
	for attempt := 0; ; attempt++ {
		err := h.post(ctx, body)
		var retry errRetry
		if err == nil || !errors.As(err, &retry) || attempt >= h.retries || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, h.maxBack)
	}
}

// post makes one attempt. Connection errors, timeouts, 5xx and 429 are
// errRetry.
func (h *httpSink) post(ctx context.Context, body []byte) error {
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range h.header {
		req.Header[k] = v
	}
	resp, err := h.client.Do(req)
	if err != nil {
		var verr *tls.CertificateVerificationError
		if errors.As(err, &verr) {
			return err // the same certificate fails again
		}
		return errRetry{err}
	}
	defer resp.Body.Close()
	sink := io.Discard
	if h.echo != nil {
		sink = h.echo
	}
	_, _ = io.Copy(sink, io.LimitReader(resp.Body, maxResponse))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return errRetry{fmt.Errorf("POST %s: %s", h.url, resp.Status)}
	default:
		return fmt.Errorf("POST %s: %s", h.url, resp.Status)
	}
}

func (h *httpSink) flush() error { return nil }

func (h *httpSink) close(context.Context) error {
	h.client.CloseIdleConnections()
	return nil
}
