package runtime

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
)

// fakeTracer records what the pipeline tells an EventTracer.
type fakeTracer struct {
	events, rules, matched int
	open                   bool
	t                      *testing.T
}

func (f *fakeTracer) StartEvent(*Input) EventSpan {
	if f.open {
		f.t.Error("an event span started before the last ended")
	}
	f.open = true
	f.events++
	return f
}

func (f *fakeTracer) Rule(info *RuleInfo, matched bool, _ time.Time, took time.Duration) {
	if info == nil || info.Name == "" || took < 0 {
		f.t.Errorf("rule span with info %+v, duration %v", info, took)
	}
	f.rules++
	if matched {
		f.matched++
	}
}

func (f *fakeTracer) End(int) string {
	f.open = false
	return fmt.Sprintf("%032x", f.events)
}

// TestObservedMatchesAsPlain checks that a pipeline counting, timing and
// tracing raises exactly the alerts of one that does not, for every
// timing and tracing period, with first and all matching, and that its
// counts add up: matches are the alerts, evaluations at most the kernel's
// passes, a traced event's alerts carry its trace id.
func TestObservedMatchesAsPlain(t *testing.T) {
	path := "../../shared/falco/falco_rules.yaml"
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("upstream rules needed in CI: %v", err)
		}
		t.Skipf("upstream rules absent: %v", err)
	}
	res := falcocompat.LoadPaths(path)
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	var events []*policy.Event
	for i, line := range []string{
		`{"evt.type":"openat","proc.name":"cat","fd.name":"/etc/shadow","user.uid":0,"evt.arg.flags":"O_RDONLY","fd.typechar":"f","fd.num":3,"proc.aname":["cat","bash","sshd"],"evt.rawres":3}`,
		`{"evt.type":"openat","proc.name":"nginx","fd.name":"/var/www/index.html","user.uid":33,"evt.arg.flags":"O_RDONLY","fd.typechar":"f","fd.num":7,"proc.aname":["nginx","nginx","systemd"],"evt.rawres":7}`,
		`{"evt.type":"execve","proc.name":"bash","proc.exepath":"/usr/bin/bash","proc.args":"-c ls","proc.aname":["bash","nginx","systemd"],"user.uid":33,"evt.rawres":0,"proc.tty":0,"container.id":"abc123456789"}`,
		`{"evt.type":"openat","proc.name":"vi","fd.name":"/etc/sudoers","user.uid":0,"evt.arg.flags":"O_WRONLY|O_CREAT","evt.is_open_write":true,"fd.typechar":"f","fd.num":4,"proc.aname":["vi","bash"],"evt.rawres":4}`,
		`{"evt.type":"connect","proc.name":"curl","fd.type":"ipv4","fd.sip":"93.184.216.34","fd.sport":443,"fd.l4proto":"tcp","evt.rawres":0,"proc.aname":["curl","bash"]}`,
		`{"evt.type":"close","proc.name":"cat","fd.num":3}`,
	} {
		ev := policy.NewEvent()
		if err := policy.DecodeEventInto(ev, []byte(line), uint64(i+1)); err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	names := func(as []Alert) string {
		s := ""
		for _, a := range as {
			s += a.Rule.Name + ";"
		}
		return s
	}
	for _, m := range []Matching{MatchFirst, MatchAll} {
		plain, err := NewPipeline(res.Ruleset, m)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		total := 0
		for _, ev := range events {
			as := plain.Evaluate(&Input{Event: ev}, nil)
			want = append(want, names(as))
			total += len(as)
		}
		if total == 0 {
			t.Fatal("no event alerts: the test checks nothing")
		}
		for _, period := range []uint64{1, 2, 3, 64} {
			obs := PlanPipeline(plain.Plan(), m)
			stats := NewStats(period)
			tr := &fakeTracer{t: t}
			obs.Observe(stats, tr, period)
			const rounds = 10
			alerts := 0
			for r := 0; r < rounds; r++ {
				for i, ev := range events {
					as := obs.Evaluate(&Input{Event: ev}, nil)
					if got := names(as); got != want[i] {
						t.Fatalf("matching %d, period %d, event %d: alerts %q, want %q", m, period, i, got, want[i])
					}
					traced := uint64(r*len(events)+i+1)%period == 0
					for _, a := range as {
						if (a.TraceID != "") != traced {
							t.Errorf("period %d, event %d: alert trace id %q (traced: %v)", period, r*len(events)+i+1, a.TraceID, traced)
						}
					}
					alerts += len(as)
				}
			}
			var matches, timed, evals uint64
			for _, c := range stats.Rules() {
				matches += c.Matches.Load()
				timed += c.TimedEvaluations.Load()
				evals += c.Evaluated.Load()
				if c.Evaluated.Load() > c.Passed() {
					t.Errorf("rule %s: %d evaluations, %d passes", c.Info().Name, c.Evaluated.Load(), c.Passed())
				}
				if c.Info().Stage == "" || c.Info().Source != "yaml" || c.Info().Ruleset != "falco_rules.yaml" {
					t.Errorf("rule info %+v", c.Info())
				}
			}
			if matches != uint64(alerts) {
				t.Errorf("period %d: %d matches counted, %d alerts", period, matches, alerts)
			}
			if period == 1 && (timed != evals || tr.rules != int(evals)) {
				t.Errorf("period 1: %d evaluations, %d timed, %d rule spans", evals, timed, tr.rules)
			}
			if want := rounds * len(events) / int(period); tr.events != want {
				t.Errorf("period %d: %d events traced, want %d", period, tr.events, want)
			}
			if tr.matched != alerts/int(period) && period == 1 {
				t.Errorf("period 1: %d matched rule spans, %d alerts", tr.matched, alerts)
			}
		}
	}
}
