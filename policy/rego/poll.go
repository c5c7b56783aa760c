package rego

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// DefaultPollInterval is Poller.Interval when it is 0.
const DefaultPollInterval = time.Minute

// DefaultPollTimeout bounds one download when Poller.Timeout is 0.
const DefaultPollTimeout = 30 * time.Second

// Poller downloads a bundle tarball from an HTTP(S) URL every Interval
// and hands each new, verified and loaded revision to OnUpdate. It sends
// the ETag of the bundle it has as If-None-Match: a 304 Not Modified, or
// a bundle with the same ETag or the same bytes, is not an update. A
// download, signature or load failure goes to OnError, and the poller
// keeps the last good bundle and tries again at the next tick; it never
// hands a bad bundle to OnUpdate.
type Poller struct {
	// URL serves the bundle tarball.
	URL string
	// Options verify and bound the bundle, as for LoadBundle.
	Options BundleOptions
	// Interval is the time between polls; default DefaultPollInterval.
	Interval time.Duration
	// Timeout bounds each download (connect, headers, body); default
	// DefaultPollTimeout. Ticks missed during a long download are
	// dropped.
	Timeout time.Duration
	// Client does the requests; default one with http.DefaultTransport's
	// settings. Its own Timeout, if any, applies too.
	Client *http.Client
	// Header is sent with every request (for example Authorization).
	Header http.Header
	// OnUpdate is called, from Run's goroutine, with each new bundle.
	OnUpdate func(*Bundle)
	// OnError is called, from Run's goroutine, with each failed poll.
	OnError func(error)

	mu      sync.Mutex
	current *Bundle
	etag    string
	digest  [sha256.Size]byte
}

// Current returns the last good bundle, nil before the first.
func (p *Poller) Current() *Bundle {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current
}

func (p *Poller) interval() time.Duration {
	if p.Interval > 0 {
		return p.Interval
	}
	return DefaultPollInterval
}

func (p *Poller) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultPollTimeout
}

// Run polls at once and then every Interval until ctx is done, and
// returns ctx's error.
func (p *Poller) Run(ctx context.Context) error {
	if p.URL == "" {
		return errors.New("bundle poller: no URL")
	}
	t := time.NewTicker(p.interval())
	defer t.Stop()
	for {
		b, err := p.Poll(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case err != nil:
			if p.OnError != nil {
				p.OnError(err)
			}
		case b != nil:
			if p.OnUpdate != nil {
				p.OnUpdate(b)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Poll downloads the bundle once. It returns the new bundle, nil when
// the bundle has not changed, or the error; only a new good bundle
// replaces Current. It calls neither OnUpdate nor OnError.
func (p *Poller) Poll(ctx context.Context) (*Bundle, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", p.URL, err)
	}
	for k, vs := range p.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	p.mu.Lock()
	have, curETag := p.current != nil, p.etag
	p.mu.Unlock()
	if have && curETag != "" {
		req.Header.Set("If-None-Match", curETag)
	}
	client := p.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bundle download: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("bundle download: %s: %s", p.URL, resp.Status)
	}
	etag := resp.Header.Get("ETag")
	if have && etag != "" && etag == curETag {
		return nil, nil
	}
	raw, err := readLimited(resp.Body, p.Options.sizeLimit())
	if err != nil {
		return nil, fmt.Errorf("bundle download: %s: %w", p.URL, err)
	}
	sum := sha256.Sum256(raw)
	p.mu.Lock()
	same := p.current != nil && sum == p.digest
	if same {
		// The same bytes under another ETag: remember it.
		p.etag = etag
	}
	p.mu.Unlock()
	if same {
		return nil, nil
	}
	b, err := ReadBundle(p.URL, raw, p.Options)
	if err != nil {
		return nil, err
	}
	b.ETag = etag
	p.mu.Lock()
	p.current, p.etag, p.digest = b, etag, sum
	p.mu.Unlock()
	return b, nil
}

// defaultClient has http.DefaultTransport's settings, and bounded dial
// and header waits.
var defaultClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = DefaultPollTimeout
	return &http.Client{Transport: t}
}()
