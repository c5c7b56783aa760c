package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"time"
)

// Result is a run of the harness: where and how it ran, every sample, and
// the summary per tool and workload.
type Result struct {
	Machine   Machine     `json:"machine"`
	Started   time.Time   `json:"started"`
	Finished  time.Time   `json:"finished"`
	Rounds    int         `json:"rounds"`
	Scale     float64     `json:"scale"`
	Tools     []ToolInfo  `json:"tools"`
	Workloads []Workload  `json:"workloads"`
	Samples   []Sample    `json:"samples"`
	Summary   []Summary   `json:"summary"`
	Notes     []string    `json:"notes,omitempty"`
	Scaling   []ScaleStep `json:"scaling,omitempty"`
}

// ToolInfo names a tool of a result and how it was started.
type ToolInfo struct {
	Name    string `json:"name"`
	Command string `json:"command,omitempty"`
	Version string `json:"version,omitempty"`
}

// Summary is one workload under one tool over the rounds: medians, and
// the spread of the per-round ratio to no tool.
type Summary struct {
	Tool      string  `json:"tool"`
	Workload  string  `json:"workload"`
	NsPerCall float64 `json:"ns_per_call"`
	// AddedNs is NsPerCall less the baseline's: what the tool adds.
	AddedNs float64 `json:"added_ns"`
	// Ratio is the median over rounds of the call's time under the tool
	// divided by its time with no tool in the same round.
	Ratio    float64 `json:"ratio"`
	RatioMin float64 `json:"ratio_min"`
	RatioMax float64 `json:"ratio_max"`
	// CPUPercent is the tool's CPU over the window, in % of one core.
	CPUPercent float64 `json:"cpu_percent"`
	RSSBytes   uint64  `json:"rss_bytes"`
	// EventsPerCall is what the kernel sent to userspace per call
	// (Peregrine only; -1 otherwise).
	EventsPerCall float64 `json:"events_per_call"`
	Alerts        float64 `json:"alerts"`
}

// baseline is the name of the tool the ratios divide by: the one with no
// command.
func (r *Result) baseline() string {
	for _, t := range r.Tools {
		if t.Command == "" {
			return t.Name
		}
	}
	return ""
}

// summarise fills Summary from Samples.
func (r *Result) summarise() {
	base := r.baseline()
	type key struct{ tool, workload string }
	byKey := map[key][]Sample{}
	baseByRound := map[string]map[int]float64{}
	for _, s := range r.Samples {
		byKey[key{s.Tool, s.Workload}] = append(byKey[key{s.Tool, s.Workload}], s)
		if s.Tool == base {
			if baseByRound[s.Workload] == nil {
				baseByRound[s.Workload] = map[int]float64{}
			}
			baseByRound[s.Workload][s.Round] = s.NsPerCall
		}
	}
	calls := map[string]int{}
	for _, w := range r.Workloads {
		calls[w.Name] = w.Calls
	}
	r.Summary = nil
	for _, t := range r.Tools {
		for _, w := range r.Workloads {
			ss := byKey[key{t.Name, w.Name}]
			if len(ss) == 0 {
				continue
			}
			var ns, ratios, cpu, events, alerts []float64
			var rss uint64
			for _, s := range ss {
				ns = append(ns, s.NsPerCall)
				if b, ok := baseByRound[w.Name][s.Round]; ok && b > 0 {
					ratios = append(ratios, s.NsPerCall/b)
				}
				if s.WindowNs > 0 {
					cpu = append(cpu, 100*s.ToolCPUNs/s.WindowNs)
				}
				if s.EventsSent >= 0 {
					events = append(events, float64(s.EventsSent)/float64(calls[w.Name]))
				}
				alerts = append(alerts, float64(s.Alerts))
				rss = max(rss, s.RSSBytes)
			}
			sum := Summary{Tool: t.Name, Workload: w.Name, NsPerCall: median(ns), CPUPercent: median(cpu), RSSBytes: rss,
				EventsPerCall: -1, Alerts: median(alerts)}
			if len(events) > 0 {
				sum.EventsPerCall = median(events)
			}
			if len(ratios) > 0 {
				sum.Ratio, sum.RatioMin, sum.RatioMax = median(ratios), minOf(ratios), maxOf(ratios)
			}
			if b := byKey[key{base, w.Name}]; len(b) > 0 {
				var bns []float64
				for _, s := range b {
					bns = append(bns, s.NsPerCall)
				}
				sum.AddedNs = sum.NsPerCall - median(bns)
			}
			r.Summary = append(r.Summary, sum)
		}
	}
}

func minOf(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = math.Min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}

// Lookup returns the summary of a workload under a tool.
func (r *Result) Lookup(tool, workload string) (Summary, bool) {
	for _, s := range r.Summary {
		if s.Tool == tool && s.Workload == workload {
			return s, true
		}
	}
	return Summary{}, false
}

// WriteFile writes the result as indented JSON.
func (r *Result) WriteFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadResult reads a result file and checks that it is well formed
// (Validate).
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Validate checks that a result is whole: a baseline, a sample of every
// workload under every tool in every round with a positive time, and a
// summary of each. It says nothing of the timings themselves.
func (r *Result) Validate() error {
	var errs []error
	if r.Machine.Kernel == "" || r.Machine.CPUs < 1 {
		errs = append(errs, errors.New("no machine description"))
	}
	if r.baseline() == "" {
		errs = append(errs, errors.New("no baseline tool (one without a command)"))
	}
	if len(r.Workloads) == 0 || len(r.Tools) == 0 || r.Rounds < 1 {
		errs = append(errs, errors.New("no workloads, tools or rounds"))
	}
	if want := r.Rounds * len(r.Tools) * len(r.Workloads); len(r.Samples) != want {
		errs = append(errs, fmt.Errorf("%d samples, want %d (rounds x tools x workloads)", len(r.Samples), want))
	}
	for _, s := range r.Samples {
		if !(s.NsPerCall > 0) || !(s.WindowNs > 0) {
			errs = append(errs, fmt.Errorf("sample %s/%s round %d: no time", s.Tool, s.Workload, s.Round))
		}
	}
	for _, t := range r.Tools {
		for _, w := range r.Workloads {
			if _, ok := r.Lookup(t.Name, w.Name); !ok {
				errs = append(errs, fmt.Errorf("no summary of %s under %s", w.Name, t.Name))
			}
		}
	}
	return errors.Join(errs...)
}
