package ruletest

import (
	"slices"
	"testing"
)

// TestExitCode: the exit status of a run is opa test's: 1 when a file does
// not load (whatever else happened), else 2 when a test fails, errs or is
// skipped (0 for skipped ones with exitZeroOnSkipped), else 0.
func TestExitCode(t *testing.T) {
	pass := &Result{Status: StatusPass}
	fail := &Result{Status: StatusFail}
	errs := &Result{Status: StatusError}
	skip := &Result{Status: StatusSkip}
	load := &Result{Status: StatusError, Load: true}
	tests := []struct {
		name    string
		results []*Result
		zero    bool
		want    int
	}{
		{"none", nil, false, ExitOK},
		{"pass", []*Result{pass, pass}, false, ExitOK},
		{"fail", []*Result{pass, fail}, false, ExitFailures},
		{"error", []*Result{errs, pass}, false, ExitFailures},
		{"skip", []*Result{pass, skip}, false, ExitFailures},
		{"skip with -z", []*Result{pass, skip}, true, ExitOK},
		{"fail and skip with -z", []*Result{skip, fail}, true, ExitFailures},
		{"load", []*Result{load}, false, ExitLoad},
		{"load after a failure", []*Result{fail, load, pass}, false, ExitLoad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{}
			r.add(tc.results...)
			if got := r.ExitCode(tc.zero); got != tc.want {
				t.Errorf("exit %d, want %d", got, tc.want)
			}
		})
	}
}

// TestCaseLines: each case knows the line it starts at, in block and
// flow sequences.
func TestCaseLines(t *testing.T) {
	tests := []struct {
		name, src string
		want      []int
	}{
		{"block", "rules: [r.yaml]\ncases:\n  - name: a\n    event: {evt.type: open}\n\n  - name: b\n    event: {evt.type: open}\n", []int{3, 6}},
		{"flow", "rules: [r.yaml]\ncases: [{name: a, event: {evt.type: open}},\n  {name: b, event: {evt.type: open}}]\n", []int{2, 3}},
		{"cases first", "cases:\n- event: {evt.type: open}\n  name: a\nrules: [r.yaml]\n", []int{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFile("t_test.yaml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, c := range f.Cases {
				got = append(got, c.Line)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("lines %v, want %v", got, tc.want)
			}
		})
	}
}
