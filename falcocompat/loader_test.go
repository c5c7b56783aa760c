package falcocompat_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime"
)

// upstreamDir returns ../shared/falco, skipping the test when it is absent
// outside CI and failing it in CI.
func upstreamDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "falco")
	if _, err := os.Stat(filepath.Join(dir, "falco_rules.yaml")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("upstream rule files missing in CI: %v", err)
		}
		t.Skipf("upstream rule files not found at %s: %v", dir, err)
	}
	return dir
}

func FuzzLoadRules(f *testing.F) {
	f.Add([]byte("- rule: r\n  desc: d\n  condition: evt.type = open and proc.name = x\n  output: \"%proc.name\"\n  priority: info\n"))
	f.Add([]byte("- list: l\n  items: [a, b]\n- macro: m\n  condition: proc.name in (l)\n- rule: r\n  desc: d\n  condition: m\n  output: o\n  priority: error\n  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      values: [[a, b]]\n"))
	f.Add([]byte("- rule: r\n  override:\n    condition: append\n  condition: and x\n"))
	f.Add([]byte("- required_engine_version: 10\n- required_plugin_versions:\n  - name: container\n    version: 0.1.0\n"))
	f.Add([]byte("{[: -"))
	f.Fuzz(func(t *testing.T, src []byte) {
		l := falcocompat.NewLoader()
		l.AddFile("fuzz.yaml", src)
		res := l.Compile()
		if len(res.Errors) == 0 && res.Ruleset == nil {
			t.Fatal("no errors and no ruleset")
		}
		for _, e := range res.Errors {
			if e.Pos.File != "fuzz.yaml" {
				t.Fatalf("error without the file name: %v", e)
			}
		}
		if res.Ruleset != nil {
			ev, _ := policy.DecodeEvent([]byte(`{"evt.type":"open","proc.name":"x","fd.name":"/a"}`), 1)
			pipe, err := runtime.NewPipeline(res.Ruleset, runtime.MatchAll)
			if err != nil {
				t.Fatalf("loaded ruleset does not compile: %v", err)
			}
			pipe.Evaluate(&runtime.Input{Event: ev}, nil)
		}
	})
}

// BenchmarkReplayUpstream measures replay throughput with both upstream
// rule files loaded: one op is one event decoded from its JSON line and
// evaluated by the pipeline (the emulated kernel filter and the decision
// tree), so allocs/op is allocations per event.
func BenchmarkReplayUpstream(b *testing.B) {
	dir := upstreamDir(b)
	res := falcocompat.LoadPaths(filepath.Join(dir, "falco_rules.yaml"), filepath.Join(dir, "falco-incubating_rules.yaml"))
	if err := res.Err(); err != nil {
		b.Fatal(err)
	}
	pipe, err := runtime.NewPipeline(res.Ruleset, runtime.MatchFirst)
	if err != nil {
		b.Fatal(err)
	}
	lines := [][]byte{
		[]byte(`{"evt.type":"openat","proc.name":"cat","fd.name":"/etc/shadow","user.uid":0,"evt.arg.flags":"O_RDONLY","fd.typechar":"f","fd.num":3,"proc.aname":["cat","bash","sshd"],"evt.rawres":3}`),
		[]byte(`{"evt.type":"openat","proc.name":"nginx","fd.name":"/var/www/index.html","user.uid":33,"evt.arg.flags":"O_RDONLY","fd.typechar":"f","fd.num":7,"proc.aname":["nginx","nginx","systemd"],"evt.rawres":7}`),
		[]byte(`{"evt.type":"execve","proc.name":"bash","proc.exepath":"/usr/bin/bash","proc.args":"-c ls","proc.aname":["bash","nginx","systemd"],"user.uid":33,"evt.rawres":0,"proc.tty":0}`),
		[]byte(`{"evt.type":"connect","proc.name":"curl","fd.type":"ipv4","fd.sip":"93.184.216.34","fd.sport":443,"fd.l4proto":"tcp","evt.rawres":0,"proc.aname":["curl","bash"]}`),
		[]byte(`{"evt.type":"close","proc.name":"cat","fd.num":3}`),
	}
	b.ReportAllocs()
	b.ResetTimer()
	var alerts []runtime.Alert
	ev := policy.NewEvent() // reused, as the replay source does
	for i := 0; i < b.N; i++ {
		if err := policy.DecodeEventInto(ev, lines[i%len(lines)], uint64(i+1)); err != nil {
			b.Fatal(err)
		}
		alerts = pipe.Evaluate(&runtime.Input{Event: ev}, alerts[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
