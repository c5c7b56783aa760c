package output

import (
	"context"
	"github.com/peregrine-sec/peregrine/internal/peertest"
	"io"
	"testing"
	"time"
)

// BenchmarkSend measures what Send costs its caller (the goroutine
// evaluating events) with stdout alone (written to io.Discard) and with
// an HTTP output as well whose peer accepts connections and never
// answers: that output's queue fills, then every Send drops for it. One
// op is one alert sent; alerts/s is the caller's rate. The difference
// between the two is what a dead HTTP output costs detection.
func BenchmarkSend(b *testing.B) {
	for _, c := range []struct {
		name string
		http bool
	}{{"stdout", false}, {"stdout+http-never-answers", true}} {
		b.Run(c.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.JSONOutput = true
			if c.http {
				cfg.HTTP.Enabled, cfg.HTTP.URL = true, "http://"+peertest.Silent(b)+"/"
			}
			s, err := New(cfg, Options{Stdout: io.Discard})
			if err != nil {
				b.Fatal(err)
			}
			a := alertN(1)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				s.Send(a)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			stats, _ := s.Close(ctx)
			b.ReportMetric(float64(statsOf(b, stats, "stdout").Dropped)/float64(b.N), "stdout-drops/op")
		})
	}
}
