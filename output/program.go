package output

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Restart backoff of a kept-alive program: a process that lived less than
// programStable waits programBackoff before its restart, doubled for each
// quick exit in a row up to programMaxBackoff.
const (
	programBackoff    = 100 * time.Millisecond
	programMaxBackoff = 5 * time.Second
	programStable     = 10 * time.Second
	// programWriteTimeout bounds a write to a program that stopped
	// reading (its pipe full): the alert fails and the process is
	// restarted.
	programWriteTimeout = 10 * time.Second
	// programHistory is how many bytes of the lines last written the
	// sink remembers the lengths of: more than a pipe holds (64 KiB by
	// default), so that what a process left unread can be cut into the
	// lines it was written as.
	programHistory = 1 << 20
)

// programSink writes alert lines to `sh -c program`. Kept alive, one
// process reads them all and is restarted when it exits; otherwise one
// process per alert, waited for, as Falco's popen/pclose.
//
// The sink keeps the read end of a kept-alive process's pipe open: when
// the process exits, what it left unread is read back and written to the
// next process (a line it read only in part is counted as failed), so
// that an alert written to a process about to die is not lost unseen.
type programSink struct {
	program   string
	keepAlive bool
	out       io.Writer

	cmd     *exec.Cmd
	stdin   *os.File // the write end
	pipeR   *os.File // the sink's copy of the read end
	exited  chan struct{}
	stalled bool
	started time.Time
	backoff time.Duration
	starts  int
	recent  []int // lengths of the last lines written, programHistory bytes of them
	recentN int

	restartN atomic.Uint64
	unreadN  atomic.Uint64 // alerts counted as delivered that no process read
}

func newProgram(ctx context.Context, c ProgramConfig, out io.Writer) (*programSink, error) {
	p := &programSink{program: c.Program, keepAlive: c.KeepAlive, out: out}
	if p.keepAlive {
		if err := p.start(ctx); err != nil {
			return nil, fmt.Errorf("program_output.program: %w", err)
		}
	}
	return p, nil
}

func (p *programSink) command() *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", p.program)
	// Its own process group, so that stopping it stops its pipeline.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if p.out != nil {
		cmd.Stdout, cmd.Stderr = p.out, p.out
	}
	return cmd
}

// start starts the long-lived process, after the backoff its previous
// one earned by exiting soon after it started.
func (p *programSink) start(ctx context.Context) error {
	if p.starts > 0 {
		lived := time.Since(p.started)
		switch {
		case lived >= programStable:
			p.backoff = 0
		case p.backoff == 0:
			p.backoff = programBackoff
		default:
			p.backoff = min(2*p.backoff, programMaxBackoff)
		}
		if wait := p.backoff - lived; wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := p.command()
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return err
	}
	if p.starts > 0 {
		p.restartN.Add(1)
	}
	p.starts++
	p.cmd, p.stdin, p.pipeR, p.started, p.stalled = cmd, w, r, time.Now(), false
	p.recent, p.recentN = p.recent[:0], 0
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(cmd, p.exited)
	return nil
}

// stop ends the long-lived process: its stdin closed (an end of file),
// then its process group killed if it has not exited when done is. It
// returns what the process left unread in its pipe.
func (p *programSink) stop(ctx context.Context, done <-chan time.Time) []byte {
	if p.cmd == nil {
		return nil
	}
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-done:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	case <-ctx.Done():
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	// No write end is left: the read ends at the end of what is there.
	_ = p.pipeR.SetReadDeadline(time.Now().Add(time.Second))
	left, _ := io.ReadAll(p.pipeR)
	p.pipeR.Close()
	p.cmd, p.stdin, p.pipeR = nil, nil, nil
	return left
}

func (p *programSink) alive() bool {
	if p.cmd == nil || p.stalled {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// salvage cuts what a process left unread into the whole lines to write
// again and the number of lines lost (one read in part, or, past the
// history, every line).
func (p *programSink) salvage(left []byte) ([]byte, uint64) {
	if len(left) == 0 {
		return nil, 0
	}
	// A line written in part (a write cut by its deadline) is not sent.
	if i := bytes.LastIndexByte(left, '\n'); i < len(left)-1 {
		left = left[:i+1]
	}
	sum, i := 0, len(p.recent)
	for i > 0 && sum < len(left) {
		i--
		sum += p.recent[i]
	}
	switch {
	case sum == len(left):
		return left, 0
	case sum > len(left):
		// The oldest line was read in part: the rest of it is dropped.
		cut := p.recent[i] - (sum - len(left))
		return left[cut:], 1
	default:
		return nil, uint64(bytes.Count(left, []byte{'\n'}))
	}
}

// write writes b (whole lines) to the process, remembering the lengths
// of its lines.
func (p *programSink) write(b []byte) error {
	err := p.stdin.SetWriteDeadline(time.Now().Add(programWriteTimeout))
	if err == nil {
		_, err = p.stdin.Write(b)
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("%q has read nothing for %v", p.program, programWriteTimeout)
		}
		// Restarted at the next alert.
		p.stalled = true
		return err
	}
	for len(b) > 0 {
		n := bytes.IndexByte(b, '\n') + 1
		if n == 0 {
			n = len(b)
		}
		p.recent = append(p.recent, n)
		p.recentN += n
		b = b[n:]
	}
	drop := 0
	for drop < len(p.recent)-1 && p.recentN-p.recent[drop] >= programHistory {
		p.recentN -= p.recent[drop]
		drop++
	}
	if drop > len(p.recent)/2 {
		p.recent = append(p.recent[:0], p.recent[drop:]...)
	} else if drop > 0 {
		p.recent = p.recent[drop:]
	}
	return nil
}

// restart replaces a process that exited or stalled, and writes the new
// one what the old one left unread. With always false, no process is
// started when nothing was left unread.
func (p *programSink) restart(ctx context.Context, always bool) error {
	var resend []byte
	if p.cmd != nil {
		left := p.stop(ctx, time.After(time.Second))
		var lost uint64
		resend, lost = p.salvage(left)
		p.unreadN.Add(lost)
	}
	if !always && len(resend) == 0 {
		return nil
	}
	if err := p.start(ctx); err != nil {
		p.unreadN.Add(uint64(bytes.Count(resend, []byte{'\n'})))
		return fmt.Errorf("restarting %q: %w", p.program, err)
	}
	if len(resend) > 0 {
		if err := p.write(resend); err != nil {
			p.unreadN.Add(uint64(bytes.Count(resend, []byte{'\n'})))
			return err
		}
	}
	return nil
}

func (p *programSink) deliver(ctx context.Context, a *Alert) error {
	if !p.keepAlive {
		return p.runOnce(ctx, a)
	}
	if !p.alive() {
		if err := p.restart(ctx, true); err != nil {
			return err
		}
	}
	return p.write([]byte(line(a)))
}

// runOnce runs one process for one alert and waits for it; a failure to
// start or an exit status other than 0 fails the alert.
func (p *programSink) runOnce(ctx context.Context, a *Alert) error {
	cmd := p.command()
	cmd.Stdin = strings.NewReader(line(a))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %q: %w", p.program, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%q: %w", p.program, err)
		}
		return nil
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if err := <-done; err == nil {
			return nil // it ended before the kill
		}
		return ctx.Err()
	}
}

// wake is ready when the long-lived process exits.
func (p *programSink) wake() <-chan struct{} {
	if p.cmd == nil || p.stalled {
		return nil
	}
	return p.exited
}

// tick handles the exit of the long-lived process between alerts: what
// it left unread goes to a new process at once; with nothing left, the
// next alert starts one.
func (p *programSink) tick(ctx context.Context) error { return p.restart(ctx, false) }

func (p *programSink) flush() error { return nil }

// close closes the process's stdin and waits for it to exit until ctx
// ends, then kills its process group; the lines it left unread are
// counted as failed.
func (p *programSink) close(ctx context.Context) error {
	left := p.stop(ctx, nil)
	p.unreadN.Add(uint64(bytes.Count(left, []byte{'\n'})))
	return nil
}

func (p *programSink) restarts() uint64 { return p.restartN.Load() }

func (p *programSink) unread() uint64 { return p.unreadN.Load() }
