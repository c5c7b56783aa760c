package telemetry

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Series is one sample of a Prometheus text exposition: a metric name,
// its labels and its value.
type Series struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// ParseExposition reads the Prometheus text format (comments skipped).
// It returns an error naming the line it cannot read.
func ParseExposition(r io.Reader) ([]Series, error) {
	var out []Series
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSeries(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseSeries(line string) (Series, error) {
	s := Series{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no value: %q", line)
	}
	s.Name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ,")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, "=\"")
			if eq <= 0 {
				return s, fmt.Errorf("bad labels: %q", line)
			}
			key := rest[:eq]
			rest = rest[eq+2:]
			var b strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						b.WriteByte('\n')
					default:
						b.WriteByte(rest[j])
					}
					continue
				}
				if c == '"' {
					rest, closed = rest[j+1:], true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return s, fmt.Errorf("unterminated label value: %q", line)
			}
			s.Labels[key] = b.String()
		}
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return s, fmt.Errorf("no value: %q", line)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, fmt.Errorf("value %q: %w", f[0], err)
	}
	s.Value = v
	return s, nil
}

// Scrape GETs an agent's metrics endpoint (a URL, or host:port for
// http://host:port/metrics) and parses it. It returns an error when the
// agent does not answer or answers something else than the text format.
func Scrape(ctx context.Context, endpoint string) ([]Series, error) {
	u := endpoint
	if !strings.Contains(u, "://") {
		u = "http://" + u + "/metrics"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	s, err := ParseExposition(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return s, nil
}

// Snapshot is what `peregrine top` reads of one scrape: cumulative
// counts per rule and for the agent.
type Snapshot struct {
	Time  time.Time
	Rules map[string]*RuleSnapshot
	// BPFRunTime and BPFRunCount sum the capture's syscall programs.
	BPFRunTime  float64 // seconds
	BPFRunCount float64
	// CPU is the agent process's CPU time (user and system), in seconds.
	CPU float64
	// Sent and Lost are the kernel's counts of events sent and lost.
	Sent, Lost float64
}

// RuleSnapshot is one rule's cumulative counts.
type RuleSnapshot struct {
	Name, Stage, Source, Ruleset           string
	Passed, Evaluations, Matches, UserTime float64
}

// NewSnapshot reads a scrape's Peregrine series.
func NewSnapshot(at time.Time, series []Series) *Snapshot {
	s := &Snapshot{Time: at, Rules: map[string]*RuleSnapshot{}}
	rule := func(l map[string]string) *RuleSnapshot {
		name := l["security_rule_name"]
		r := s.Rules[name]
		if r == nil {
			r = &RuleSnapshot{Name: name, Stage: l["peregrine_rule_stage"], Source: l["peregrine_rule_source"], Ruleset: l["security_rule_ruleset_name"]}
			s.Rules[name] = r
		}
		return r
	}
	for _, x := range series {
		switch x.Name {
		case "peregrine_rule_kernel_passed_total":
			rule(x.Labels).Passed += x.Value
		case "peregrine_rule_evaluations_total":
			rule(x.Labels).Evaluations += x.Value
		case "peregrine_rule_matches_total":
			rule(x.Labels).Matches += x.Value
		case "peregrine_rule_userspace_time_seconds_total":
			rule(x.Labels).UserTime += x.Value
		case "peregrine_kernel_bpf_run_time_seconds_total":
			s.BPFRunTime += x.Value
		case "peregrine_kernel_bpf_run_count_total":
			s.BPFRunCount += x.Value
		case "peregrine_process_cpu_time_seconds_total":
			s.CPU += x.Value
		case "peregrine_kernel_syscalls_total":
			switch x.Labels["peregrine_kernel_state"] {
			case "sent":
				s.Sent = x.Value
			case "lost":
				s.Lost = x.Value
			}
		}
	}
	return s
}

// RuleCost is one rule's row of `peregrine top`, over an interval.
type RuleCost struct {
	Rule    string `json:"rule"`
	Stage   string `json:"stage"`
	Source  string `json:"source"`
	Ruleset string `json:"ruleset"`
	// KernelNsPerSec is the kernel time of the events the rule's classes
	// let through (each an entry and an exit run of the capture's
	// programs, at the interval's mean cost per run), per second.
	KernelNsPerSec float64 `json:"kernel_ns_per_s"`
	// UserNsPerSec is the rule's userspace evaluation time per second.
	UserNsPerSec float64 `json:"userspace_ns_per_s"`
	// CostNsPerSec is the sum of both.
	CostNsPerSec      float64 `json:"cost_ns_per_s"`
	PassedPerSec      float64 `json:"kernel_passed_per_s"`
	EvaluationsPerSec float64 `json:"evaluations_per_s"`
	MatchesPerSec     float64 `json:"matches_per_s"`
	// CPUShare is CostNsPerSec over the agent's CPU time (its process's
	// and its BPF programs') in the interval.
	CPUShare float64 `json:"cpu_share"`
}

// Top is `peregrine top`'s view of an interval between two snapshots.
type Top struct {
	IntervalSeconds float64 `json:"interval_s"`
	// KernelNsPerEvent is the capture programs' mean run time per run
	// (one syscall entry or exit) in the interval: BPF run time over run
	// count, from the kernel's BPF statistics.
	KernelNsPerEvent float64 `json:"kernel_ns_per_event"`
	// KernelNsPerSec is the capture programs' run time per second.
	KernelNsPerSec float64 `json:"kernel_ns_per_s"`
	// ProcessCPUShare is the agent process's CPU time per second (1: one
	// core).
	ProcessCPUShare float64 `json:"process_cpu_share"`
	// EventsPerSec and LostPerSec are the events the kernel sent and lost.
	EventsPerSec float64    `json:"events_per_s"`
	LostPerSec   float64    `json:"lost_per_s"`
	Rules        []RuleCost `json:"rules"`
}

// Sort keys of Top.Sort.
var SortKeys = []string{"cost", "kernel", "userspace", "matches", "evaluations", "name"}

// Compute returns the view of the interval from a to b, rules sorted by
// cost (most first).
func Compute(a, b *Snapshot) *Top {
	dt := b.Time.Sub(a.Time).Seconds()
	if dt <= 0 {
		dt = 1
	}
	t := &Top{IntervalSeconds: dt}
	runs := b.BPFRunCount - a.BPFRunCount
	runTime := (b.BPFRunTime - a.BPFRunTime) * 1e9
	if runs > 0 {
		t.KernelNsPerEvent = runTime / runs
	}
	t.KernelNsPerSec = runTime / dt
	cpu := (b.CPU - a.CPU) * 1e9
	t.ProcessCPUShare = cpu / 1e9 / dt
	t.EventsPerSec = (b.Sent - a.Sent) / dt
	t.LostPerSec = (b.Lost - a.Lost) / dt
	agentNs := cpu + runTime
	for name, rb := range b.Rules {
		ra := a.Rules[name]
		if ra == nil {
			ra = &RuleSnapshot{}
		}
		c := RuleCost{Rule: name, Stage: rb.Stage, Source: rb.Source, Ruleset: rb.Ruleset,
			PassedPerSec: (rb.Passed - ra.Passed) / dt, EvaluationsPerSec: (rb.Evaluations - ra.Evaluations) / dt,
			MatchesPerSec: (rb.Matches - ra.Matches) / dt, UserNsPerSec: (rb.UserTime - ra.UserTime) * 1e9 / dt}
		c.KernelNsPerSec = c.PassedPerSec * 2 * t.KernelNsPerEvent
		c.CostNsPerSec = c.KernelNsPerSec + c.UserNsPerSec
		if agentNs > 0 {
			c.CPUShare = c.CostNsPerSec * dt / agentNs
		}
		t.Rules = append(t.Rules, c)
	}
	t.Sort("cost")
	return t
}

// Sort orders the rules by key (one of SortKeys; most first, by name for
// "name"). It returns false for an unknown key, leaving the order.
func (t *Top) Sort(key string) bool {
	var f func(c *RuleCost) float64
	switch key {
	case "cost":
		f = func(c *RuleCost) float64 { return c.CostNsPerSec }
	case "kernel":
		f = func(c *RuleCost) float64 { return c.KernelNsPerSec }
	case "userspace":
		f = func(c *RuleCost) float64 { return c.UserNsPerSec }
	case "matches":
		f = func(c *RuleCost) float64 { return c.MatchesPerSec }
	case "evaluations":
		f = func(c *RuleCost) float64 { return c.EvaluationsPerSec }
	case "name":
		sort.SliceStable(t.Rules, func(i, j int) bool { return t.Rules[i].Rule < t.Rules[j].Rule })
		return true
	default:
		return false
	}
	sort.SliceStable(t.Rules, func(i, j int) bool {
		a, b := f(&t.Rules[i]), f(&t.Rules[j])
		if a != b {
			return a > b
		}
		return t.Rules[i].Rule < t.Rules[j].Rule
	})
	return true
}
