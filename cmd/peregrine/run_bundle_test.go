package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/peregrine-sec/peregrine/internal/nginxtest"
)

// markerBundle is a bundle tarball with one Rego rule alerting when cat
// opens a file whose name starts with prefix.
func markerBundle(t *testing.T, rev, title, prefix string) []byte {
	t.Helper()
	src := fmt.Sprintf(`# METADATA
# title: %s
# custom:
#   priority: WARNING
#   output: marker read file=%%fd.name proc=%%proc.name
package e2e.marker

alert if {
	input.evt.type in {"open", "openat", "openat2"}
	input.proc.name == "cat"
	startswith(input.fd.name, %q)
}
`, title, prefix)
	b := bundle.Bundle{
		Manifest: bundle.Manifest{Revision: rev, Roots: &[]string{"e2e"}},
		Data:     map[string]any{},
		Modules:  []bundle.ModuleFile{{URL: "/e2e/marker.rego", Path: "/e2e/marker.rego", Raw: []byte(src)}},
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lines collects a stream's lines for waiting on them.
type lines struct {
	mu   sync.Mutex
	all  []string
	seen chan struct{}
}

func collect(r io.Reader) *lines {
	l := &lines{seen: make(chan struct{}, 1)}
	go func() {
		s := bufio.NewScanner(r)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			l.mu.Lock()
			l.all = append(l.all, s.Text())
			l.mu.Unlock()
			select {
			case l.seen <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

// count returns how many lines contain every one of subs.
func (l *lines) count(subs ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
next:
	for _, line := range l.all {
		for _, s := range subs {
			if !strings.Contains(line, s) {
				continue next
			}
		}
		n++
	}
	return n
}

// tail returns the last n lines.
func (l *lines) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all[max(0, len(l.all)-n):], "\n")
}

func (l *lines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// startCLI starts bin (this test binary, or a copy) as the CLI with args,
// collecting its stdout and stderr lines.
func startCLI(t *testing.T, bin string, args ...string) (cmd *exec.Cmd, stdout, stderr *lines) {
	t.Helper()
	cmd = exec.Command(bin, args...)
	stdout, stderr = startCommand(t, cmd)
	return cmd, stdout, stderr
}

// startCommand starts cmd, which runs this test binary as the CLI
// (perhaps through a wrapper such as setpriv), collecting its stdout and
// stderr lines.
func startCommand(t *testing.T, cmd *exec.Cmd) (stdout, stderr *lines) {
	t.Helper()
	cmd.Env = append(os.Environ(), "PEREGRINE_RUN_MAIN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errOut, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return collect(out), collect(errOut)
}

// waitFor waits until a line contains every one of subs, calling poke
// (when not nil) before each wait.
func (l *lines) waitFor(t *testing.T, what string, poke func(), subs ...string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for l.count(subs...) == 0 {
		if poke != nil {
			poke()
		}
		select {
		case <-l.seen:
		case <-time.After(250 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s (%q); the last lines:\n%s", what, subs, l.tail(20))
		}
	}
}

// TestRunBundleURL runs `peregrine run --bundle-url` against a real nginx:
// the bundle's rule alerts live, a new revision replaces it, SIGHUP
// (which reloads the -r rules) keeps it, and it survives nginx going
// away.
func TestRunBundleURL(t *testing.T) {
	requireRoot(t)
	srv := nginxtest.New(t)
	dir := t.TempDir()
	mtime := time.Now().Add(-time.Hour)
	put := func(rev, title, prefix string) {
		mtime = mtime.Add(2 * time.Second) // nginx's ETag has one-second resolution
		srv.Put("bundle.tar.gz", markerBundle(t, rev, title, filepath.Join(dir, prefix)), mtime)
	}
	put("r1", "Bundle marker one", "one-")
	srv.Start()

	cmd, alerts, logs := startCLI(t, os.Args[0], "run", "--json", "--bundle-url", srv.URL("bundle.tar.gz"), "--bundle-poll-interval", "200ms")
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("stderr:\n%s\nstdout:\n%s", logs.text(), alerts.text())
		}
	}()
	cat := func(name string) func() {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		return func() { _ = exec.Command("cat", path).Run() }
	}

	logs.waitFor(t, "the first revision", nil, `revision "r1"`)
	alerts.waitFor(t, "the first revision's alert", cat("one-a"), `"rule":"Bundle marker one"`, "one-a")

	put("r2", "Bundle marker two", "two-")
	logs.waitFor(t, "the second revision", nil, `revision "r2"`)
	cat("one-b")()
	alerts.waitFor(t, "the second revision's alert", cat("two-b"), `"rule":"Bundle marker two"`, "two-b")
	if n := alerts.count("one-b"); n != 0 {
		t.Errorf("the replaced rule still alerts (%d alerts on one-b)", n)
	}

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, "the reload", nil, "reloaded")
	alerts.waitFor(t, "the bundle's alert after SIGHUP", cat("two-c"), `"rule":"Bundle marker two"`, "two-c")

	srv.Stop()
	logs.waitFor(t, "the failed poll", nil, "the last good bundle stays")
	alerts.waitFor(t, "the bundle's alert with nginx gone", cat("two-d"), `"rule":"Bundle marker two"`, "two-d")

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("peregrine run exited with %v", exitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("peregrine run does not stop on SIGINT")
	}
}
