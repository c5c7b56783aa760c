package main

import (
	"github.com/peregrine-sec/peregrine/internal/privtest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// TestRunStops: run stops soon after SIGINT, with the default rules and
// with the upstream stable and incubating rules, saying it stops and then
// what it saw and raised. The bound is generous (the machine is shared);
// the time is logged.
func TestRunStops(t *testing.T) {
	requireRoot(t)
	stable, incubating := upstream(t)
	stable, _ = filepath.Abs(stable)
	incubating, _ = filepath.Abs(incubating)
	for _, c := range []struct {
		name string
		args []string
		rule string // the rule a read of /etc/shadow raises
	}{
		{"default rules", nil, "Credential file read by untrusted program"},
		{"stable and incubating", []string{"-r", stable, "-r", incubating}, "Read sensitive file untrusted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd, alerts, logs := startCLI(t, os.Args[0], append([]string{"run"}, c.args...)...)
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer cmd.Process.Kill()
			logs.waitFor(t, "the capture", nil, "capturing")
			shadow := func() { _ = exec.Command("cat", "/etc/shadow").Run() }
			alerts.waitFor(t, "the shadow read's alert", shadow, "/etc/shadow")

			start := time.Now()
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("exit: %v\n%s", err, logs.text())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("still running 10 s after SIGINT\n%s", logs.text())
			}
			took := time.Since(start)
			t.Logf("stopped %v after SIGINT", took)
			if took > 3*time.Second {
				t.Errorf("stopping took %v", took)
			}
			// The pipes are read to their end once the process is gone.
			time.Sleep(100 * time.Millisecond)
			log := logs.text()
			for _, re := range []string{
				`peregrine: stopping\n`,
				`peregrine: syscalls seen [1-9]\d* \(32-bit \d+\), filtered in the kernel \d+ \(\d+ by container/host\), sent to userspace [1-9]\d*, lost 0, unrecorded \d+; events evaluated [1-9]\d*\n`,
				`peregrine: alerts [1-9]\d*\n`,
				`\n  Warning: [1-9]\d*\n`,
				`\n  ` + regexp.QuoteMeta(c.rule) + `: [1-9]\d*`,
			} {
				if !regexp.MustCompile(re).MatchString(log) {
					t.Errorf("stderr lacks %s:\n%s", re, log)
				}
			}
		})
	}
}

// TestRunNeverAlertsOnItself: a rule matching every file Peregrine's own
// process opens stays silent while run works (reading /proc for the
// processes it learns of), and a marker rule shows the capture ran.
func TestRunNeverAlertsOnItself(t *testing.T) {
	requireRoot(t)
	// A copy of the binary, so that the rule names run's process and not
	// this test's.
	dir, bin := privtest.PublicCopy(t, "peregrine-self")
	marker := filepath.Join(dir, "marker")
	os.WriteFile(marker, nil, 0o644)
	rules := filepath.Join(dir, "self.yaml")
	os.WriteFile(rules, []byte(`- rule: Self open
  desc: any open by Peregrine's own process
  condition: evt.type in (open, openat, openat2) and proc.exepath = `+bin+`
  output: self open %fd.name pid=%proc.pid
  priority: warning
- rule: Marker
  desc: the capture runs
  condition: evt.type in (open, openat) and fd.name = `+marker+` and proc.name = cat
  output: marker read
  priority: warning
`), 0o644)
	cmd, alerts, logs := startCLI(t, bin, "run", "-r", rules)
	defer cmd.Process.Kill()
	logs.waitFor(t, "the capture", nil, "capturing")
	// New processes make run read /proc; a reload makes it read the rules.
	for range 5 {
		_ = exec.Command("sh", "-c", "true").Run()
	}
	_ = cmd.Process.Signal(syscall.SIGHUP)
	logs.waitFor(t, "the reload", nil, "reloaded")
	alerts.waitFor(t, "the marker", func() { _ = exec.Command("cat", marker).Run() }, "marker read")
	if n := alerts.count("self open"); n != 0 {
		t.Errorf("%d alerts on Peregrine's own opens:\n%s", n, alerts.text())
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
}
