package output

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/internal/peertest"
	"github.com/peregrine-sec/peregrine/policy"
)

// rsyslogd is a real rsyslogd with its own configuration: imudp and
// imtcp on loopback ports and imuxsock on a socket in its directory,
// writing what it parsed of each message, one line each, to a file.
type rsyslogd struct {
	t              *testing.T
	bin, dir       string
	udp, tcp, sock string
	cmd            *exec.Cmd
	done           chan error
	stderr         bytes.Buffer
	starts         int
}

func rsyslogBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/rsyslogd"); err == nil {
		return "/usr/sbin/rsyslogd"
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no rsyslogd (/usr/sbin/rsyslogd): CI must install Debian's rsyslog package")
	}
	t.Skip("no rsyslogd (/usr/sbin/rsyslogd): apt-get install rsyslog to run this test (under CI it fails)")
	return ""
}

func freeUDP(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// startRsyslogd configures and starts an rsyslogd; it is stopped when
// the test ends.
func startRsyslogd(t *testing.T) *rsyslogd {
	t.Helper()
	dir := t.TempDir()
	r := &rsyslogd{t: t, bin: rsyslogBinary(t), dir: dir, udp: fmt.Sprintf("127.0.0.1:%d", freeUDP(t)),
		tcp: fmt.Sprintf("127.0.0.1:%d", peertest.FreePort(t)), sock: filepath.Join(dir, "log.sock")}
	_, udpPort, _ := net.SplitHostPort(r.udp)
	_, tcpPort, _ := net.SplitHostPort(r.tcp)
	conf := fmt.Sprintf(`global(workDirectory="%[1]s")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
input(type="imudp" address="127.0.0.1" port="%[2]s")
input(type="imtcp" address="127.0.0.1" port="%[3]s")
input(type="imuxsock" Socket="%[4]s")
template(name="fields" type="string" string="%%inputname%%|%%protocol-version%%|%%syslogfacility-text%%|%%syslogseverity%%|%%timereported:::date-rfc3339%%|%%hostname%%|%%app-name%%|%%procid%%|%%msgid%%|%%msg%%\n")
*.* action(type="omfile" file="%[1]s/messages" template="fields")
`, dir, udpPort, tcpPort, r.sock)
	if err := os.WriteFile(filepath.Join(dir, "rsyslog.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r.start()
	t.Cleanup(r.stop)
	return r
}

// start starts rsyslogd and waits until every input takes a probe.
func (r *rsyslogd) start() {
	t := r.t
	t.Helper()
	r.starts++
	r.cmd = exec.Command(r.bin, "-n", "-f", filepath.Join(r.dir, "rsyslog.conf"), "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	r.stderr.Reset()
	r.cmd.Stdout, r.cmd.Stderr = &r.stderr, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(r.cmd, r.done)
	deadline := time.Now().Add(15 * time.Second)
	for _, probe := range []struct{ network, addr, msg string }{
		{"udp", r.udp, "<14>1 - - probe - - - udp-%d\n"}, {"tcp", r.tcp, "<14>1 - - probe - - - tcp-%d\n"}, {"unixgram", r.sock, "<14>probe: unixgram-%d"},
	} {
		msg := fmt.Sprintf(probe.msg, r.starts)
		want := fmt.Sprintf("%s-%d", probe.network, r.starts)
		for !strings.Contains(r.text(), "|probe|-|-|"+want) && !strings.Contains(r.text(), "|probe|-|-| "+want) {
			if c, err := net.Dial(probe.network, probe.addr); err == nil {
				c.Write([]byte(msg))
				c.Close()
			}
			select {
			case err := <-r.done:
				t.Fatalf("rsyslogd exited: %v\n%s", err, r.stderr.String())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("rsyslogd does not take messages over %s: %s\n%s", probe.network, r.text(), r.stderr.String())
			}
		}
	}
}

// stop stops rsyslogd and waits for it.
func (r *rsyslogd) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
}

func (r *rsyslogd) text() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "messages"))
	return string(b)
}

// received is one message rsyslogd parsed.
type received struct {
	input, version, facility, severity, time, host, app, procid, msgid, msg string
}

// messages waits until rsyslogd has written want messages from input and
// returns them.
func (r *rsyslogd) messages(t *testing.T, input string, want int) []received {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var out []received
		for _, l := range strings.Split(r.text(), "\n") {
			f := strings.SplitN(l, "|", 10)
			if len(f) == 10 && f[0] == input && f[6] != "probe" {
				out = append(out, received{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], strings.TrimSpace(f[9])})
			}
		}
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// prioAlert is alertN with priority n mod 8.
func prioAlert(n int) *Alert {
	a := alertN(n)
	a.Priority = policy.Priority(n % 8)
	return a
}

// TestSyslogRsyslogd: rsyslogd receives every alert over UDP and over
// TCP (octet-counted) in RFC 5424, and over its local socket as
// syslog(3) writes; it parses the facility, the severity of the rule's
// priority, the time, host, app name and pid, and the line.
func TestSyslogRsyslogd(t *testing.T) {
	r := startRsyslogd(t)
	pid := strconv.Itoa(os.Getpid())
	for _, c := range []struct {
		protocol, addr, input, version, facility string
	}{
		{"udp", r.udp, "imudp", "1", "local3"},
		{"tcp", r.tcp, "imtcp", "1", "local3"},
		{"unix", r.sock, "imuxsock", "0", "user"},
	} {
		t.Run(c.protocol, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Stdout.Enabled = false
			cfg.Syslog = SyslogConfig{Enabled: true, Protocol: c.protocol, Address: c.addr}
			if c.protocol != "unix" {
				cfg.Syslog.Facility = "local3"
			}
			s := newSet(t, cfg, Options{Hostname: "testhost"})
			const n = 200
			for i := range n {
				s.Send(prioAlert(i))
				if c.protocol == "udp" && i%20 == 0 {
					// UDP has no flow control: let rsyslogd keep up.
					waitStats(t, s, "syslog", "the queue", func(st Stats) bool { return st.Queued == 0 })
					time.Sleep(time.Millisecond)
				}
			}
			stats, err := s.Close(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st := statsOf(t, stats, "syslog"); st.Delivered != n {
				t.Fatalf("stats %+v", st)
			}
			got := r.messages(t, c.input, n)
			if len(got) != n {
				t.Fatalf("rsyslogd has %d messages from %s, want %d:\n%s", len(got), c.input, n, r.text())
			}
			for i, m := range got {
				a := prioAlert(i)
				if m.version != c.version || m.facility != c.facility || m.severity != strconv.Itoa(int(a.Priority)) ||
					m.app != "peregrine" || m.procid != pid || m.msg != a.Line {
					t.Fatalf("message %d: %+v, want version %s, facility %s, severity %d, line %q", i, m, c.version, c.facility, a.Priority, a.Line)
				}
				if c.version == "1" && (m.host != "testhost" || m.msgid != "-" || !strings.HasPrefix(m.time, "2026-12-01T15:04:05.000000")) {
					t.Fatalf("message %d: %+v: want host testhost, no msgid, the alert's time", i, m)
				}
			}
		})
	}
}

// TestSyslogTCPReconnect: a TCP collector that restarts loses no
// message: the output notices the closed connection before it writes and
// connects again.
func TestSyslogTCPReconnect(t *testing.T) {
	r := startRsyslogd(t)
	cfg := DefaultConfig()
	cfg.Stdout.Enabled = false
	cfg.Syslog = SyslogConfig{Enabled: true, Protocol: "tcp", Address: r.tcp}
	s := newSet(t, cfg, Options{Hostname: "testhost"})
	const n = 20
	for i := range n {
		s.Send(alertN(i))
	}
	waitStats(t, s, "syslog", "the first half", func(st Stats) bool { return st.Delivered == n })
	if got := r.messages(t, "imtcp", n); len(got) != n {
		t.Fatalf("%d messages before the restart", len(got))
	}
	r.stop()
	r.start()
	for i := n; i < 2*n; i++ {
		s.Send(alertN(i))
	}
	stats, err := s.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := r.messages(t, "imtcp", 2*n)
	if st := statsOf(t, stats, "syslog"); st.Delivered != 2*n || len(got) != 2*n {
		t.Fatalf("stats %+v, %d messages, want %d", st, len(got), 2*n)
	}
	for i, m := range got {
		if m.msg != alertN(i).Line {
			t.Errorf("message %d: %q, want %q", i, m.msg, alertN(i).Line)
		}
	}
}
