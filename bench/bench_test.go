package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peregrine-sec/peregrine/internal/machinelock"
)

// requireRoot skips a test that loads eBPF programs when unprivileged,
// and fails it under CI, which runs as root.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root: this test must run")
		}
		t.Skip("needs root to load eBPF programs")
	}
}

// TestQuickRun is the CI smoke test of the harness: `peregrine bench
// --quick` with the default and the upstream rules (and bpftrace when
// installed) writes a result file that is whole (Validate) and a chart,
// and every Peregrine run alerted on every sensitive open, with the
// kernel filter as without it. It checks no timing.
func TestQuickRun(t *testing.T) {
	requireRoot(t)
	upstream := "../../shared/falco/falco_rules.yaml"
	if _, err := os.Stat(upstream); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("upstream rules needed in CI: %v", err)
		}
		t.Skipf("upstream rules absent: %v", err)
	}
	machinelock.Hold(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "peregrine")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/peregrine").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	result := filepath.Join(dir, "quick.json")
	cmd := exec.Command(bin, "bench", "--quick", "--upstream", upstream, "--out", result)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("peregrine bench --quick: %v\n%s", err, out)
	}
	res, err := ReadResult(result)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	svg, err := os.ReadFile(strings.TrimSuffix(result, ".json") + ".svg")
	if err != nil || !strings.HasPrefix(string(svg), "<svg") {
		t.Fatalf("chart: %v", err)
	}
	sensitive, _ := LookupWorkload("open-sensitive")
	calls := float64(int(float64(sensitive.Calls) * res.Scale))
	var alerts []float64
	for _, tool := range res.Tools {
		if !strings.HasPrefix(tool.Name, "peregrine") {
			continue
		}
		s, _ := res.Lookup(tool.Name, "open-sensitive")
		if s.Alerts < calls {
			t.Errorf("%s: %.0f alerts for %.0f sensitive opens", tool.Name, s.Alerts, calls)
		}
		if s.EventsPerCall < 0 {
			t.Errorf("%s: no count of the events sent to userspace", tool.Name)
		}
		alerts = append(alerts, s.Alerts)
	}
	if len(alerts) < 3 {
		t.Fatalf("%d Peregrine runs measured, want 3 (default, stable, no kernel filter)", len(alerts))
	}
	for _, a := range alerts[1:] {
		if d := a - alerts[0]; d > 3 || d < -3 {
			t.Errorf("sensitive-open alerts differ between Peregrine runs: %v", alerts)
		}
	}
}
