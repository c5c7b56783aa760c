package output

import (
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
)

// programSink writes alert lines to `sh -c program`. Kept alive, one
// process reads them all and is restarted when it exits; otherwise one
// process per alert, waited for, as Falco's popen/pclose.
type programSink struct {
	program   string
	keepAlive bool
	out       io.Writer

	cmd      *exec.Cmd
	stdin    *os.File
	exited   chan struct{}
	started  time.Time
	backoff  time.Duration
	starts   int
	restartN atomic.Uint64
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
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return err
	}
	if p.starts > 0 {
		p.restartN.Add(1)
	}
	p.starts++
	p.cmd, p.stdin, p.started = cmd, w, time.Now()
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(cmd, p.exited)
	return nil
}

// stop ends the long-lived process: its stdin closed, then its process
// group killed if it has not exited within grace.
func (p *programSink) stop(grace time.Duration) {
	if p.cmd == nil {
		return
	}
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	p.cmd, p.stdin = nil, nil
}

func (p *programSink) alive() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *programSink) deliver(ctx context.Context, a *Alert) error {
	if !p.keepAlive {
		return p.runOnce(ctx, a)
	}
	text := line(a)
	// A write to a process that exited fails (EPIPE): the process is
	// restarted and the alert written to the new one.
	for attempt := 0; ; attempt++ {
		if !p.alive() {
			p.stop(0)
			if err := p.start(ctx); err != nil {
				return fmt.Errorf("restarting %q: %w", p.program, err)
			}
		}
		err := p.stdin.SetWriteDeadline(time.Now().Add(programWriteTimeout))
		if err == nil {
			_, err = p.stdin.WriteString(text)
		}
		if err == nil {
			return nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// It stopped reading: restart it for the next alerts.
			p.stop(0)
			return fmt.Errorf("%q has read nothing for %v", p.program, programWriteTimeout)
		}
		if attempt > 0 {
			return fmt.Errorf("writing to %q: %w", p.program, err)
		}
		p.stop(time.Second)
	}
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

func (p *programSink) flush() error { return nil }

// close closes the process's stdin and waits for it to exit until ctx
// ends, then kills its process group.
func (p *programSink) close(ctx context.Context) error {
	if p.cmd == nil {
		return nil
	}
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-ctx.Done():
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	p.cmd, p.stdin = nil, nil
	return nil
}

func (p *programSink) restarts() uint64 { return p.restartN.Load() }
