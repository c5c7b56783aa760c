package telemetry

import (
	"context"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/rules"
	"github.com/peregrine-sec/peregrine/runtime"
)

// benchEvents are events of the kinds a host sends most (opens, an exec,
// a connect, a close), one matching an upstream rule.
var benchEvents = []string{
	`{"evt.type":"openat","proc.name":"cat","fd.name":"/etc/shadow","user.uid":0,"evt.arg.flags":"O_RDONLY","fd.typechar":"f","fd.num":3,"proc.aname":["cat","bash","sshd"],"evt.rawres":3}`,
	`{"evt.type":"openat","proc.name":"nginx","fd.name":"/var/www/index.html","user.uid":33,"evt.arg.flags":"O_RDONLY","fd.typechar":"f","fd.num":7,"proc.aname":["nginx","nginx","systemd"],"evt.rawres":7}`,
	`{"evt.type":"execve","proc.name":"bash","proc.exepath":"/usr/bin/bash","proc.args":"-c ls","proc.aname":["bash","nginx","systemd"],"user.uid":33,"evt.rawres":0,"proc.tty":0}`,
	`{"evt.type":"connect","proc.name":"curl","fd.type":"ipv4","fd.sip":"93.184.216.34","fd.sport":443,"fd.l4proto":"tcp","evt.rawres":0,"proc.aname":["curl","bash"]}`,
	`{"evt.type":"close","proc.name":"cat","fd.num":3}`,
}

// benchRuleset is the upstream stable rules when ../shared holds them,
// else the default rules.
func benchRuleset(b *testing.B) *policy.Ruleset {
	path := filepath.Join("..", "..", "shared", "falco", "falco_rules.yaml")
	var res *falcocompat.Result
	if _, err := os.Stat(path); err == nil {
		res = falcocompat.LoadPaths(path)
	} else {
		name, src := rules.Default()
		ld := falcocompat.NewLoader()
		ld.AddFile(name, src)
		res = ld.Compile()
	}
	if err := res.Err(); err != nil {
		b.Fatal(err)
	}
	return res.Ruleset
}

// BenchmarkEvaluate measures the pipeline's evaluation throughput (one op
// is one event evaluated: the emulated kernel filter, the candidates, the
// decision tree) with telemetry off, and on as `run` turns it on: per-rule
// counters, per-rule timing of one event in runtime.DefaultTimingEvery,
// one event in 1/DefaultEventSampleRatio traced (a span and a child per
// rule, through the batch processor to an exporter), a Prometheus reader
// registered. Compare the two with
//
//	go test -run '^$' -bench Evaluate -count 6 ./telemetry
func BenchmarkEvaluate(b *testing.B) {
	rs := benchRuleset(b)
	events := benchDecoded(b)
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			pipe := benchPipeline(b, rs, mode == "on")
			var alerts []runtime.Alert
			n := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				alerts = pipe.Evaluate(&runtime.Input{Event: events[i%len(events)]}, alerts[:0])
				n += len(alerts)
			}
			if n == 0 {
				b.Fatal("no alert: the events match no rule")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// benchPipeline is a pipeline for rs with telemetry on as run turns it on,
// or off.
func benchPipeline(b *testing.B, rs *policy.Ruleset, on bool) *runtime.Pipeline {
	pipe, err := runtime.NewPipeline(rs, runtime.MatchFirst)
	if err != nil {
		b.Fatal(err)
	}
	if !on {
		return pipe
	}
	tel, err := Setup(context.Background(), Config{TracesExporter: ExporterConsole, MetricsListen: "127.0.0.1:0",
		EventSampleRatio: DefaultEventSampleRatio}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	stats := runtime.NewStats(0)
	if _, err := tel.RegisterMetrics(Sources{Stats: stats}); err != nil {
		b.Fatal(err)
	}
	pipe.Observe(stats, tel.EventTracer(), TraceEvery(DefaultEventSampleRatio))
	return pipe
}

// benchDecoded returns benchEvents decoded.
func benchDecoded(b *testing.B) []*policy.Event {
	events := make([]*policy.Event, len(benchEvents))
	for i, line := range benchEvents {
		events[i] = policy.NewEvent()
		if err := policy.DecodeEventInto(events[i], []byte(line), uint64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
	return events
}

// BenchmarkEvaluatePaired is BenchmarkEvaluate's two cases interleaved in
// batches of 2,000 events within one run, each first in every other round, so that both see the same
// machine (on a shared machine the separate runs of BenchmarkEvaluate
// differ by more than what telemetry costs). It reports each case's ns
// per event and on/off, the throughput with telemetry on as a share of
// the throughput with it off (the target is at least 0.97), by the wall
// clock and by the benchmark thread's CPU time.
func BenchmarkEvaluatePaired(b *testing.B) {
	rs := benchRuleset(b)
	events := benchDecoded(b)
	pipes := [2]*runtime.Pipeline{benchPipeline(b, rs, false), benchPipeline(b, rs, true)}
	// The thread's CPU time, besides the wall clock: other processes on
	// the machine take the CPU from the benchmark, not its CPU time.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	threadCPU := func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ts.Nano())
	}
	var took, cpu [2]time.Duration
	var n [2]int
	var alerts []runtime.Alert
	const batch = 2000
	for round := 0; b.Loop(); round++ {
		// Each case runs first in every other round: the second of a
		// round finds the caches and the collector as the first left them.
		for k := range pipes {
			m := (k + round) % 2
			pipe := pipes[m]
			start, startCPU := time.Now(), threadCPU()
			for i := 0; i < batch; i++ {
				alerts = pipe.Evaluate(&runtime.Input{Event: events[i%len(events)]}, alerts[:0])
			}
			took[m] += time.Since(start)
			cpu[m] += threadCPU() - startCPU
			n[m] += batch
		}
	}
	off, on := float64(took[0])/float64(n[0]), float64(took[1])/float64(n[1])
	b.ReportMetric(off, "off-ns/event")
	b.ReportMetric(on, "on-ns/event")
	b.ReportMetric(off/on, "on/off")
	b.ReportMetric(float64(cpu[0])/float64(cpu[1]), "on/off-cpu")
}
