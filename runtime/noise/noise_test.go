package noise_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime"
	"github.com/peregrine-sec/peregrine/runtime/noise"
)

func parse(t *testing.T, key string, v map[string]any) policy.Noise {
	t.Helper()
	var n policy.Noise
	if err := policy.ParseNoise(key, v, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// flood sends n alerts of r, one every gap, with proc.name taken from
// names in turn, and returns what the stage sent.
func flood(t *testing.T, s *noise.Stage, r *policy.Rule, n int, gap time.Duration, names ...string) {
	t.Helper()
	t0 := time.Unix(1_700_000_000, 0)
	for i := range n {
		ev := policy.NewEvent()
		name := names[i%len(names)]
		ev.Set("proc.name", name)
		a := runtime.Alert{Rule: r, Event: ev, Time: t0.Add(time.Duration(i) * gap), Output: "open by " + name}
		if err := s.Alert(a); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStage(t *testing.T) {
	by := []any{"proc.name"}
	cases := []struct {
		name  string
		key   string
		spec  map[string]any
		n     int
		gap   time.Duration
		names []string
		// sent is the number of alerts emitted; suppressed the sum of
		// their Suppressed, repeats of their Repeats; counts the
		// stage's totals.
		sent, suppressed, repeats int
		counts                    noise.Counts
		// nth: the first alert sent is the nth match (1-based).
		nth int
	}{
		{name: "throttle one window", key: "throttle", spec: map[string]any{"rate": 10, "per": "1m"},
			n: 1000, gap: time.Millisecond, names: []string{"cat"}, sent: 10, counts: noise.Counts{Throttled: 990}, nth: 1},
		{name: "throttle carries the count into the next window", key: "throttle", spec: map[string]any{"rate": 2, "per": "1s"},
			n: 30, gap: 100 * time.Millisecond, names: []string{"cat"},
			// windows of 10 alerts: 2 sent, 8 held back; 3 windows.
			sent: 6, suppressed: 16, counts: noise.Counts{Throttled: 24}, nth: 1},
		{name: "throttle by key", key: "throttle", spec: map[string]any{"rate": 3, "per": "1h", "by": by},
			n: 100, gap: time.Millisecond, names: []string{"cat", "dd"}, sent: 6, counts: noise.Counts{Throttled: 94}, nth: 1},
		{name: "skip_events alerts on the nth", key: "skip_events", spec: map[string]any{"count": 5, "within": "1m"},
			n: 7, gap: time.Second, names: []string{"cat"}, sent: 3, suppressed: 4, counts: noise.Counts{Skipped: 4}, nth: 5},
		{name: "skip_events below the count", key: "skip_events", spec: map[string]any{"count": 5, "within": "1m"},
			n: 4, gap: time.Second, names: []string{"cat"}, sent: 0, counts: noise.Counts{Skipped: 4}},
		{name: "skip_events window ends", key: "skip_events", spec: map[string]any{"count": 3, "within": "10s"},
			// 2 per window of 10 s (gap 6 s): never 3 within one window.
			n: 10, gap: 6 * time.Second, names: []string{"cat"}, sent: 0, counts: noise.Counts{Skipped: 10}},
		{name: "skip_events by key", key: "skip_events", spec: map[string]any{"count": 3, "within": "1m", "by": by},
			n: 6, gap: time.Second, names: []string{"cat", "dd"}, sent: 2, suppressed: 4, counts: noise.Counts{Skipped: 4}, nth: 5},
		{name: "dedup folds repeats", key: "dedup", spec: map[string]any{"window": "1m"},
			n: 100, gap: time.Millisecond, names: []string{"cat"}, sent: 2, repeats: 99, counts: noise.Counts{Deduped: 99}, nth: 1},
		{name: "dedup keeps distinct outputs apart", key: "dedup", spec: map[string]any{"window": "1m"},
			n: 100, gap: time.Millisecond, names: []string{"cat", "dd"}, sent: 4, repeats: 98, counts: noise.Counts{Deduped: 98}, nth: 1},
		{name: "dedup single alert", key: "dedup", spec: map[string]any{"window": "1m"},
			n: 1, gap: time.Millisecond, names: []string{"cat"}, sent: 1, nth: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &policy.Rule{Name: "r", Enabled: true, Noise: parse(t, c.key, c.spec)}
			var sent []runtime.Alert
			s := noise.New(func(a runtime.Alert) error { sent = append(sent, a); return nil })
			flood(t, s, r, c.n, c.gap, c.names...)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			suppressed, repeats := 0, 0
			for _, a := range sent {
				suppressed += int(a.Suppressed)
				repeats += int(a.Repeats)
			}
			if len(sent) != c.sent || suppressed != c.suppressed || repeats != c.repeats {
				t.Errorf("sent %d (suppressed %d, repeats %d), want %d (%d, %d)", len(sent), suppressed, repeats, c.sent, c.suppressed, c.repeats)
			}
			if got := s.Counts()["r"]; got != c.counts {
				t.Errorf("counts %+v, want %+v", got, c.counts)
			}
			if c.nth > 0 && len(sent) > 0 {
				t0 := time.Unix(1_700_000_000, 0)
				if got := int(sent[0].Time.Sub(t0)/c.gap) + 1; got != c.nth {
					t.Errorf("first alert sent is match %d, want %d", got, c.nth)
				}
			}
			// Nothing lost: every alert is sent, folded or counted.
			if total := len(sent) - countRepeatsSent(sent) + int(s.Counts()["r"].Suppressed()); total != c.n {
				t.Errorf("sent %d + suppressed %d != %d alerts", len(sent)-countRepeatsSent(sent), s.Counts()["r"].Suppressed(), c.n)
			}
		})
	}
}

func countRepeatsSent(sent []runtime.Alert) int {
	n := 0
	for _, a := range sent {
		if a.Repeats > 0 {
			n++
		}
	}
	return n
}

// TestTickSendsEndedWindows: a dedup window's alert goes out at Tick once
// its window has ended, not before.
func TestTickSendsEndedWindows(t *testing.T) {
	r := &policy.Rule{Name: "r", Enabled: true, Noise: parse(t, "dedup", map[string]any{"window": "10s"})}
	var sent []runtime.Alert
	s := noise.New(func(a runtime.Alert) error { sent = append(sent, a); return nil })
	flood(t, s, r, 3, time.Second, "cat")
	t0 := time.Unix(1_700_000_000, 0)
	if err := s.Tick(t0.Add(9 * time.Second)); err != nil || len(sent) != 1 {
		t.Fatalf("before the window ends: %d alerts sent (%v), want 1", len(sent), err)
	}
	if err := s.Tick(t0.Add(10 * time.Second)); err != nil || len(sent) != 2 || sent[1].Repeats != 2 {
		t.Fatalf("at the window's end: %+v (%v), want a second alert with 2 repeats", sent, err)
	}
}

// TestUntrackedKeysAlert: past MaxKeys live keys, new keys are not
// tracked and their alerts go out (fail open), counted.
func TestUntrackedKeysAlert(t *testing.T) {
	r := &policy.Rule{Name: "r", Enabled: true, Noise: parse(t, "throttle", map[string]any{"rate": 1, "per": "1h", "by": []any{"proc.name"}})}
	n := 0
	s := noise.New(func(runtime.Alert) error { n++; return nil })
	names := make([]string, noise.MaxKeys+10)
	for i := range names {
		names[i] = fmt.Sprint("p", i)
	}
	flood(t, s, r, len(names), time.Millisecond, names...)
	if c := s.Counts()["r"]; n != len(names) || c.Untracked != 10 {
		t.Errorf("%d sent, counts %+v; want all %d sent, 10 untracked", n, c, len(names))
	}
}

func TestParseNoiseErrors(t *testing.T) {
	cases := []struct {
		key  string
		v    any
		want string
	}{
		{"throttle", "10/m", `throttle must be a map, not the string "10/m"`},
		{"throttle", map[string]any{"rate": 10}, "throttle needs per (a duration such as 30s or 1m)"},
		{"throttle", map[string]any{"per": "1m"}, "throttle needs rate"},
		{"throttle", map[string]any{"rate": 0, "per": "1m"}, "throttle.rate must be at least 1, not 0"},
		{"throttle", map[string]any{"rate": 1, "per": "1 minute"}, `throttle.per: "1 minute" is no duration (write 30s, 1m, 1h)`},
		{"throttle", map[string]any{"rate": 1, "per": "1m", "burst": 3}, `throttle: unknown key "burst" (want rate, per, by)`},
		{"skip_events", map[string]any{"count": 2.5, "within": "1m"}, "skip_events.count must be a whole number, not 2.5"},
		{"dedup", map[string]any{"window": "-1s"}, "dedup.window must be positive, not -1s"},
		{"dedup", map[string]any{"window": "1s", "by": []any{"proc.nmae"}}, `dedup.by: "proc.nmae" is no field (did you mean proc.name?)`},
		{"dedup", map[string]any{"window": "1s", "by": "proc.name"}, `dedup.by must be a list of field names, not the string "proc.name"`},
		{"silence", map[string]any{}, `unknown noise key "silence" (want one of skip_events, dedup, throttle)`},
	}
	for _, c := range cases {
		var n policy.Noise
		err := policy.ParseNoise(c.key, c.v, &n)
		if err == nil || err.Error() != c.want {
			t.Errorf("ParseNoise(%s, %v) = %v, want %q", c.key, c.v, err, c.want)
		}
	}
}

// BenchmarkStage: what an alert costs in the stage, for a rule without
// noise keys and for one with a keyed throttle holding most back.
func BenchmarkStage(b *testing.B) {
	ev := policy.NewEvent()
	ev.Set("proc.name", "cat")
	var n policy.Noise
	if err := policy.ParseNoise("throttle", map[string]any{"rate": 10, "per": "1h", "by": []any{"proc.name"}}, &n); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		rule *policy.Rule
	}{
		{"none", &policy.Rule{Name: "r"}},
		{"throttle", &policy.Rule{Name: "r", Noise: n}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := noise.New(func(runtime.Alert) error { return nil })
			a := runtime.Alert{Rule: c.rule, Event: ev, Time: time.Unix(1_700_000_000, 0), Output: "x"}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Alert(a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
