package main

import (
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
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test loads eBPF programs and must run as root in CI")
		}
		t.Skip("loading eBPF programs needs root")
	}
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
			cmd := exec.Command(os.Args[0], append([]string{"run"}, c.args...)...)
			cmd.Env = append(os.Environ(), "PEREGRINE_RUN_MAIN=1")
			cmd.Dir = t.TempDir()
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			alerts, logs := collect(stdout), collect(stderr)
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
				`peregrine: syscalls seen [1-9]\d* \(32-bit \d+\), filtered in the kernel \d+, sent to userspace [1-9]\d*, lost 0, unrecorded \d+; events evaluated [1-9]\d*\n`,
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
