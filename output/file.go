package output

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// stdoutSink writes alert lines to the standard output, through a buffer
// flushed when the queue runs empty (buffered) or after every alert.
type stdoutSink struct {
	w        *bufio.Writer
	buffered bool
}

func newStdout(w io.Writer, buffered bool) *stdoutSink {
	return &stdoutSink{w: bufio.NewWriterSize(w, 64<<10), buffered: buffered}
}

func (s *stdoutSink) deliver(_ context.Context, a *Alert) error {
	if err := writeLine(s.w, a); err != nil {
		return err
	}
	if !s.buffered {
		return s.w.Flush()
	}
	return nil
}

func (s *stdoutSink) flush() error { return s.w.Flush() }

func (s *stdoutSink) close(context.Context) error { return s.w.Flush() }

// fileSink appends alert lines to a file, created 0600. Kept alive, the
// file stays open (buffered like stdout) until reopen asks for a new
// open; otherwise it is opened and closed for every alert.
type fileSink struct {
	name      string
	keepAlive bool
	buffered  bool
	f         *os.File
	w         *bufio.Writer
	reopening atomic.Bool
}

func newFile(c FileConfig, buffered bool) (*fileSink, error) {
	s := &fileSink{name: c.Filename, keepAlive: c.KeepAlive, buffered: buffered}
	// Open once now, so that a file that cannot be opened is a start-up
	// error.
	if err := s.open(); err != nil {
		return nil, fmt.Errorf("file_output.filename: %w", err)
	}
	if !s.keepAlive {
		if err := s.shut(); err != nil {
			return nil, fmt.Errorf("file_output.filename: %w", err)
		}
	}
	return s, nil
}

func (s *fileSink) open() error {
	f, err := os.OpenFile(s.name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 64<<10)
	return nil
}

// shut flushes and closes the file, returning the first error.
func (s *fileSink) shut() error {
	if s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f, s.w = nil, nil
	return err
}

func (s *fileSink) reopen() { s.reopening.Store(true) }

func (s *fileSink) deliver(_ context.Context, a *Alert) error {
	if s.reopening.Swap(false) {
		if err := s.shut(); err != nil {
			return fmt.Errorf("closing %s to reopen it: %w", s.name, err)
		}
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if err := writeLine(s.w, a); err != nil {
		_ = s.shut()
		return err
	}
	if !s.keepAlive {
		return s.shut()
	}
	if !s.buffered {
		if err := s.w.Flush(); err != nil {
			_ = s.shut()
			return err
		}
	}
	return nil
}

func (s *fileSink) flush() error {
	if s.f == nil {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		_ = s.shut()
		return err
	}
	return nil
}

func (s *fileSink) close(context.Context) error { return s.shut() }

// writeLine writes a's line and a newline to w.
func writeLine(w *bufio.Writer, a *Alert) error {
	if _, err := w.WriteString(a.Line); err != nil {
		return err
	}
	return w.WriteByte('\n')
}
