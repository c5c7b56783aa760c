package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExplainCost runs explain --cost on a recorded trace: a rule's events
// of its types, what its kernel classes pass and drop, its evaluations,
// matches and measured userspace time.
func TestExplainCost(t *testing.T) {
	shadow := `{"evt.type":"openat","proc.name":"cat","fd.name":"/etc/shadow","fd.typechar":"f","fd.num":3,"evt.arg.flags":"O_RDONLY","evt.rawres":3,"proc.aname":["cat","bash","sshd"],"user.uid":0}`
	benign := `{"evt.type":"openat","proc.name":"nginx","fd.name":"/var/www/index.html","user.uid":33,"evt.arg.flags":"O_RDONLY","fd.typechar":"f","fd.num":7,"proc.aname":["nginx","nginx","systemd"],"evt.rawres":7}`
	var b strings.Builder
	for i := 0; i < 200; i++ {
		b.WriteString(shadow + "\n" + benign + "\n" + benign + "\n")
	}
	trace := filepath.Join(t.TempDir(), "trace.jsonl")
	if err := os.WriteFile(trace, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run(t, "", "explain", "--cost", trace, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc explainCost
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if doc.Events != 600 || len(doc.Rules) == 0 {
		t.Fatalf("events %d, %d rules", doc.Events, len(doc.Rules))
	}
	first := doc.Rules[0]
	if first.Rule != "Credential file read by untrusted program" {
		t.Fatalf("most expensive rule %q, want the credential read rule: %s", first.Rule, out)
	}
	if first.Events != 600 || first.KernelPassed != 200 || first.KernelDropped != 400 || first.Evaluations != 200 || first.Matches != 200 ||
		first.UserspaceNs == 0 || first.NsPerEvaluation <= 0 {
		t.Errorf("credential rule's cost %+v", first)
	}
	for _, r := range doc.Rules[1:] {
		if r.Matches != 0 || r.UserspaceNs > first.UserspaceNs {
			t.Errorf("rule %+v", r)
		}
	}
}
