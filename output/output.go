// Package output delivers rendered alerts to Falco's outputs: stdout, a
// file, syslog (the local socket, or a remote collector over UDP or TCP
// in RFC 5424), a program's standard input and an HTTP endpoint.
//
// Each output has its own bounded queue and goroutine. Send never blocks:
// an output whose queue is full drops the alert and counts it, so a slow
// or dead output costs only its own alerts, never the caller's time or
// the other outputs' alerts. Every alert not delivered is counted
// (Stats).
package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peregrine-sec/peregrine/policy"
)

// Alert is one alert, rendered once for every output. Outputs only read
// it: the caller must not change it after Send.
type Alert struct {
	Time     time.Time
	Priority policy.Priority
	Rule     string
	// Line is what the text outputs (stdout, file, syslog, program)
	// write: Falco's text line, or its JSON alert when json_output is on;
	// without a newline.
	Line string
	// JSON is Falco's JSON alert. The HTTP output posts it with
	// json_output (Line when JSON is nil); no output reads it otherwise
	// (Falco's HTTP output posts the text line then), so a caller may
	// leave it nil when json_output is off: rendering it costs about as
	// much as a third of evaluating the event.
	JSON []byte
}

// Options are what New needs besides the configuration.
type Options struct {
	// Stdout is where the stdout output writes, and where http_output.echo
	// copies responses; os.Stdout when nil.
	Stdout io.Writer
	// ProgramOutput receives the standard output and error of program
	// outputs; they are discarded when nil.
	ProgramOutput io.Writer
	// Hostname goes into syslog messages; os.Hostname when empty.
	Hostname string
	// Errorf reports delivery errors, at most one per output every
	// ErrorInterval with the count of those not reported; it is called
	// from the outputs' goroutines. Errors are dropped when nil (they are
	// counted in Stats either way).
	Errorf func(output string, err error)
	// ErrorInterval is the least time between two reports of one
	// output's errors; 10 s when zero.
	ErrorInterval time.Duration
}

// Stats are one output's counters.
type Stats struct {
	// Name is the output's name: stdout, file, syslog, program, http.
	Name string
	// Queued is the number of alerts waiting in its queue now.
	Queued int
	// Delivered counts the alerts written or accepted by the peer.
	Delivered uint64
	// Dropped counts the alerts its queue had no room for, and those sent
	// after Close.
	Dropped uint64
	// Failed counts the alerts whose delivery failed (after the retries
	// of outputs that retry), and those a program exited without
	// reading that could not be written to its successor.
	Failed uint64
	// Undelivered counts the alerts still queued, or being delivered,
	// when Close's deadline passed.
	Undelivered uint64
	// Restarts counts the restarts of a kept-alive program output's
	// process.
	Restarts uint64
}

// Lost is the number of the output's alerts that were not delivered.
func (s Stats) Lost() uint64 { return s.Dropped + s.Failed + s.Undelivered }

// sink is one kind of output, used by its worker goroutine only (except
// reopen, which may be called from any goroutine).
type sink interface {
	// deliver writes one alert; ctx ends when Close's deadline passes.
	deliver(ctx context.Context, a *Alert) error
	// flush writes what a buffered sink holds; called when the queue is
	// empty.
	flush() error
	// close releases the sink, within ctx.
	close(ctx context.Context) error
}

// reopener is a sink with files to reopen on Set.Reopen.
type reopener interface{ reopen() }

// restarter is a sink that restarts a process.
type restarter interface{ restarts() uint64 }

// waker is a sink with work of its own between alerts: the worker calls
// tick when the channel wake returns (nil: none now) is ready.
type waker interface {
	wake() <-chan struct{}
	tick(ctx context.Context) error
}

// unreader is a sink that learns, after it counted an alert delivered,
// that its peer never read it (a program that exited).
type unreader interface{ unread() uint64 }

// worker runs one output: its queue and its goroutine.
type worker struct {
	name string
	sink sink
	q    chan *Alert
	done chan struct{}

	delivered, dropped, failed, undelivered atomic.Uint64

	errorf   func(string, error)
	interval time.Duration
	lastErr  time.Time
	muted    uint64
	closeErr error
}

// Set is the outputs of a configuration, each with its queue and goroutine.
type Set struct {
	mu      sync.RWMutex // write-held by Close, read-held by Send
	closed  bool
	workers []*worker
	stop    chan struct{}
	cancel  context.CancelFunc // ends the workers' deliveries, at Close's deadline
}

// New starts the outputs cfg enables. It returns cfg.Validate's errors,
// and the errors of opening what an output needs to start (the file of
// file_output, the certificates of http_output, the first process of a
// kept-alive program_output), each naming the key at fault. With no
// output enabled the Set drops nothing and delivers nothing.
func New(cfg Config, opts Options) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.ErrorInterval == 0 {
		opts.ErrorInterval = 10 * time.Second
	}
	capacity := cfg.OutputsQueue.Capacity
	if capacity == 0 {
		capacity = DefaultQueueCapacity
	}
	stdout := &lockedWriter{w: opts.Stdout}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Set{stop: make(chan struct{}), cancel: cancel}
	type named struct {
		name string
		open func() (sink, error)
	}
	var sinks []named
	if cfg.Stdout.Enabled {
		sinks = append(sinks, named{"stdout", func() (sink, error) { return newStdout(stdout, cfg.BufferedOutputs), nil }})
	}
	if cfg.File.Enabled {
		sinks = append(sinks, named{"file", func() (sink, error) { return newFile(cfg.File, cfg.BufferedOutputs) }})
	}
	if cfg.Syslog.Enabled {
		sinks = append(sinks, named{"syslog", func() (sink, error) { return newSyslog(cfg.Syslog, opts.Hostname) }})
	}
	if cfg.Program.Enabled {
		sinks = append(sinks, named{"program", func() (sink, error) { return newProgram(ctx, cfg.Program, opts.ProgramOutput) }})
	}
	if cfg.HTTP.Enabled {
		sinks = append(sinks, named{"http", func() (sink, error) { return newHTTP(cfg.HTTP, cfg.JSONOutput, stdout) }})
	}
	for _, n := range sinks {
		sk, err := n.open()
		if err != nil {
			cancel()
			for _, w := range s.workers {
				_ = w.sink.close(context.Background())
			}
			return nil, err
		}
		s.workers = append(s.workers, &worker{name: n.name, sink: sk, q: make(chan *Alert, capacity), done: make(chan struct{}),
			errorf: opts.Errorf, interval: opts.ErrorInterval})
	}
	for _, w := range s.workers {
		go w.run(ctx, s.stop)
	}
	return s, nil
}

// Send queues a for every output, without blocking: an output whose queue
// is full drops it and counts it (Stats.Dropped), as does every output
// after Close. Safe for concurrent use.
func (s *Set) Send(a *Alert) {
	s.mu.RLock()
	closed := s.closed
	for _, w := range s.workers {
		if closed {
			w.dropped.Add(1)
			continue
		}
		select {
		case w.q <- a:
		default:
			w.dropped.Add(1)
		}
	}
	s.mu.RUnlock()
}

// Reopen makes the file outputs close and reopen their file before their
// next write (after logrotate renamed it, on SIGHUP). It never blocks; an
// error reopening counts as a failed delivery of that alert.
func (s *Set) Reopen() {
	for _, w := range s.workers {
		if r, ok := w.sink.(reopener); ok {
			r.reopen()
		}
	}
}

// Stats returns every output's counters, in the order stdout, file,
// syslog, program, http (the enabled ones).
func (s *Set) Stats() []Stats {
	out := make([]Stats, 0, len(s.workers))
	for _, w := range s.workers {
		st := Stats{Name: w.name, Queued: len(w.q), Delivered: w.delivered.Load(), Dropped: w.dropped.Load(),
			Failed: w.failed.Load(), Undelivered: w.undelivered.Load()}
		if r, ok := w.sink.(restarter); ok {
			st.Restarts = r.restarts()
		}
		if u, ok := w.sink.(unreader); ok {
			n := min(u.unread(), st.Delivered)
			st.Delivered -= n
			st.Failed += n
		}
		out = append(out, st)
	}
	return out
}

// Close stops taking alerts, delivers what the queues hold until ctx is
// done, then abandons the rest (counted as Undelivered) and closes the
// outputs. It returns the final Stats, and an error naming each output
// that lost alerts (dropped, failed or undelivered) or failed to close.
// Close returns by ctx's deadline even when an output is stuck in a
// write that cannot be interrupted (a blocked stdout); that output's
// alerts in flight are counted as undelivered. A second Close waits as
// the first does and returns the same counts.
func (s *Set) Close(ctx context.Context) ([]Stats, error) {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	all := make(chan struct{})
	go func() {
		for _, w := range s.workers {
			<-w.done
		}
		close(all)
	}()
	select {
	case <-all:
	case <-ctx.Done():
		s.cancel()
		select {
		case <-all:
		case <-time.After(time.Second):
			// A worker blocked in a write no context reaches: what it
			// still holds is lost.
			for _, w := range s.workers {
				select {
				case <-w.done:
				default:
					w.undelivered.Add(uint64(len(w.q)) + 1)
				}
			}
		}
	}
	s.cancel()
	stats := s.Stats()
	var errs []error
	for i, st := range stats {
		if st.Lost() > 0 {
			errs = append(errs, fmt.Errorf("output %s: %d alerts not delivered (%d dropped on a full queue, %d failed, %d undelivered at close)",
				st.Name, st.Lost(), st.Dropped, st.Failed, st.Undelivered))
		}
		select {
		case <-s.workers[i].done:
			if err := s.workers[i].closeErr; err != nil {
				errs = append(errs, fmt.Errorf("output %s: closing: %w", st.Name, err))
			}
		default:
		}
	}
	return stats, errors.Join(errs...)
}

// run delivers the queue's alerts until stop, then drains the queue
// until ctx ends.
func (w *worker) run(ctx context.Context, stop <-chan struct{}) {
	defer close(w.done)
	wk, _ := w.sink.(waker)
	for {
		var wake <-chan struct{}
		if wk != nil {
			wake = wk.wake()
		}
		select {
		case a := <-w.q:
			w.handle(ctx, a)
		case <-wake:
			if err := wk.tick(ctx); err != nil && ctx.Err() == nil {
				w.report(err)
			}
		case <-stop:
			for {
				select {
				case a := <-w.q:
					w.handle(ctx, a)
					continue
				default:
				}
				break
			}
			w.closeErr = w.sink.close(ctx)
			return
		}
	}
}

// handle delivers one alert and counts the outcome; the sink is flushed
// when the queue is empty.
func (w *worker) handle(ctx context.Context, a *Alert) {
	if ctx.Err() != nil {
		w.undelivered.Add(1)
		return
	}
	err := w.sink.deliver(ctx, a)
	if err == nil && len(w.q) == 0 {
		err = w.sink.flush()
	}
	switch {
	case err == nil:
		w.delivered.Add(1)
	case ctx.Err() != nil:
		w.undelivered.Add(1)
	default:
		w.failed.Add(1)
		w.report(err)
	}
}

// report passes an error to Errorf, at most once per interval.
func (w *worker) report(err error) {
	if w.errorf == nil {
		return
	}
	now := time.Now()
	if now.Sub(w.lastErr) < w.interval {
		w.muted++
		return
	}
	if w.muted > 0 {
		err = fmt.Errorf("%w (and %d more errors since the last report)", err, w.muted)
	}
	w.lastErr, w.muted = now, 0
	w.errorf(w.name, err)
}

// lockedWriter serializes the writes of the stdout output and of the
// HTTP output's echo, which share the standard output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// line is a's text line with its newline.
func line(a *Alert) string {
	var b strings.Builder
	b.Grow(len(a.Line) + 1)
	b.WriteString(a.Line)
	b.WriteByte('\n')
	return b.String()
}
