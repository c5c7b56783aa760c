package output

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/viper"

	"github.com/peregrine-sec/peregrine/policy"
)

// alertN is the n-th test alert, with Falco's JSON keys.
func alertN(n int) *Alert {
	t := time.Date(2026, 12, 1, 15, 4, 5, n, time.UTC)
	out := fmt.Sprintf("%s: Warning test alert n=%d proc=cat", t.Local().Format("15:04:05.000000000"), n)
	js := fmt.Sprintf(`{"hostname":"testhost","output":%q,"output_fields":{"evt.time":%d,"n":%d,"proc.name":"cat"},"priority":"Warning","rule":"Test rule","source":"syscall","tags":["filesystem","test"],"time":%q}`,
		out, t.UnixNano(), n, t.Format("2006-01-02T15:04:05.000000000Z"))
	return &Alert{Time: t, Priority: policy.PriorityWarning, Rule: "Test rule", Line: out, JSON: []byte(js)}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newSet(t *testing.T, cfg Config, opts Options) *Set {
	t.Helper()
	if opts.Errorf == nil {
		opts.Errorf = func(name string, err error) { t.Logf("output %s: %v", name, err) }
	}
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitStats waits until the output name's stats satisfy ok.
func waitStats(t *testing.T, s *Set, name string, what string, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, st := range s.Stats() {
			if st.Name == name && ok(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func statsOf(t testing.TB, stats []Stats, name string) Stats {
	t.Helper()
	for _, st := range stats {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no output %s in %+v", name, stats)
	return Stats{}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// TestConfigFromFalcoYAML: viper.Unmarshal fills Config from a falco.yaml's
// keys over DefaultConfig, keeping the defaults of the keys it lacks.
func TestConfigFromFalcoYAML(t *testing.T) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader(`
json_output: true
buffered_outputs: true
outputs_queue:
  capacity: 500
stdout_output:
  enabled: false
file_output:
  enabled: true
  keep_alive: true
  filename: /var/log/peregrine/events.txt
syslog_output:
  enabled: true
  protocol: tcp
  address: 127.0.0.1:6514
  facility: local3
program_output:
  enabled: true
  keep_alive: true
  program: "jq '{text: .output}' | logger"
http_output:
  enabled: true
  url: https://sidekick:2801/
  user_agent: "falcosecurity/falco"
  insecure: false
  ca_cert: ""
  ca_bundle: /etc/ssl/ca.pem
  ca_path: /etc/falco/certs/
  mtls: true
  client_cert: /etc/falco/certs/client/client.crt
  client_key: /etc/falco/certs/client/client.key
  echo: false
  compress_uploads: false
  keep_alive: true
  custom_headers:
    Authorization: Bearer x
  timeout: 2s
  max_retries: 4
`)); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	if err := v.Unmarshal(&cfg); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.JSONOutput, want.BufferedOutputs, want.OutputsQueue.Capacity = true, true, 500
	want.Stdout.Enabled = false
	want.File = FileConfig{Enabled: true, KeepAlive: true, Filename: "/var/log/peregrine/events.txt"}
	want.Syslog = SyslogConfig{Enabled: true, Protocol: "tcp", Address: "127.0.0.1:6514", Facility: "local3"}
	want.Program = ProgramConfig{Enabled: true, KeepAlive: true, Program: "jq '{text: .output}' | logger"}
	h := &want.HTTP
	h.Enabled, h.URL, h.UserAgent, h.CABundle, h.CAPath = true, "https://sidekick:2801/", "falcosecurity/falco", "/etc/ssl/ca.pem", "/etc/falco/certs/"
	h.MTLS, h.ClientCert, h.ClientKey, h.KeepAlive = true, "/etc/falco/certs/client/client.crt", "/etc/falco/certs/client/client.key", true
	h.CustomHeaders = map[string]string{"authorization": "Bearer x"} // viper lowers keys; header names ignore case
	h.Timeout, h.MaxRetries = 2*time.Second, 4
	if fmt.Sprintf("%+v", cfg) != fmt.Sprintf("%+v", want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	keys := strings.Join(Keys(), " ")
	for _, k := range []string{"json_output", "outputs_queue.capacity", "stdout_output.enabled", "file_output.filename", "http_output.ca_path", "http_output.max_retries", "syslog_output.address"} {
		if !strings.Contains(" "+keys+" ", " "+k+" ") {
			t.Errorf("Keys() lacks %s: %s", k, keys)
		}
	}
}

// TestConfigErrors: each invalid value is refused with its key named.
func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		key string
		set func(*Config)
	}{
		{"outputs_queue.capacity", func(c *Config) { c.OutputsQueue.Capacity = -1 }},
		{"file_output.filename", func(c *Config) { c.File.Enabled = true }},
		{"program_output.program", func(c *Config) { c.Program.Enabled = true }},
		{"syslog_output.protocol", func(c *Config) { c.Syslog = SyslogConfig{Enabled: true, Protocol: "sctp"} }},
		{"syslog_output.address", func(c *Config) { c.Syslog = SyslogConfig{Enabled: true, Protocol: "udp"} }},
		{"syslog_output.format", func(c *Config) { c.Syslog = SyslogConfig{Enabled: true, Format: "gelf"} }},
		{"syslog_output.facility", func(c *Config) { c.Syslog = SyslogConfig{Enabled: true, Facility: "local9"} }},
		{"http_output.url", func(c *Config) { c.HTTP.Enabled, c.HTTP.URL = true, "ftp://x/" }},
		{"http_output.url", func(c *Config) { c.HTTP.Enabled = true }},
		{"http_output.mtls", func(c *Config) { c.HTTP.Enabled, c.HTTP.URL, c.HTTP.MTLS = true, "https://x/", true }},
		{"http_output.max_retries", func(c *Config) { c.HTTP.Enabled, c.HTTP.URL, c.HTTP.MaxRetries = true, "https://x/", -1 }},
		{"http_output.ca_cert", func(c *Config) {
			c.HTTP.Enabled, c.HTTP.URL, c.HTTP.CACert = true, "https://x/", "/nonexistent/ca.pem"
		}},
		{"http_output.client_cert", func(c *Config) {
			c.HTTP.Enabled, c.HTTP.URL, c.HTTP.MTLS, c.HTTP.ClientCert, c.HTTP.ClientKey = true, "https://x/", true, "/nonexistent/c.pem", "/nonexistent/k.pem"
		}},
		{"file_output.filename", func(c *Config) { c.File.Enabled, c.File.Filename = true, "/nonexistent/dir/events.txt" }},
		{"syslog_output.address", func(c *Config) { c.Syslog = SyslogConfig{Enabled: true, Address: "/nonexistent/log"} }},
	} {
		cfg := DefaultConfig()
		c.set(&cfg)
		s, err := New(cfg, Options{})
		if err == nil {
			s.Close(context.Background())
			t.Errorf("%s: no error", c.key)
			continue
		}
		if !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: the error does not name the key: %v", c.key, err)
		}
	}
}

// TestStdout: every alert reaches stdout, in order, unbuffered and
// buffered.
func TestStdout(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		var out syncBuffer
		cfg := DefaultConfig()
		cfg.BufferedOutputs = buffered
		s := newSet(t, cfg, Options{Stdout: &out})
		const n = 2000
		for i := range n {
			s.Send(alertN(i))
		}
		// Flushed when the queue runs empty, buffered or not.
		waitStats(t, s, "stdout", "every alert", func(st Stats) bool { return st.Delivered == n })
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != n {
			t.Fatalf("buffered %v: %d lines, want %d", buffered, len(lines), n)
		}
		for i, l := range lines {
			if l != alertN(i).Line {
				t.Fatalf("buffered %v: line %d is %q, want %q", buffered, i, l, alertN(i).Line)
			}
		}
		stats, err := s.Close(context.Background())
		if err != nil {
			t.Error(err)
		}
		if st := statsOf(t, stats, "stdout"); st.Lost() != 0 || st.Delivered != n {
			t.Errorf("stats %+v", st)
		}
		s.Send(alertN(n))
		if st := s.Stats()[0]; st.Dropped != 1 {
			t.Errorf("an alert sent after Close is not counted as dropped: %+v", st)
		}
	}
}

// TestFileReopen: a kept-alive file output appends to its file (created
// 0600), keeps writing to it after a rename (the open file), and writes to
// a new file at the name after Reopen, as logrotate needs.
func TestFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.txt")
	if err := os.WriteFile(path, []byte("existing line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Stdout.Enabled = false
	cfg.File = FileConfig{Enabled: true, KeepAlive: true, Filename: path}
	s := newSet(t, cfg, Options{})
	for i := range 3 {
		s.Send(alertN(i))
	}
	waitStats(t, s, "file", "the first alerts", func(st Stats) bool { return st.Delivered == 3 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	s.Send(alertN(3)) // still the renamed file, open
	waitStats(t, s, "file", "the alert after the rename", func(st Stats) bool { return st.Delivered == 4 })
	s.Reopen()
	s.Send(alertN(4))
	s.Send(alertN(5))
	stats, err := s.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st := statsOf(t, stats, "file"); st.Delivered != 6 || st.Lost() != 0 {
		t.Errorf("stats %+v", st)
	}
	old := readLines(t, path+".1")
	if len(old) != 5 || old[0] != "existing line" || old[4] != alertN(3).Line {
		t.Errorf("rotated file:\n%s", strings.Join(old, "\n"))
	}
	cur := readLines(t, path)
	if len(cur) != 2 || cur[0] != alertN(4).Line || cur[1] != alertN(5).Line {
		t.Errorf("reopened file:\n%s", strings.Join(cur, "\n"))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestFileNotKeptAlive: without keep_alive the file is opened for every
// alert (Falco's default), so a rename needs no Reopen.
func TestFileNotKeptAlive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.txt")
	cfg := DefaultConfig()
	cfg.Stdout.Enabled = false
	cfg.File = FileConfig{Enabled: true, Filename: path}
	s := newSet(t, cfg, Options{})
	s.Send(alertN(0))
	waitStats(t, s, "file", "the first alert", func(st Stats) bool { return st.Delivered == 1 })
	os.Rename(path, path+".1")
	s.Send(alertN(1))
	if _, err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, path+".1"); len(got) != 1 || got[0] != alertN(0).Line {
		t.Errorf("first file: %q", got)
	}
	if got := readLines(t, path); len(got) != 1 || got[0] != alertN(1).Line {
		t.Errorf("second file: %q", got)
	}
}

// waitLines waits until path has n lines.
func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(data) > 0 && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d lines, want %d", path, len(lines), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone waits until pid has exited (its files closed: a zombie or reaped).
func gone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(data), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d still runs", pid)
}

// TestProgramKeepAlive: one long-lived process receives every alert; when
// killed it is restarted (counted) and receives the alerts that follow,
// the one that found it dead included.
func TestProgramKeepAlive(t *testing.T) {
	dir := t.TempDir()
	out, pids := filepath.Join(dir, "out"), filepath.Join(dir, "pids")
	cfg := DefaultConfig()
	cfg.Stdout.Enabled = false
	cfg.Program = ProgramConfig{Enabled: true, KeepAlive: true, Program: fmt.Sprintf("echo $$ >> %s; exec cat >> %s", pids, out)}
	s := newSet(t, cfg, Options{})
	const n = 500
	for i := range n {
		s.Send(alertN(i))
	}
	waitLines(t, out, n)
	first := waitLines(t, pids, 1)
	var pid int
	fmt.Sscan(first[0], &pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gone(t, pid)
	for i := n; i < 2*n; i++ {
		s.Send(alertN(i))
	}
	got := waitLines(t, out, 2*n)
	stats, err := s.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range got {
		if l != alertN(i).Line {
			t.Fatalf("line %d: %q, want %q", i, l, alertN(i).Line)
		}
	}
	if len(got) != 2*n {
		t.Errorf("%d lines, want %d", len(got), 2*n)
	}
	st := statsOf(t, stats, "program")
	if st.Delivered != 2*n || st.Lost() != 0 || st.Restarts != 1 {
		t.Errorf("stats %+v, want %d delivered, 1 restart", st, 2*n)
	}
	if p := readLines(t, pids); len(p) != 2 || p[0] == p[1] {
		t.Errorf("processes started: %q, want two", p)
	}
}

// TestProgramPerAlert: without keep_alive every alert gets a process of
// its own; one that exits non-zero fails its alert.
func TestProgramPerAlert(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cfg := DefaultConfig()
	cfg.Stdout.Enabled = false
	cfg.Program = ProgramConfig{Enabled: true}
	cfg.Program.Program = fmt.Sprintf("line=$(cat); echo \"$line pid=$$\" >> %s; case \"$line\" in *n=7\\ *) exit 3;; esac", out)
	s := newSet(t, cfg, Options{})
	const n = 20
	for i := range n {
		s.Send(alertN(i))
	}
	stats, _ := s.Close(context.Background())
	lines := readLines(t, out)
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	pids := map[string]bool{}
	for i, l := range lines {
		before, pid, _ := strings.Cut(l, " pid=")
		if before != alertN(i).Line {
			t.Errorf("line %d: %q", i, l)
		}
		pids[pid] = true
	}
	if len(pids) != n {
		t.Errorf("%d processes for %d alerts", len(pids), n)
	}
	if st := statsOf(t, stats, "program"); st.Delivered != n-1 || st.Failed != 1 {
		t.Errorf("stats %+v, want %d delivered and 1 failed (the exit 3)", st, n-1)
	}
}

// TestStuckStdout: a stdout nobody reads (a pipe whose reader sleeps)
// blocks only the stdout output: Send does not wait, the file output
// gets every alert, and Close returns soon after its deadline, counting
// stdout's alerts as dropped or undelivered.
func TestStuckStdout(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	path := filepath.Join(t.TempDir(), "events.txt")
	cfg := DefaultConfig()
	cfg.OutputsQueue.Capacity = 500
	cfg.File = FileConfig{Enabled: true, KeepAlive: true, Filename: path}
	s := newSet(t, cfg, Options{Stdout: w})
	const n = 5000 // far more than the pipe's 64 KiB
	start := time.Now()
	for i := range n {
		s.Send(alertN(i))
		if i%100 == 0 {
			waitStats(t, s, "file", "the file's queue", func(st Stats) bool { return st.Queued < 200 })
		}
	}
	waitStats(t, s, "file", "every alert in the file", func(st Stats) bool { return st.Delivered == n })
	t.Logf("sent %d in %v", n, time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	stats, err := s.Close(ctx)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close took %v", took)
	}
	if err == nil || !strings.Contains(err.Error(), "output stdout") {
		t.Errorf("Close: %v", err)
	}
	if got := readLines(t, path); len(got) != n {
		t.Errorf("the file has %d lines, want %d", len(got), n)
	}
	st := statsOf(t, stats, "stdout")
	if st.Dropped == 0 || st.Delivered+st.Lost() < n {
		t.Errorf("stdout stats %+v: want drops, and every alert accounted for", st)
	}
}

// TestProgramBackoff: a kept-alive program that exits at once, reading
// nothing, is restarted with a growing backoff, not in a tight loop, and
// every alert is counted as failed: none was read.
func TestProgramBackoff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Stdout.Enabled = false
	cfg.Program = ProgramConfig{Enabled: true, KeepAlive: true, Program: "exit 0"}
	s := newSet(t, cfg, Options{})
	const n = 30
	start := time.Now()
	for i := range n {
		s.Send(alertN(i))
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	stats, _ := s.Close(ctx)
	took := time.Since(start)
	st := statsOf(t, stats, "program")
	// Backoffs of 100, 200, 400, 800 ms...: about log2 of the time in
	// tenths of a second, and two for the slack.
	if limit := uint64(math.Log2(float64(took/(100*time.Millisecond)))) + 2; st.Restarts < 2 || st.Restarts > limit {
		t.Errorf("%d restarts in %v, want 2 to %d", st.Restarts, took, limit)
	}
	if st.Delivered != 0 || st.Failed+st.Undelivered != n {
		t.Errorf("stats %+v: want every alert failed or undelivered (none was read)", st)
	}
	t.Logf("%+v in %v", st, took)
}

// TestProgramResendsUnread: what a kept-alive program left unread in its
// pipe when it exited goes to the next process: a program that reads one
// line (sh's read takes it byte by byte) and exits gets every alert, in
// order, each from a process of its own.
func TestProgramResendsUnread(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	cfg := DefaultConfig()
	cfg.Stdout.Enabled = false
	cfg.Program = ProgramConfig{Enabled: true, KeepAlive: true, Program: fmt.Sprintf(`read -r l; echo "$l pid=$$" >> %s`, out)}
	s := newSet(t, cfg, Options{})
	const n = 5
	for i := range n {
		s.Send(alertN(i))
	}
	lines := waitLines(t, out, n)
	stats, err := s.Close(context.Background())
	if err != nil {
		t.Error(err)
	}
	pids := map[string]bool{}
	for i, l := range lines {
		before, pid, _ := strings.Cut(l, " pid=")
		if before != alertN(i).Line {
			t.Errorf("line %d: %q, want %q", i, l, alertN(i).Line)
		}
		pids[pid] = true
	}
	st := statsOf(t, stats, "program")
	if len(lines) != n || len(pids) != n || st.Delivered != n || st.Lost() != 0 || st.Restarts < n-1 {
		t.Errorf("%d lines from %d processes, stats %+v", len(lines), len(pids), st)
	}
}
