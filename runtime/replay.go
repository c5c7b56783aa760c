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
// lines starting with # are skipped) and calls emit for every alert. It
// stops at the first invalid line and returns a *ReplayError naming it.
func Replay(eng *Engine, name string, r io.Reader, emit func(Alert) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var alerts []Alert
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		ev, err := policy.DecodeEvent(text, uint64(line))
		if err != nil {
			return &ReplayError{Name: name, Line: line, Err: err}
		}
		alerts = eng.Evaluate(ev, alerts[:0])
		for _, a := range alerts {
			if err := emit(a); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return &ReplayError{Name: name, Line: line + 1, Err: err}
	}
	return nil
}
