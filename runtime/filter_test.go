package runtime_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/internal/machinelock"
	"github.com/peregrine-sec/peregrine/runtime"
)

// effectOpens is the benign load's number of opens; PEREGRINE_EFFECT_OPENS
// raises it (10^6 for the figure the closing note reports).
func effectOpens() int {
	if n, err := strconv.Atoi(os.Getenv("PEREGRINE_EFFECT_OPENS")); err == nil && n > 0 {
		return n
	}
	return 50000
}

// TestKernelFilterEffect runs a benign load and sensitive actions with the
// upstream rules, with and without the kernel filter: the filter must cut
// what reaches userspace to at most 1% and leave the alerts unchanged.
func TestKernelFilterEffect(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "falco")
	if _, err := os.Stat(filepath.Join(dir, "falco_rules.yaml")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("upstream rule files missing in CI: %v", err)
		}
		t.Skipf("upstream rule files not found: %v", err)
	}
	requireRoot(t)
	machinelock.Hold(t)
	res := falcocompat.LoadPaths(filepath.Join(dir, "falco_rules.yaml"))
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	opens, execs := effectOpens(), 10
	type outcome struct {
		sent, filtered uint64
		alerts         []string
	}
	// Both runs use the same directory, so that their alerts compare.
	tmp := filepath.Join(t.TempDir(), "load")
	measure := func(noFilter bool) outcome {
		os.RemoveAll(tmp)
		if err := os.Mkdir(tmp, 0o755); err != nil {
			t.Fatal(err)
		}
		le := startLive(t, res.Ruleset, runtime.LiveOptions{NoKernelFilter: noFilter, RingBufferSize: 64 << 20})
		run(t, helper("benign-load", strconv.Itoa(opens), strconv.Itoa(execs), tmp))
		// The sensitive actions, each in a process of its own.
		run(t, exec.Command("cat", "/etc/shadow"))
		run(t, exec.Command("ln", "-s", "/etc/shadow", filepath.Join(tmp, "link")))
		run(t, exec.Command("ln", "/etc/shadow", filepath.Join(tmp, "hardlink")))
		le.wait(t, "the symlink", func(a runtime.Alert) bool { return a.Rule.Name == "Create Symlink Over Sensitive Files" })
		le.wait(t, "the hardlink", func(a runtime.Alert) bool { return a.Rule.Name == "Create Hardlink Over Sensitive Files" })
		le.wait(t, "the shadow read", func(a runtime.Alert) bool {
			return a.Rule.Name == "Read sensitive file untrusted" && field(a, "proc.name") == "cat"
		})
		time.Sleep(200 * time.Millisecond)
		m, err := le.live.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		le.stop()
		var o outcome
		// What the kernel shipped, lost or not: the cost the filter saves.
		o.sent, o.filtered = m.Kernel.EventsSent+m.Kernel.EventsLost, m.Kernel.EventsFiltered
		for _, a := range le.alerts {
			// The actions of this test, by what they are, not by when.
			if field(a, "proc.name") == "cat" || field(a, "proc.name") == "ln" {
				o.alerts = append(o.alerts, a.Rule.Name+" "+field(a, "proc.cmdline"))
			}
		}
		sort.Strings(o.alerts)
		return o
	}
	off := measure(true)
	on := measure(false)
	ratio := float64(on.sent) / float64(off.sent)
	t.Logf("benign load: %d opens, %d execs; events sent with the kernel filter: %d (filtered %d), without: %d; ratio %.4f",
		opens, execs, on.sent, on.filtered, off.sent, ratio)
	if off.sent < uint64(opens) {
		t.Errorf("without the filter only %d events were sent for %d opens", off.sent, opens)
	}
	if ratio > 0.01 {
		t.Errorf("the kernel filter sent %.2f%% of the events the syscall-only mode sent, want at most 1%%", 100*ratio)
	}
	if strings.Join(on.alerts, "\n") != strings.Join(off.alerts, "\n") {
		t.Errorf("alerts differ:\nwith the filter:\n%s\nwithout:\n%s", strings.Join(on.alerts, "\n"), strings.Join(off.alerts, "\n"))
	}
}
