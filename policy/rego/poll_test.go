package rego

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/peregrine-sec/peregrine/internal/nginxtest"
)

// signedBundle is a bundle tarball made and signed with OPA's bundle
// package (as opa build does): the shell rule of bundle_test.go with
// shells as data.lists.shells, and the extra modules.
func signedBundle(t testing.TB, privKey, rev string, shells []string, extra map[string]string) []byte {
	t.Helper()
	list := make([]any, len(shells))
	for i, s := range shells {
		list[i] = s
	}
	b := bundle.Bundle{
		Manifest: bundle.Manifest{Revision: rev, Roots: &[]string{"peregrine", "lists"}},
		Data:     map[string]any{"lists": map[string]any{"shells": list}},
		Modules:  []bundle.ModuleFile{{URL: "/peregrine/shell/shell.rego", Path: "/peregrine/shell/shell.rego", Raw: []byte(shellRego)}},
	}
	for name, src := range extra {
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: name, Path: name, Raw: []byte(src)})
	}
	if err := b.GenerateSignature(bundle.NewSigningConfig(privKey, "RS256", ""), DefaultKeyID, false); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPollerNginx polls a signed bundle that a real nginx serves: it
// follows new revisions, refuses tampered and broken ones keeping the
// last good bundle, and survives nginx going away.
func TestPollerNginx(t *testing.T) {
	srv := nginxtest.New(t)
	priv, _, pubPEM := rsaKeys(t, t.TempDir(), "key")
	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	next := func() time.Time { mtime = mtime.Add(time.Minute); return mtime }

	srv.Put("bundle.tar.gz", signedBundle(t, priv, "rev-1", []string{"bash"}, nil), next())
	srv.Start()

	updates := make(chan *Bundle, 16)
	errs := make(chan error, 1024)
	p := &Poller{
		URL:      srv.URL("bundle.tar.gz"),
		Options:  BundleOptions{VerificationKey: pubPEM},
		Interval: 100 * time.Millisecond,
		Timeout:  2 * time.Second,
		OnUpdate: func(b *Bundle) { updates <- b },
		OnError: func(err error) {
			select {
			case errs <- err:
			default:
			}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- p.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-stopped:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run does not stop with its context")
		}
	}()

	wait := func(what string) *Bundle {
		t.Helper()
		select {
		case b := <-updates:
			return b
		case err := <-errs:
			t.Fatalf("waiting for %s: error %v", what, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no update to %s", what)
		}
		return nil
	}
	drainErrs := func() {
		for {
			select {
			case <-errs:
			default:
				return
			}
		}
	}
	// waitErr waits for an error that is wanted, and no update.
	waitErr := func(what string, wanted func(error) bool) error {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case b := <-updates:
				t.Fatalf("%s: update to %s", what, b.Revision)
			case err := <-errs:
				if wanted(err) {
					return err
				}
				t.Logf("%s: other error %v", what, err)
			case <-deadline:
				t.Fatalf("%s: no error", what)
			}
		}
	}
	shells := func(b *Bundle) string {
		r := ruleByName(b.Rules, "Shell from bundle")
		if r == nil {
			t.Fatalf("revision %s has no shell rule", b.Revision)
		}
		return r.Condition.String()
	}

	// The first revision.
	b := wait("rev-1")
	if b.Revision != "rev-1" || !b.Signed || b.ETag == "" || !strings.Contains(shells(b), "proc.name in (bash)") {
		t.Fatalf("rev-1: %+v %s", b, shells(b))
	}
	// Unchanged: nginx answers the ETag with 304, and nothing is updated.
	time.Sleep(500 * time.Millisecond)
	select {
	case b := <-updates:
		t.Fatalf("update to %s without a change", b.Revision)
	case err := <-errs:
		t.Fatalf("error without a change: %v", err)
	default:
	}
	if n := strings.Count(srv.AccessLog(), `" 304 `); n < 2 {
		t.Errorf("%d 304 responses to If-None-Match; access log:\n%s", n, srv.AccessLog())
	}

	// A tampered revision is refused; the last good one stays.
	srv.Put("bundle.tar.gz", tamper(t, signedBundle(t, priv, "rev-bad", []string{"bash", "zsh"}, nil)), next())
	err := waitErr("tampered", func(err error) bool { return errors.Is(err, ErrVerification) })
	if !strings.Contains(err.Error(), "digest mismatch") || !strings.Contains(err.Error(), p.URL) {
		t.Errorf("tampered: %v", err)
	}
	if cur := p.Current(); cur == nil || cur.Revision != "rev-1" {
		t.Fatalf("current after a tampered bundle: %+v", cur)
	}

	// A signed revision whose Rego does not compile is refused too.
	srv.Put("bundle.tar.gz", signedBundle(t, priv, "rev-broken", []string{"bash"},
		map[string]string{"/peregrine/net/net.rego": "package peregrine.net\n\nalert if {\n\tinput.proc.name ==\n}\n"}), next())
	err = waitErr("broken", func(err error) bool { return strings.Contains(err.Error(), "net.rego:5:1: rego_parse_error") })
	if !strings.Contains(err.Error(), p.URL+"/peregrine/net/net.rego") {
		t.Errorf("broken: %v", err)
	}
	if cur := p.Current(); cur == nil || cur.Revision != "rev-1" {
		t.Fatalf("current after a broken bundle: %+v", cur)
	}

	// A good new revision.
	srv.Put("bundle.tar.gz", signedBundle(t, priv, "rev-2", []string{"bash", "zsh"}, nil), next())
	drainErrs()
	b = wait("rev-2")
	if b.Revision != "rev-2" || !strings.Contains(shells(b), "proc.name in (bash, zsh)") {
		t.Fatalf("rev-2: %s %s", b.Revision, shells(b))
	}

	// nginx goes away: errors, and the last good bundle stays.
	srv.Stop()
	drainErrs()
	waitErr("nginx stopped", func(err error) bool { return strings.Contains(err.Error(), "connection refused") })
	waitErr("nginx stopped", func(err error) bool { return strings.Contains(err.Error(), "connection refused") })
	if cur := p.Current(); cur == nil || cur.Revision != "rev-2" {
		t.Fatalf("current with nginx down: %+v", cur)
	}

	// nginx comes back with a further revision.
	srv.Put("bundle.tar.gz", signedBundle(t, priv, "rev-3", []string{"ash"},
		map[string]string{"/peregrine/admin/admin.rego": strings.ReplaceAll(adminRego, "data.lists.admins.uids", "{0}")}), next())
	srv.Start()
	deadline := time.After(10 * time.Second)
	for b = nil; b == nil; {
		select {
		case b = <-updates:
		case <-errs: // until nginx answers
		case <-deadline:
			t.Fatal("no update after nginx restarted")
		}
	}
	if b.Revision != "rev-3" || len(b.Rules) != 2 || !strings.Contains(shells(b), "proc.name in (ash)") {
		t.Fatalf("rev-3: %s %d rules %s", b.Revision, len(b.Rules), shells(b))
	}
	if cur := p.Current(); cur != b {
		t.Errorf("current %v, want rev-3", cur)
	}
}

// TestPollerStatus checks responses other than 200 and 304, and that
// Run needs a URL. It uses net/http's server on loopback.
func TestPollerStatus(t *testing.T) {
	if err := (&Poller{}).Run(context.Background()); err == nil {
		t.Error("Run without a URL")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(time.Second)
		case "/big":
			w.Write(bytes.Repeat([]byte{0x1f}, 2048))
			return
		}
		http.NotFound(w, r)
	}), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(l)
	defer hs.Close()
	base := "http://" + l.Addr().String()
	for _, tc := range []struct {
		path string
		p    *Poller
		want string
	}{
		{"/missing", &Poller{}, "404 Not Found"},
		{"/slow", &Poller{Timeout: 100 * time.Millisecond}, "deadline exceeded"},
		{"/big", &Poller{Options: BundleOptions{SizeLimitBytes: 1024}}, "size limit of 1024 bytes"},
	} {
		tc.p.URL = base + tc.path
		b, err := tc.p.Poll(context.Background())
		if b != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, %v; want %s", tc.path, b, err, tc.want)
		}
	}
}
