// Package noise thins alerts out as their rules' noise keys say
// (skip_events, dedup, throttle; policy.Noise), between the pipeline that
// raises them and the outputs. Nothing is dropped without a count: each
// alert sent carries how many of its kind were held back before it, and
// Counts gives the totals per rule.
package noise

import (
	"strings"
	"sync"
	"time"

	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime"
)

// MaxKeys bounds the keys a rule's throttle, skip_events or dedup tracks
// at once. A key seen when a rule's table is full of keys whose windows
// have not ended is not tracked: its alert goes out (an attacker varying
// proc.name cannot hide behind the limit) and Counts.Untracked says so.
const MaxKeys = 4096

// Counts are what a rule's noise keys did.
type Counts struct {
	// Skipped are matches skip_events held back; Throttled, alerts over
	// the throttle's rate; Deduped, repeats folded by dedup.
	Skipped, Throttled, Deduped uint64
	// Untracked are alerts sent untouched because the rule's key table
	// was full.
	Untracked uint64
}

// Suppressed is the number of alerts that did not go out on their own.
func (c Counts) Suppressed() uint64 { return c.Skipped + c.Throttled + c.Deduped }

// Stage applies the noise keys to alerts and hands the ones to send to
// emit. Alerts, Tick and Close may be called from different goroutines;
// emit is called from one at a time. State is kept by rule name, so a
// reload that keeps a rule keeps its windows.
type Stage struct {
	mu     sync.Mutex
	emit   func(runtime.Alert) error
	rules  map[string]*ruleState
	counts map[string]*Counts
}

type ruleState struct {
	skip     map[string]*skipState
	throttle map[string]*throttleState
	dedup    map[string]*dedupState
}

type skipState struct {
	start time.Time
	seen  uint64
}

type throttleState struct {
	start      time.Time
	sent       int
	suppressed uint64
}

type dedupState struct {
	start   time.Time
	window  time.Duration
	repeats uint64
	last    runtime.Alert
}

// New returns a stage that sends alerts through emit.
func New(emit func(runtime.Alert) error) *Stage {
	return &Stage{emit: emit, rules: map[string]*ruleState{}, counts: map[string]*Counts{}}
}

// Alert takes one alert: it goes to emit at once, is held back and
// counted, or (dedup) is folded into the alert its window will send. It
// returns emit's error.
func (s *Stage) Alert(a runtime.Alert) error {
	n := a.Rule.Noise
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.Skip == nil && n.Dedup == nil && n.Throttle == nil {
		return s.emit(a)
	}
	st := s.rules[a.Rule.Name]
	if st == nil {
		st = &ruleState{}
		s.rules[a.Rule.Name] = st
	}
	c := s.countsOf(a.Rule.Name)
	if k := n.Skip; k != nil {
		if st.skip == nil {
			st.skip = map[string]*skipState{}
		}
		key := keyOf(a, k.By)
		ks := st.skip[key]
		if ks != nil && a.Time.Sub(ks.start) >= k.Within {
			ks = nil
		}
		if ks == nil {
			if ks = track(st.skip, key, &skipState{start: a.Time}, func(v *skipState) bool { return a.Time.Sub(v.start) >= k.Within }); ks == nil {
				c.Untracked++
				return s.emit(a)
			}
		}
		ks.seen++
		if ks.seen < uint64(k.Count) {
			c.Skipped++
			return nil
		}
		if ks.seen == uint64(k.Count) {
			a.Suppressed += ks.seen - 1
		}
	}
	if k := n.Dedup; k != nil {
		if st.dedup == nil {
			st.dedup = map[string]*dedupState{}
		}
		key := a.Output
		if len(k.By) > 0 {
			key = keyOf(a, k.By)
		}
		if ds := st.dedup[key]; ds != nil && a.Time.Sub(ds.start) < k.Window {
			ds.repeats++
			ds.last = a
			c.Deduped++
			return nil
		}
		ended := func(v *dedupState) bool { return a.Time.Sub(v.start) >= v.window }
		if old := st.dedup[key]; old != nil {
			// The window ended with no Tick since: send its repeats first.
			delete(st.dedup, key)
			if err := s.flushLocked(old); err != nil {
				return err
			}
		}
		if track(st.dedup, key, &dedupState{start: a.Time, window: k.Window}, ended) == nil {
			c.Untracked++
		}
	}
	return s.throttleLocked(st, c, a)
}

// throttleLocked sends a unless its rule's throttle holds it back.
func (s *Stage) throttleLocked(st *ruleState, c *Counts, a runtime.Alert) error {
	k := a.Rule.Noise.Throttle
	if k == nil {
		return s.emit(a)
	}
	if st.throttle == nil {
		st.throttle = map[string]*throttleState{}
	}
	key := keyOf(a, k.By)
	ts := st.throttle[key]
	if ts != nil && a.Time.Sub(ts.start) >= k.Per {
		// A new window; what the old one held back is still to be told.
		ts.start, ts.sent = a.Time, 0
	}
	if ts == nil {
		if ts = track(st.throttle, key, &throttleState{start: a.Time}, func(v *throttleState) bool {
			return a.Time.Sub(v.start) >= k.Per && v.suppressed == 0
		}); ts == nil {
			c.Untracked++
			return s.emit(a)
		}
	}
	if ts.sent >= k.Rate {
		ts.suppressed++
		c.Throttled++
		return nil
	}
	ts.sent++
	a.Suppressed += ts.suppressed
	ts.suppressed = 0
	return s.emit(a)
}

// Tick sends the dedup alerts whose windows ended by now.
func (s *Stage) Tick(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushWhere(func(d *dedupState) bool { return now.Sub(d.start) >= d.window })
}

// Close sends every pending dedup alert, as at the end of its window.
func (s *Stage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushWhere(func(*dedupState) bool { return true })
}

func (s *Stage) flushWhere(done func(*dedupState) bool) error {
	var first error
	for _, st := range s.rules {
		for key, d := range st.dedup {
			if !done(d) {
				continue
			}
			delete(st.dedup, key)
			if err := s.flushLocked(d); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// flushLocked sends the alert of a dedup window that saw repeats,
// through the rule's throttle.
func (s *Stage) flushLocked(d *dedupState) error {
	if d.repeats == 0 {
		return nil
	}
	a := d.last
	a.Repeats = d.repeats
	return s.throttleLocked(s.rules[a.Rule.Name], s.countsOf(a.Rule.Name), a)
}

func (s *Stage) countsOf(rule string) *Counts {
	c := s.counts[rule]
	if c == nil {
		c = &Counts{}
		s.counts[rule] = c
	}
	return c
}

// Counts returns what each rule's noise keys did, by rule name, for the
// rules that have any.
func (s *Stage) Counts() map[string]Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Counts, len(s.counts))
	for r, c := range s.counts {
		out[r] = *c
	}
	return out
}

// track adds v under key unless the table is full of entries that are
// not stale; it returns the entry added, or nil when there was no room.
func track[V any](m map[string]*V, key string, v *V, stale func(*V) bool) *V {
	if len(m) >= MaxKeys {
		for k, old := range m {
			if stale(old) {
				delete(m, k)
			}
		}
		if len(m) >= MaxKeys {
			return nil
		}
	}
	m[key] = v
	return v
}

// keyOf is the values of the key fields in the alert's event, joined by
// NUL (no field value holds one in the key's place: a missing field is
// written as NUL NUL).
func keyOf(a runtime.Alert, by []*policy.FieldRef) string {
	if len(by) == 0 {
		return ""
	}
	var b strings.Builder
	for i, f := range by {
		if i > 0 {
			b.WriteByte(0)
		}
		vals, ok := a.Event.Strings(f)
		if !ok {
			b.WriteString("\x00\x00")
			continue
		}
		b.WriteString(strings.Join(vals, " "))
	}
	return b.String()
}
