package output

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// syslogTimeout bounds a connection and a write to the syslog peer.
const syslogTimeout = 5 * time.Second

// syslogSink sends each alert's line as one syslog message, with the
// severity of the rule's priority (Falco's priorities are syslog's
// severities, Emergency 0 to Debug 7) and the configured facility.
type syslogSink struct {
	network, addr string
	rfc5424       bool
	facility      int
	host          string
	pid           string
	conn          net.Conn
}

// appName is the APP-NAME (RFC 5424) and the tag (RFC 3164) of the
// messages.
const appName = "peregrine"

func newSyslog(c SyslogConfig, hostname string) (*syslogSink, error) {
	s := &syslogSink{network: c.Protocol, addr: c.Address, facility: 1, host: hostname, pid: strconv.Itoa(os.Getpid())}
	if f, ok := facilities[strings.ToLower(c.Facility)]; ok {
		s.facility = f
	}
	switch s.network {
	case "", "unix":
		s.network = "unixgram"
		if s.addr == "" {
			s.addr = "/dev/log"
		}
		s.rfc5424 = strings.EqualFold(c.Format, "rfc5424")
	default:
		s.rfc5424 = !strings.EqualFold(c.Format, "rfc3164")
	}
	if s.host == "" {
		s.host = "-"
	}
	// Connect now so that a wrong address is reported at start; a
	// peer not there yet (UDP never says; TCP may be restarting) is
	// dialled again at each alert.
	if err := s.dial(); err != nil && s.network == "unixgram" {
		return nil, fmt.Errorf("syslog_output.address: %w", err)
	}
	return s, nil
}

func (s *syslogSink) dial() error {
	c, err := net.DialTimeout(s.network, s.addr, syslogTimeout)
	if err != nil {
		return err
	}
	s.conn = c
	return nil
}

// message renders a in the configured format, framed for TCP.
func (s *syslogSink) message(a *Alert) []byte {
	pri := s.facility*8 + int(min(a.Priority, 7))
	var b []byte
	if s.rfc5424 {
		// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG, with no
		// MSGID and no structured data.
		b = fmt.Appendf(nil, "<%d>1 %s %s %s %s - - %s", pri, a.Time.UTC().Format("2006-01-02T15:04:05.000000Z"),
			printable(s.host, 255), appName, s.pid, a.Line)
	} else {
		// As syslog(3) writes to the local socket.
		b = fmt.Appendf(nil, "<%d>%s %s[%s]: %s", pri, a.Time.Local().Format(time.Stamp), appName, s.pid, a.Line)
	}
	if s.network == "tcp" {
		// Octet counting, RFC 6587 section 3.4.1.
		b = append(strconv.AppendInt(nil, int64(len(b)), 10), append([]byte{' '}, b...)...)
	}
	return b
}

// printable is s limited to n printable US-ASCII characters (RFC 5424's
// PRINTUSASCII), "-" when empty.
func printable(s string, n int) string {
	out := strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return -1
		}
		return r
	}, s)
	if len(out) > n {
		out = out[:n]
	}
	if out == "" {
		return "-"
	}
	return out
}

// deliver writes one message; a failed write closes the connection and
// is tried once more on a new one.
func (s *syslogSink) deliver(_ context.Context, a *Alert) error {
	msg := s.message(a)
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if s.conn != nil && s.network == "tcp" && peerClosed(s.conn) {
			s.conn.Close()
			s.conn = nil
		}
		if s.conn == nil {
			if err = s.dial(); err != nil {
				continue
			}
		}
		if err = s.conn.SetWriteDeadline(time.Now().Add(syslogTimeout)); err == nil {
			if _, err = s.conn.Write(msg); err == nil {
				return nil
			}
		}
		s.conn.Close()
		s.conn = nil
	}
	return fmt.Errorf("syslog %s %s: %w", s.network, s.addr, err)
}

// peerClosed says whether a syslog collector closed c: it never writes
// to the sender, so anything readable (an end of file, a reset) means it
// is gone, and a message written now would be lost unseen. It peeks
// without blocking (a read deadline in the past would not even try).
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		closed = n == 0 && err == nil || err != nil && err != unix.EAGAIN && err != unix.EINTR
		return true
	})
	return closed || err != nil
}

func (s *syslogSink) flush() error { return nil }

func (s *syslogSink) close(context.Context) error {
	if s.conn != nil {
		err := s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}
