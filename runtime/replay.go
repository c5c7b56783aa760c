package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/peregrine-sec/peregrine/policy"
)

// ReplayError is a line of a replay stream that is not a valid event.
type ReplayError struct {
	Name string
	Line int
	Err  error
}

func (e *ReplayError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err) }

func (e *ReplayError) Unwrap() error { return e.Err }

// Replay reads events in the replay format (JSON lines; blank lines and
// lines starting with # are skipped), runs them through the pipeline,
// which judges each with its plan's emulated kernel filter (see
// Pipeline), and calls emit for every alert. It stops at the first
// invalid line and returns a *ReplayError naming it, or at the first error
// of emit.
func Replay(p *Pipeline, name string, r io.Reader, emit func(Alert) error) error {
	return p.Run(ReplaySource(name, r), emit, nil)
}

// ReplaySource is the source of the replay format: each call sets in to
// the next event of r (numbered by its line), and returns io.EOF at its
// end or a *ReplayError naming the first line that is not an event.
func ReplaySource(name string, r io.Reader) func(in *Input) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	line := 0
	ev := policy.NewEvent() // reused: alerts keep a snapshot
	return func(in *Input) error {
		for sc.Scan() {
			line++
			text := bytes.TrimSpace(sc.Bytes())
			if len(text) == 0 || text[0] == '#' {
				continue
			}
			if err := policy.DecodeEventInto(ev, text, uint64(line)); err != nil {
				return &ReplayError{Name: name, Line: line, Err: err}
			}
			*in = Input{Event: ev}
			return nil
		}
		if err := sc.Err(); err != nil {
			return &ReplayError{Name: name, Line: line + 1, Err: err}
		}
		return io.EOF
	}
}
