package bpf

import (
	"fmt"
	"github.com/peregrine-sec/peregrine/internal/privtest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/peregrine-sec/peregrine/internal/privileges"
)

// loadOnce loads and attaches the capture for openat in mode, and closes
// it: what TestLoadCapabilities runs under setpriv. It prints the error
// and returns 3 when the kernel refuses.
func loadOnce(mode AttachMode) int {
	p, err := Load(Options{Syscalls: []string{"openat"}, Mode: mode})
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		return 3
	}
	if err := p.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		return 3
	}
	fmt.Println("loaded")
	return 0
}

// TestLoadCapabilities loads and attaches the capture, with no check of
// Peregrine's own in the way, in a process holding exactly a set of
// capabilities (setpriv: bounding, inheritable, ambient and effective
// sets), as root and as nobody, and checks what the kernel allows: CAP_BPF
// and CAP_PERFMON are enough for the raw tracepoints and neither is enough
// alone; the per-syscall tracepoints, as nobody, also need
// CAP_DAC_READ_SEARCH to find tracefs (mode 0700).
func TestLoadCapabilities(t *testing.T) {
	requireRoot(t)
	setpriv := privtest.Setpriv(t)
	dir, bin := privtest.PublicCopy(t, "bpf.test")
	_, tracefsErr := os.Stat(TracefsDir + "/events")

	all := privileges.Names(privileges.Agent)
	without := func(drop ...string) []string {
		var out []string
		for _, c := range all {
			if !strings.Contains(" "+strings.Join(drop, " ")+" ", " "+c+" ") {
				out = append(out, c)
			}
		}
		return out
	}
	for _, c := range []struct {
		name string
		uid  int
		mode AttachMode
		caps []string
		ok   bool
	}{
		{"root/raw/all", 0, AttachRawTracepoints, all, true},
		{"root/raw/bpf_perfmon", 0, AttachRawTracepoints, []string{"CAP_BPF", "CAP_PERFMON"}, true},
		{"root/raw/without_bpf", 0, AttachRawTracepoints, without("CAP_BPF"), false},
		{"root/raw/without_perfmon", 0, AttachRawTracepoints, without("CAP_PERFMON"), false},
		{"nonroot/raw/bpf_perfmon", nobody, AttachRawTracepoints, []string{"CAP_BPF", "CAP_PERFMON"}, true},
		{"nonroot/raw/without_bpf", nobody, AttachRawTracepoints, without("CAP_BPF"), false},
		{"nonroot/raw/without_perfmon", nobody, AttachRawTracepoints, without("CAP_PERFMON"), false},
		{"root/tracepoint/bpf_perfmon", 0, AttachTracepoints, []string{"CAP_BPF", "CAP_PERFMON"}, true},
		{"nonroot/tracepoint/all", nobody, AttachTracepoints, all, true},
		{"nonroot/tracepoint/without_dac_read_search", nobody, AttachTracepoints, without("CAP_DAC_READ_SEARCH"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.mode == AttachTracepoints && tracefsErr != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("tracefs is not mounted on %s (%v): CI's machine mounts it", TracefsDir, tracefsErr)
				}
				t.Skipf("tracefs is not mounted on %s (%v): the per-syscall mode would mount it", TracefsDir, tracefsErr)
			}
			set := "-all"
			for _, name := range c.caps {
				set += ",+" + strings.ToLower(strings.TrimPrefix(name, "CAP_"))
			}
			var args []string
			if c.uid != 0 {
				args = append(args, "--reuid="+strconv.Itoa(c.uid), "--regid="+strconv.Itoa(c.uid), "--clear-groups")
			}
			args = append(args, "--inh-caps="+set, "--ambient-caps="+set, "--bounding-set="+set, "--", bin, "-test.run=^$")
			cmd := exec.Command(setpriv, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PEREGRINE_LOAD_MODE="+string(c.mode))
			out, err := cmd.CombinedOutput()
			loaded := err == nil && strings.Contains(string(out), "loaded")
			if loaded != c.ok {
				t.Errorf("with %v as uid %d (%s): loaded=%v, want %v: %v\n%s", c.caps, c.uid, c.mode, loaded, c.ok, err, out)
			}
			if !c.ok && !strings.Contains(string(out), "not permitted") && !strings.Contains(string(out), "permission denied") {
				t.Errorf("refused, but not by the kernel's permission check: %s", out)
			}
		})
	}
}

// nobody is the unprivileged user TestLoadCapabilities loads as.
const nobody = 65534
