package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"time"
)

// Snapshot rule and output, as Falco names its periodic metrics snapshot
// (metrics.output_rule), so that what reads Falco's snapshots finds them.
const (
	SnapshotRule   = "Falco internal: metrics snapshot"
	SnapshotOutput = "Falco metrics snapshot"
)

// SnapshotLine is one periodic snapshot, in the shape of Falco's alert
// JSON (rule, priority, source, time, output_fields).
type SnapshotLine struct {
	Hostname     string         `json:"hostname"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Source       string         `json:"source"`
	Time         string         `json:"time"`
}

// Snapshot returns the counters now: the kernel's, the agent's, and per
// rule its matches (falco.rules.NAME) and Peregrine's per-rule figures
// (peregrine.rules.NAME.*). start is when the agent started, prev the
// previous snapshot (nil for the first), for the event rate.
func (m *Metrics) Snapshot(now, start time.Time, prev *SnapshotLine, version string) *SnapshotLine {
	host, _ := os.Hostname()
	f := map[string]any{
		"evt.source": "syscall", "evt.time": now.UnixNano(), "evt.hostname": host,
		"falco.version": version, "falco.start_ts": start.UnixNano(),
		"falco.duration_sec": int64(now.Sub(start).Seconds()), "falco.host_num_cpus": goruntime.NumCPU(),
	}
	if m.src.Kernel != nil {
		if k, err := m.src.Kernel(); err == nil {
			f["scap.n_evts"] = k.EventsSent
			f["scap.n_drops"] = k.EventsLost
			f["scap.n_drops_buffer_total"] = k.EventsLost
			f["peregrine.kernel.syscalls_seen"] = k.SyscallsSeen
			f["peregrine.kernel.events_filtered"] = k.EventsFiltered
			f["peregrine.kernel.events_filtered_container"] = k.EventsFilteredContainer
			f["falco.num_evts"] = k.EventsSent
			if prev != nil {
				if n, ok := prev.OutputFields["falco.num_evts"].(uint64); ok {
					if t, ok := prev.OutputFields["evt.time"].(int64); ok && now.UnixNano() > t {
						f["falco.num_evts_prev"] = n
						f["falco.evts_rate_sec"] = float64(k.EventsSent-n) / (float64(now.UnixNano()-t) / 1e9)
					}
				}
			}
		}
	}
	var drops uint64
	for _, s := range m.outputStats() {
		drops += s.Dropped
	}
	f["falco.outputs_queue_num_drops"] = drops
	if n, ok := processRSS(); ok {
		f["falco.memory_rss_bytes"] = n
	}
	if user, sys, ok := processCPU(); ok {
		f["peregrine.process.cpu_seconds"] = (user + sys).Seconds()
	}
	if s := m.src.Stats; s != nil {
		var total uint64
		supp := m.suppressedCopy()
		for _, c := range s.Rules() {
			info := c.Info()
			if info == nil {
				continue
			}
			n := c.Matches.Load()
			total += n
			f["falco.rules."+info.Name] = n
			p := "peregrine.rules." + info.Name + "."
			f[p+"evaluations"] = c.Evaluated.Load()
			f[p+"kernel_passed"] = c.Passed()
			f[p+"alerts_suppressed"] = supp[info.Name]
			f[p+"userspace_ns"] = uint64(c.EstimatedNanos())
		}
		f["falco.rules.matches_total"] = total
	}
	return &SnapshotLine{Hostname: host, Output: SnapshotOutput, OutputFields: f, Priority: "Informational",
		Rule: SnapshotRule, Source: "internal", Time: now.UTC().Format("2006-01-02T15:04:05.000000000Z")}
}

// WriteSnapshots writes a snapshot to w every interval, one JSON line
// each, until ctx is done, and a last one then. It returns the first write
// error.
func (m *Metrics) WriteSnapshots(ctx context.Context, w io.Writer, interval time.Duration, version string) error {
	if interval <= 0 {
		return fmt.Errorf("metrics snapshot interval %v: want a positive duration", interval)
	}
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var prev *SnapshotLine
	for {
		done := false
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
		s := m.Snapshot(time.Now(), start, prev, version)
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
			return err
		}
		prev = s
		if done {
			return nil
		}
	}
}
