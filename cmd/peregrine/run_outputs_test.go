package main

import (
	"encoding/json"
	"fmt"
	"github.com/peregrine-sec/peregrine/internal/peertest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/viper"

	"github.com/peregrine-sec/peregrine/internal/nginxtest"
	"github.com/peregrine-sec/peregrine/output"
)

// total is the number of lines collected so far.
func (l *lines) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

// TestRunHTTPOutputNeverAnswers: with an HTTP output (set with -o) to a
// peer that accepts connections and never answers, a live burst of 10^5
// alerts, raised by real opens of a file a rule watches, reaches stdout
// complete; the HTTP output's losses are counted and reported in the
// exit summary, and stdout's are none.
func TestRunHTTPOutputNeverAnswers(t *testing.T) {
	requireRoot(t)
	const n = 100000
	dir := t.TempDir()
	marker := filepath.Join(dir, "burst-marker")
	if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "burst.yaml")
	if err := os.WriteFile(rules, []byte(`- rule: Burst open
  desc: an open of the burst's marker file
  condition: evt.type in (open, openat, openat2) and fd.name = `+marker+`
  output: burst open %fd.name pid=%proc.pid
  priority: warning
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, alerts, logs := startCLI(t, os.Args[0], "run", "-r", rules, "--ring-buffer-size", strconv.Itoa(64<<20),
		"-o", "http_output.enabled=true", "-o", "http_output.url=http://"+peertest.Silent(t)+"/alerts", "-o", "http_output.timeout=2s")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("stderr:\n%s", logs.text())
		}
	}()
	logs.waitFor(t, "the capture", nil, "capturing")

	// The burst, from this process: n opens, paced only so that the
	// alerts raised stay within what the ring buffer and stdout's
	// queue hold (10000) of what stdout has written.
	start := time.Now()
	for i := 0; i < n; {
		for end := min(i+1000, n); i < end; i++ {
			f, err := os.Open(marker)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		for deadline := time.Now().Add(30 * time.Second); alerts.total() < i-5000; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d alerts on stdout after %d opens", alerts.total(), i)
			}
		}
	}
	for deadline := time.Now().Add(30 * time.Second); alerts.total() < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d opens, %d alerts on stdout in %v", n, alerts.total(), time.Since(start))

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30 s after SIGINT")
	}
	time.Sleep(100 * time.Millisecond) // the pipes are read to their end
	if got := alerts.count("burst open " + marker); got != n {
		t.Errorf("%d alerts on stdout, want %d", got, n)
	}
	log := logs.text()
	if !regexp.MustCompile(`lost 0, unrecorded \d+;`).MatchString(log) {
		t.Errorf("the kernel lost events: the burst is not whole")
	}
	if !strings.Contains(log, fmt.Sprintf("peregrine: alerts %d\n", n)) {
		t.Errorf("the summary does not count %d alerts", n)
	}
	m := regexp.MustCompile(`peregrine: output http: delivered 0, not delivered (\d+) \(dropped on a full queue (\d+), failed (\d+), undelivered at exit (\d+)\)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no line for the http output's losses")
	}
	num := func(s string) int { v, _ := strconv.Atoi(s); return v }
	t.Log(m[0])
	lost, dropped, failed, undelivered := num(m[1]), num(m[2]), num(m[3]), num(m[4])
	if lost != n || dropped+failed+undelivered != n || dropped < n/2 {
		t.Errorf("http output: %d not delivered (%d dropped, %d failed, %d undelivered), want all %d, most dropped", lost, dropped, failed, undelivered, n)
	}
	if strings.Contains(log, "output stdout:") {
		t.Errorf("stdout lost alerts")
	}
}

// TestOutputConfig: outputConfig reads the outputs' keys of a falco.yaml
// from viper, -o sets the nested ones (over the file), --json and -U
// override json_output and buffered_outputs, and an invalid value is an
// error naming its key.
func TestOutputConfig(t *testing.T) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader(`
buffered_outputs: true
outputs_queue:
  capacity: 42
file_output:
  enabled: true
  keep_alive: true
  filename: /tmp/x/events.txt
http_output:
  enabled: true
  url: http://collector.example:2801/
  timeout: 1s
`)); err != nil {
		t.Fatal(err)
	}
	cmd := newRunCmd(v)
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"stdout_output.enabled=false", "http_output.max_retries=7", "file_output.filename=/tmp/y/events.txt"} {
		if err := applyOption(v, cmd, o); err != nil {
			t.Errorf("-o %s: %v", o, err)
		}
	}
	for _, o := range []string{"http_output.urll=x", "stdout_outputs.enabled=true"} {
		if err := applyOption(v, cmd, o); err == nil {
			t.Errorf("-o %s taken", o)
		}
	}
	cfg, err := outputConfig(v)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Stdout.Enabled || !cfg.BufferedOutputs || cfg.OutputsQueue.Capacity != 42 || cfg.JSONOutput ||
		cfg.File != (output.FileConfig{Enabled: true, KeepAlive: true, Filename: "/tmp/y/events.txt"}) ||
		!cfg.HTTP.Enabled || cfg.HTTP.URL != "http://collector.example:2801/" || cfg.HTTP.Timeout != time.Second || cfg.HTTP.MaxRetries != 7 {
		t.Errorf("config %+v", cfg)
	}
	if err := cmd.Flags().Set("json", "true"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Flags().Set("unbuffered", "true"); err != nil {
		t.Fatal(err)
	}
	if cfg, _ = outputConfig(v); !cfg.JSONOutput || cfg.BufferedOutputs {
		t.Errorf("--json -U: json_output %v, buffered_outputs %v", cfg.JSONOutput, cfg.BufferedOutputs)
	}
	v.Set("http_output.url", "collector:2801")
	if _, err := outputConfig(v); err == nil || !strings.Contains(err.Error(), "http_output.url") {
		t.Errorf("a URL without scheme: %v", err)
	}
	v.Set("outputs_queue.capacity", "many")
	if _, err := outputConfig(v); err == nil || !strings.Contains(err.Error(), "capacity") {
		t.Errorf("a capacity that is no number: %v", err)
	}
}

// TestOutputOptionUnknown: -o of a misspelt outputs key is refused, not
// ignored, and run --dry-run checks the outputs' configuration.
func TestOutputOptionUnknown(t *testing.T) {
	_, stderr, code := run(t, "", "validate", "-o", "http_output.urll=http://x/")
	if code != 1 || !strings.Contains(stderr, `has no key "http_output.urll"`) {
		t.Errorf("exit %d: %s", code, stderr)
	}
	_, stderr, code = run(t, "", "run", "--dry-run", "-o", "file_output.enabled=true")
	if code != 1 || !strings.Contains(stderr, "file_output.filename") {
		t.Errorf("dry run with file_output and no filename: exit %d: %s", code, stderr)
	}
}

// TestRunFileOutputReopen: run with a file output (from -c, as a
// falco.yaml sets it, kept open) writes the alerts to the file, and on
// SIGHUP, after logrotate's rename, writes to a new file at the name.
func TestRunFileOutputReopen(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	os.WriteFile(marker, []byte("x"), 0o644)
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(`- rule: Marker open
  desc: an open of the marker
  condition: evt.type in (open, openat, openat2) and fd.name = `+marker+`
  output: marker open %fd.name by %proc.name
  priority: notice
`), 0o644)
	events := filepath.Join(dir, "events.txt")
	conf := filepath.Join(dir, "falco.yaml")
	os.WriteFile(conf, []byte(fmt.Sprintf("json_output: true\nstdout_output:\n  enabled: false\nfile_output:\n  enabled: true\n  keep_alive: true\n  filename: %s\n", events)), 0o644)
	cmd, stdout, logs := startCLI(t, os.Args[0], "run", "-c", conf, "-r", rules)
	defer cmd.Process.Kill()
	logs.waitFor(t, "the capture", nil, "capturing")
	open := func() {
		f, err := os.Open(marker)
		if err == nil {
			f.Close()
		}
	}
	waitFile := func(path, what string) string {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if data, _ := os.ReadFile(path); strings.Contains(string(data), `"rule":"Marker open"`) {
				return string(data)
			}
			open()
		}
		t.Fatalf("no alert in %s (%s):\n%s", path, what, logs.text())
		return ""
	}
	waitFile(events, "before the rotation")
	if err := os.Rename(events, events+".1"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, "the reload", nil, "reloaded")
	waitFile(events, "after the rotation")
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if fi, err := os.Stat(events); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the new file: %v %v", fi.Mode(), err)
	}
	if stdout.total() != 0 {
		t.Errorf("stdout_output disabled, yet stdout has %d lines", stdout.total())
	}
}

// TestRunHTTPOutputNginx: run with json_output and an HTTP output to a
// real nginx that logs request bodies: nginx receives each alert as
// Falco posts it, Falco's JSON alert as rendered for the live event, with
// output, priority, rule, time, source, tags, hostname and the template's
// output_fields.
func TestRunHTTPOutputNginx(t *testing.T) {
	requireRoot(t)
	sink := peertest.FreePort(t)
	srv := nginxtest.NewConf(t, func(dir string, port int) string {
		return fmt.Sprintf(`
	access_log off;
	log_format bodies escape=none '$content_type|$request_body';
	server {
		listen 127.0.0.1:%[2]d;
		client_body_buffer_size 1m;
		location = /alerts {
			access_log %[1]s/bodies.log bodies;
			proxy_pass http://127.0.0.1:%[3]d/;
		}
	}
	server {
		listen 127.0.0.1:%[3]d;
		location / { return 200; }
	}
`, dir, port, sink)
	})
	srv.Start()
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	os.WriteFile(marker, []byte("x"), 0o644)
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(`- rule: Marker read
  desc: cat reads the marker
  condition: evt.type in (open, openat, openat2) and fd.name = `+marker+` and proc.name = cat
  output: marker read file=%fd.name proc=%proc.name uid=%user.uid
  priority: error
  tags: [test, filesystem]
`), 0o644)
	cmd, stdout, logs := startCLI(t, os.Args[0], "run", "-r", rules, "-o", "json_output=true",
		"-o", "http_output.enabled=true", "-o", fmt.Sprintf("http_output.url=http://127.0.0.1:%d/alerts", srv.Port()))
	defer cmd.Process.Kill()
	logs.waitFor(t, "the capture", nil, "capturing")
	stdout.waitFor(t, "the alert on stdout", func() { _ = exec.Command("cat", marker).Run() }, `"rule":"Marker read"`)
	var line string
	for deadline := time.Now().Add(30 * time.Second); line == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		data, _ := os.ReadFile(filepath.Join(srv.Dir(), "bodies.log"))
		line, _, _ = strings.Cut(string(data), "\n")
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	ctype, body, _ := strings.Cut(line, "|")
	if ctype != "application/json" {
		t.Errorf("content type %q (nginx logged %q)", ctype, line)
	}
	var a struct {
		Output, Priority, Rule, Time, Source, Hostname string
		Tags                                           []string
		OutputFields                                   map[string]any `json:"output_fields"`
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("body %q: %v\n%s", body, err, logs.text())
	}
	host, _ := os.Hostname()
	if a.Rule != "Marker read" || a.Priority != "Error" || a.Source != "syscall" || a.Hostname != host ||
		!strings.Contains(a.Output, "Error marker read file="+marker+" proc=cat uid=") || len(a.Tags) != 2 {
		t.Errorf("alert %+v", a)
	}
	if _, err := time.Parse(time.RFC3339Nano, a.Time); err != nil {
		t.Errorf("time %q: %v", a.Time, err)
	}
	if a.OutputFields["fd.name"] != marker || a.OutputFields["proc.name"] != "cat" || a.OutputFields["user.uid"] == nil || a.OutputFields["evt.time"] == nil {
		t.Errorf("output_fields %v", a.OutputFields)
	}
}
