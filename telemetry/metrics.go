package telemetry

import (
	"context"
	"errors"
	"os"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sys/unix"

	"github.com/peregrine-sec/peregrine/bpf"
	"github.com/peregrine-sec/peregrine/runtime"
)

// OutputStat is one alert output's queue, as the outputs report it: the
// alerts waiting, and those dropped (queue full) and failed (the output
// refused them) since the start.
type OutputStat struct {
	Name    string
	Queued  int
	Dropped uint64
	Failed  uint64
}

// Sources are what the metrics read when a reader collects. Each may be
// nil: its instruments then report nothing.
type Sources struct {
	// Stats are the pipeline's per-rule counters.
	Stats *runtime.Stats
	// Kernel reads the capture's kernel counters.
	Kernel func() (bpf.Counters, error)
	// Programs reads the syscall programs' BPF run-time statistics.
	Programs func() ([]bpf.ProgramStats, error)
	// RingBuffer returns the bytes waiting in the ring buffer and its size.
	RingBuffer func() (used, size int)
	// SyscallEvents returns the events that reached userspace, by syscall.
	SyscallEvents func() map[string]uint64
}

// Metrics are Peregrine's instruments, read from Sources by one
// callback, and the counts that other stages add: alerts suppressed by
// noise control (AddSuppressed), outputs' queues (SetOutputStats).
type Metrics struct {
	src        Sources
	mu         sync.Mutex
	suppressed map[string]uint64
	suppSource func() map[string]uint64
	outputs    func() []OutputStat
	attrMu     sync.Mutex
	attrs      map[*runtime.RuleInfo]metric.MeasurementOption
	t          *Telemetry
	reg        metric.Registration
}

// Instrument names. Time is in seconds, counts are of events.
const (
	MetricRuleKernelPassed  = "peregrine.rule.kernel.passed"
	MetricRuleEvaluations   = "peregrine.rule.evaluations"
	MetricRuleMatches       = "peregrine.rule.matches"
	MetricRuleAlerts        = "peregrine.rule.alerts"
	MetricRuleSuppressed    = "peregrine.rule.alerts.suppressed"
	MetricRuleUserspaceTime = "peregrine.rule.userspace.time"
	MetricRuleTimed         = "peregrine.rule.userspace.timed"
	MetricRuleDuration      = "peregrine.rule.userspace.duration"
	MetricKernelSyscalls    = "peregrine.kernel.syscalls"
	MetricSyscallEvents     = "peregrine.kernel.syscall.events"
	MetricBPFRunTime        = "peregrine.kernel.bpf.run_time"
	MetricBPFRunCount       = "peregrine.kernel.bpf.run_count"
	MetricRingBufferUsed    = "peregrine.ringbuffer.used"
	MetricRingBufferSize    = "peregrine.ringbuffer.size"
	MetricProcessCPU        = "peregrine.process.cpu.time"
	MetricProcessRSS        = "peregrine.process.memory.rss"
	MetricGCPause           = "peregrine.process.gc.pause.time"
	MetricGCCount           = "peregrine.process.gc.count"
	MetricOutputQueued      = "peregrine.output.queued"
	MetricOutputDropped     = "peregrine.output.dropped"
	MetricOutputFailed      = "peregrine.output.failed"
	MetricSpansDropped      = "peregrine.telemetry.spans.dropped"
	MetricSpansExported     = "peregrine.telemetry.spans.exported"
	MetricExportsFailed     = "peregrine.telemetry.metric_exports.failed"
)

// RegisterMetrics registers Peregrine's instruments on t's meter, read
// from src, and, with a Prometheus endpoint, the series Falco's
// Prometheus users chart (falcosecurity_falco_rules_matches_total and
// the event and drop counters). It returns an error when an instrument
// cannot be created.
func (t *Telemetry) RegisterMetrics(src Sources) (*Metrics, error) {
	m := &Metrics{src: src, suppressed: map[string]uint64{}, attrs: map[*runtime.RuleInfo]metric.MeasurementOption{}, t: t}
	mt := t.meter
	var errs []error
	i64 := func(name, desc, unit string) metric.Int64ObservableCounter {
		c, err := mt.Int64ObservableCounter(name, metric.WithDescription(desc), metric.WithUnit(unit))
		errs = append(errs, err)
		return c
	}
	f64 := func(name, desc, unit string) metric.Float64ObservableCounter {
		c, err := mt.Float64ObservableCounter(name, metric.WithDescription(desc), metric.WithUnit(unit))
		errs = append(errs, err)
		return c
	}
	g64 := func(name, desc, unit string) metric.Int64ObservableGauge {
		c, err := mt.Int64ObservableGauge(name, metric.WithDescription(desc), metric.WithUnit(unit))
		errs = append(errs, err)
		return c
	}
	passed := i64(MetricRuleKernelPassed, "Events the kernel filter let through for the rule (its classes passed)", "{event}")
	evals := i64(MetricRuleEvaluations, "Events the rule's condition was evaluated on in userspace", "{event}")
	matches := i64(MetricRuleMatches, "Events the rule matched", "{event}")
	alerts := i64(MetricRuleAlerts, "Alerts raised for the rule", "{alert}")
	suppressed := i64(MetricRuleSuppressed, "Alerts of the rule that noise control suppressed", "{alert}")
	userTime := f64(MetricRuleUserspaceTime, "Userspace evaluation time of the rule, estimated from the timed evaluations", "s")
	timed := i64(MetricRuleTimed, "Evaluations of the rule that were timed (one event in the timing period)", "{event}")
	syscalls := i64(MetricKernelSyscalls, "Kernel counters: syscalls seen, filtered in the kernel, sent to userspace, lost, unrecorded", "{syscall}")
	sysEvents := i64(MetricSyscallEvents, "Syscall events that reached userspace, by syscall", "{event}")
	runTime := f64(MetricBPFRunTime, "Run time of the capture's BPF programs (kernel BPF statistics)", "s")
	runCount := i64(MetricBPFRunCount, "Runs of the capture's BPF programs (kernel BPF statistics)", "{run}")
	ringUsed := g64(MetricRingBufferUsed, "Bytes waiting in the ring buffer", "By")
	ringSize := g64(MetricRingBufferSize, "Size of the ring buffer", "By")
	cpu := f64(MetricProcessCPU, "CPU time of the agent process", "s")
	rss := g64(MetricProcessRSS, "Resident memory of the agent process", "By")
	gcPause := f64(MetricGCPause, "Time the Go runtime paused for garbage collection", "s")
	gcCount := i64(MetricGCCount, "Garbage collections", "{gc}")
	outQueued := g64(MetricOutputQueued, "Alerts waiting in the output's queue", "{alert}")
	outDropped := i64(MetricOutputDropped, "Alerts the output's queue dropped", "{alert}")
	outFailed := i64(MetricOutputFailed, "Alerts the output failed to deliver", "{alert}")
	spansDropped := i64(MetricSpansDropped, "Spans dropped: the export queue was full or the export failed", "{span}")
	spansExported := i64(MetricSpansExported, "Spans exported", "{span}")
	exportsFailed := i64(MetricExportsFailed, "Metric exports that failed", "{export}")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if src.Stats != nil {
		hist, err := mt.Float64Histogram(MetricRuleDuration, metric.WithUnit("s"),
			metric.WithDescription("Userspace evaluation time of the rule's timed evaluations (one event in the timing period)"),
			metric.WithExplicitBucketBoundaries(1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 1e-4, 1e-3))
		if err != nil {
			return nil, err
		}
		ctx := context.Background()
		src.Stats.Timed = func(info *runtime.RuleInfo, took time.Duration) {
			hist.Record(ctx, took.Seconds(), m.ruleAttrs(info))
		}
	}
	reg, err := mt.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if s := src.Stats; s != nil {
			supp := m.suppressedCopy()
			for _, c := range s.Rules() {
				info := c.Info()
				if info == nil {
					continue
				}
				a := m.ruleAttrs(info)
				o.ObserveInt64(passed, int64(c.Passed()), a)
				o.ObserveInt64(evals, int64(c.Evaluated.Load()), a)
				o.ObserveInt64(matches, int64(c.Matches.Load()), a)
				o.ObserveInt64(alerts, int64(c.Alerts.Load()), a)
				o.ObserveInt64(suppressed, int64(supp[info.Name]), a)
				o.ObserveFloat64(userTime, c.EstimatedNanos()/1e9, a)
				o.ObserveInt64(timed, int64(c.TimedEvaluations.Load()), a)
			}
		}
		if src.Kernel != nil {
			if k, err := src.Kernel(); err == nil {
				for _, s := range []struct {
					state string
					n     uint64
				}{{"seen", k.SyscallsSeen}, {"filtered", k.EventsFiltered},
					{"filtered_container", k.EventsFilteredContainer}, {"sent", k.EventsSent}, {"lost", k.EventsLost}, {"unsaved", k.EventsUnsaved}} {
					o.ObserveInt64(syscalls, int64(s.n), metric.WithAttributes(attribute.String("peregrine.kernel.state", s.state)))
				}
			}
		}
		if src.SyscallEvents != nil {
			for name, n := range src.SyscallEvents() {
				o.ObserveInt64(sysEvents, int64(n), metric.WithAttributes(attribute.String("peregrine.syscall", name)))
			}
		}
		if src.Programs != nil {
			progs, _ := src.Programs()
			for _, p := range progs {
				a := metric.WithAttributes(attribute.String("peregrine.bpf.program", p.Name), attribute.Int64("peregrine.bpf.program.id", int64(p.ID)))
				o.ObserveFloat64(runTime, p.RunTime.Seconds(), a)
				o.ObserveInt64(runCount, int64(p.RunCount), a)
			}
		}
		if src.RingBuffer != nil {
			used, size := src.RingBuffer()
			o.ObserveInt64(ringUsed, int64(used))
			o.ObserveInt64(ringSize, int64(size))
		}
		if user, sys, ok := processCPU(); ok {
			o.ObserveFloat64(cpu, user.Seconds(), metric.WithAttributes(attribute.String("cpu.mode", "user")))
			o.ObserveFloat64(cpu, sys.Seconds(), metric.WithAttributes(attribute.String("cpu.mode", "system")))
		}
		if n, ok := processRSS(); ok {
			o.ObserveInt64(rss, n)
		}
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		o.ObserveFloat64(gcPause, time.Duration(ms.PauseTotalNs).Seconds())
		o.ObserveInt64(gcCount, int64(ms.NumGC))
		for _, s := range m.outputStats() {
			a := metric.WithAttributes(attribute.String("peregrine.output", s.Name))
			o.ObserveInt64(outQueued, int64(s.Queued), a)
			o.ObserveInt64(outDropped, int64(s.Dropped), a)
			o.ObserveInt64(outFailed, int64(s.Failed), a)
		}
		o.ObserveInt64(spansDropped, int64(t.SpansDropped()))
		o.ObserveInt64(spansExported, int64(t.spansExported.Load()))
		o.ObserveInt64(exportsFailed, int64(t.metricExportsFailed.Load()))
		return nil
	}, passed, evals, matches, alerts, suppressed, userTime, timed, syscalls, sysEvents, runTime, runCount,
		ringUsed, ringSize, cpu, rss, gcPause, gcCount, outQueued, outDropped, outFailed, spansDropped, spansExported, exportsFailed)
	if err != nil {
		return nil, err
	}
	m.reg = reg
	if t.reg != nil {
		if err := t.reg.Register(&falcoCollector{m: m}); err != nil {
			return nil, errors.Join(err, reg.Unregister())
		}
	}
	return m, nil
}

// AddSuppressed counts n alerts of the rule named rule that noise
// control suppressed. It is safe for concurrent use.
func (m *Metrics) AddSuppressed(rule string, n uint64) {
	m.mu.Lock()
	m.suppressed[rule] += n
	m.mu.Unlock()
}

// SetSuppressed makes the metrics read, besides what AddSuppressed
// added, the alerts suppressed so far by rule name from f (nil: none), a
// noise stage's cumulative counts. It is safe for concurrent use.
func (m *Metrics) SetSuppressed(f func() map[string]uint64) {
	m.mu.Lock()
	m.suppSource = f
	m.mu.Unlock()
}

// SetOutputStats makes the metrics read the outputs' queues with f (nil:
// none). It is safe for concurrent use.
func (m *Metrics) SetOutputStats(f func() []OutputStat) {
	m.mu.Lock()
	m.outputs = f
	m.mu.Unlock()
}

func (m *Metrics) suppressedCopy() map[string]uint64 {
	m.mu.Lock()
	out := make(map[string]uint64, len(m.suppressed))
	for k, v := range m.suppressed {
		out[k] = v
	}
	f := m.suppSource
	m.mu.Unlock()
	if f != nil {
		for k, v := range f() {
			out[k] += v
		}
	}
	return out
}

func (m *Metrics) outputStats() []OutputStat {
	m.mu.Lock()
	f := m.outputs
	m.mu.Unlock()
	if f == nil {
		return nil
	}
	return f()
}

// ruleAttrs returns the attributes of a rule's series (cached per
// RuleInfo: a plan's rules keep theirs until a reload describes them
// anew).
func (m *Metrics) ruleAttrs(info *runtime.RuleInfo) metric.MeasurementOption {
	m.attrMu.Lock()
	defer m.attrMu.Unlock()
	if a, ok := m.attrs[info]; ok {
		return a
	}
	if len(m.attrs) > 1<<16 {
		clear(m.attrs)
	}
	a := metric.WithAttributeSet(attribute.NewSet(AttrRuleName.String(info.Name), AttrRuleset.String(info.Ruleset),
		AttrRuleSource.String(info.Source), AttrRuleStage.String(info.Stage), attribute.String("security_rule.priority", info.Priority)))
	m.attrs[info] = a
	return a
}

// processCPU returns the process's user and system CPU time.
func processCPU() (user, sys time.Duration, ok bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, false
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), true
}

// processRSS returns the process's resident set size in bytes.
func processRSS() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// falcoCollector serves, on the Prometheus endpoint, the series under
// the names Falco's Prometheus support gives them, so that dashboards
// made for Falco keep working.
type falcoCollector struct{ m *Metrics }

var (
	descRuleMatches = prometheus.NewDesc("falcosecurity_falco_rules_matches_total",
		"Number of times each rule matched (Falco's name)", []string{"rule_name", "priority", "source", "tags"}, nil)
	descEvents = prometheus.NewDesc("falcosecurity_scap_n_evts_total",
		"Events the kernel sent to userspace (Falco's name)", nil, nil)
	descDrops = prometheus.NewDesc("falcosecurity_scap_n_drops_total",
		"Events lost to a full ring buffer (Falco's name)", nil, nil)
	descDropsBuffer = prometheus.NewDesc("falcosecurity_scap_n_drops_buffer_total",
		"Events lost to a full ring buffer (Falco's name)", nil, nil)
	descOutputDrops = prometheus.NewDesc("falcosecurity_falco_outputs_queue_num_drops_total",
		"Alerts the output queues dropped (Falco's name)", nil, nil)
	descRSS = prometheus.NewDesc("falcosecurity_falco_memory_rss_bytes",
		"Resident memory of the agent (Falco's name)", nil, nil)
)

// Describe sends the descriptions of the Falco-named series.
func (c *falcoCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRuleMatches, descEvents, descDrops, descDropsBuffer, descOutputDrops, descRSS} {
		ch <- d
	}
}

// Collect sends the Falco-named series' values.
func (c *falcoCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	if s := m.src.Stats; s != nil {
		rules := s.Rules()
		sort.Slice(rules, func(i, j int) bool { return rules[i].Info().Name < rules[j].Info().Name })
		for _, r := range rules {
			info := r.Info()
			if info == nil {
				continue
			}
			src := info.EventSource
			if src == "" {
				src = "syscall"
			}
			ch <- prometheus.MustNewConstMetric(descRuleMatches, prometheus.CounterValue, float64(r.Matches.Load()),
				info.Name, info.Priority, src, strings.Join(info.Tags, ","))
		}
	}
	if m.src.Kernel != nil {
		if k, err := m.src.Kernel(); err == nil {
			ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(k.EventsSent))
			ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(k.EventsLost))
			ch <- prometheus.MustNewConstMetric(descDropsBuffer, prometheus.CounterValue, float64(k.EventsLost))
		}
	}
	var drops uint64
	for _, s := range m.outputStats() {
		drops += s.Dropped
	}
	ch <- prometheus.MustNewConstMetric(descOutputDrops, prometheus.CounterValue, float64(drops))
	if n, ok := processRSS(); ok {
		ch <- prometheus.MustNewConstMetric(descRSS, prometheus.GaugeValue, float64(n))
	}
}

// Unregister stops the instruments' callback.
func (m *Metrics) Unregister() error {
	if m.reg == nil {
		return nil
	}
	return m.reg.Unregister()
}
