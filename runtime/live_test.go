package runtime_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/rules"
	"github.com/peregrine-sec/peregrine/runtime"
)

// TestMain lets the test binary act as a helper process: with
// PEREGRINE_TEST_HELPER set it performs that behaviour (see helpers.go)
// instead of running tests. Behaviours must run in a child process, as the
// capture ignores the engine's own process.
func TestMain(m *testing.M) {
	if h := os.Getenv("PEREGRINE_TEST_HELPER"); h != "" {
		os.Exit(runHelper(h, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// requireRoot skips a test that needs to load eBPF programs when not run
// as root, and fails it under CI, where it must run.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test loads eBPF programs and must run as root in CI")
		}
		t.Skip("loading eBPF programs needs root (CAP_BPF, CAP_PERFMON)")
	}
}

// liveEngine is a running capture whose alerts a test can wait for.
type liveEngine struct {
	live   *runtime.Live
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	alerts []runtime.Alert
	notify chan struct{}
}

// startLive starts a capture of the ruleset and stops it when the test
// ends.
func startLive(t *testing.T, rs *policy.Ruleset, opts runtime.LiveOptions) *liveEngine {
	t.Helper()
	opts.Matching = runtime.MatchAll
	return startLiveMatching(t, rs, opts)
}

// startLiveMatching is startLive with opts.Matching as given.
func startLiveMatching(t *testing.T, rs *policy.Ruleset, opts runtime.LiveOptions) *liveEngine {
	t.Helper()
	requireRoot(t)
	opts.Ruleset = rs
	live, err := runtime.StartLive(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	le := &liveEngine{live: live, cancel: cancel, done: make(chan error, 1), notify: make(chan struct{}, 1)}
	go func() {
		le.done <- live.Run(ctx, func(a runtime.Alert) error {
			le.mu.Lock()
			le.alerts = append(le.alerts, a)
			le.mu.Unlock()
			select {
			case le.notify <- struct{}{}:
			default:
			}
			return nil
		}, func(err error) { t.Logf("engine: %v", err) })
	}()
	t.Cleanup(le.stop)
	return le
}

func (le *liveEngine) stop() {
	if le.cancel == nil {
		return
	}
	le.cancel()
	<-le.done
	le.live.Close()
	le.cancel = nil
}

// has reports whether an alert pred accepts has arrived.
func (le *liveEngine) has(pred func(runtime.Alert) bool) bool {
	le.mu.Lock()
	defer le.mu.Unlock()
	for _, a := range le.alerts {
		if pred(a) {
			return true
		}
	}
	return false
}

// waitUntil reports whether an alert pred accepts arrives before deadline.
func (le *liveEngine) waitUntil(deadline time.Time, pred func(runtime.Alert) bool) bool {
	for {
		if le.has(pred) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-le.notify:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// wait returns the first alert pred accepts, failing the test after a
// timeout.
func (le *liveEngine) wait(t *testing.T, what string, pred func(runtime.Alert) bool) runtime.Alert {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		le.mu.Lock()
		for _, a := range le.alerts {
			if pred(a) {
				le.mu.Unlock()
				return a
			}
		}
		le.mu.Unlock()
		select {
		case <-le.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			le.mu.Lock()
			var seen []string
			for _, a := range le.alerts {
				seen = append(seen, a.Rule.Name+": "+a.Output)
			}
			le.mu.Unlock()
			t.Fatalf("no alert for %s; alerts seen:\n%s", what, strings.Join(seen, "\n"))
		}
	}
}

// field returns an alert event's field as text, "" when absent.
func field(a runtime.Alert, name string) string {
	ref := fieldRef(name)
	vals, ok := a.Event.Strings(ref)
	if !ok {
		return ""
	}
	return strings.Join(vals, " ")
}

// wantFields reports each field of a's event that differs from want's.
func wantFields(t *testing.T, a runtime.Alert, want map[string]string) {
	t.Helper()
	for f, w := range want {
		if got := field(a, f); got != w {
			t.Errorf("%s: %s = %q, want %q", a.Rule.Name, f, got, w)
		}
	}
}

// fieldRef parses "proc.aname[2]" or "evt.arg.target" into a reference.
func fieldRef(name string) *policy.FieldRef {
	base, arg, hasArg := name, "", false
	if i := strings.IndexByte(name, '['); i > 0 && strings.HasSuffix(name, "]") {
		base, arg, hasArg = name[:i], name[i+1:len(name)-1], true
	}
	f := policy.LookupField(base)
	if f == nil {
		if df, a := policy.SplitDottedArg(base); df != nil {
			f, arg, hasArg = df, a, true
		}
	}
	ref := &policy.FieldRef{Field: f, Arg: arg, HasArg: hasArg, Index: -1}
	if hasArg {
		n := 0
		for _, c := range arg {
			if c < '0' || c > '9' {
				n = -1
				break
			}
			n = n*10 + int(c-'0')
		}
		if n >= 0 && arg != "" {
			ref.Index = n
		}
	}
	return ref
}

// loadRules compiles rules text, failing the test on errors.
func loadRules(t *testing.T, name string, src []byte) *policy.Ruleset {
	t.Helper()
	l := falcocompat.NewLoader()
	l.AddFile(name, src)
	res := l.Compile()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return res.Ruleset
}

func defaultRules(t *testing.T) *policy.Ruleset {
	name, src := rules.Default()
	return loadRules(t, name, src)
}

// helper returns a command that runs this test binary as helper h.
func helper(h string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PEREGRINE_TEST_HELPER="+h)
	return cmd
}

// run runs a command, logging its output when it fails; failures are not
// fatal, since many behaviours are attempts that the system refuses.
func run(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("%s: %v: %s", strings.Join(cmd.Args, " "), err, out)
	}
}

// script writes an executable shell script into dir.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// loopbackListener listens on a TCP port of 127.0.0.1, accepting and
// closing connections until the test ends, and returns the port.
func loopbackListener(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
