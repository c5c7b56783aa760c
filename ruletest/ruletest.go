// Package ruletest runs rule tests, as `peregrine test` does: OPA unit
// tests (rules named test_*) in Rego files, run with OPA's tester as
// `opa test` runs them, and Peregrine test files, YAML files named
// *_test.yaml that run events through the pipeline of a set of rules and
// check the alerts.
//
// A Peregrine test file:
//
//	rules:                      # rule paths, relative to the test file,
//	  - ../peregrine_rules.yaml # loaded as peregrine -r loads them: Falco
//	  - credential.rego         # YAML, Rego files, directories of both,
//	  - bundle/                 # OPA bundle directories and tarballs
//	rule_matching: all          # first (default) or all
//	cases:
//	  - name: cat reads the shadow file
//	    event:                  # one event in the replay format
//	      evt.type: openat      # (testdata/README.md), as a YAML mapping
//	      fd.name: /etc/shadow  # (or a JSON line: JSON is YAML)
//	    alerts: [Rule A, Rule B] # the rules expected to alert, in load order
//	    outputs: [...]          # optional: their outputs, rendered
//
// The rules load with package loader, as for every command: the Falco
// rules first, in the order listed, then the bundles', then the Rego
// files' (which see the Falco lists as data.falco.lists.NAME). Every case's
// event goes through the pipeline replay and run evaluate with
// (runtime.Pipeline): the compiled plan's kernel filter emulated on the
// event, then the decision tree. The case passes when those alerts are the
// expected ones and the reference evaluator (policy.Evaluator) gives the
// same alerts; a disagreement between the plan and the reference is a
// failure that shows both answers.
package ruletest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/peregrine-sec/peregrine/policy"
)

// Kinds of tests.
const (
	KindOPA       = "opa"
	KindPeregrine = "peregrine"
)

// Outcomes of a test.
const (
	StatusPass  = "PASS"
	StatusFail  = "FAIL"
	StatusError = "ERROR"
	StatusSkip  = "SKIPPED"
)

// Result is the outcome of one test: an OPA test rule or a case of a
// Peregrine test file.
type Result struct {
	Kind string `json:"kind"`
	// File is the file that holds the test, Line the line where it
	// starts (0 when unknown: a file that does not load).
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	// Load is set on the one ERROR result of a file (or of the OPA
	// tests' files) that does not load or compile: none of its tests ran.
	Load bool `json:"load,omitempty"`
	// Name is data.<package>.<rule> for OPA tests, the case's name for
	// Peregrine cases.
	Name     string        `json:"name"`
	Status   string        `json:"status"`
	Duration time.Duration `json:"duration_ns"`
	// Message explains a failure or an error.
	Message string `json:"message,omitempty"`

	// Peregrine cases only.
	Event map[string]any `json:"event,omitempty"`
	// Expected are the expected alerts; Actual what the compiled plan
	// (emulated kernel filter and decision tree) alerts; Reference what the
	// reference evaluator alerts.
	Expected  []string `json:"expected,omitempty"`
	Actual    []string `json:"actual,omitempty"`
	Reference []string `json:"reference,omitempty"`
	// Outputs are the outputs of the Actual alerts, in their order.
	Outputs []string `json:"outputs,omitempty"`
}

// Pass reports whether the test passed.
func (r *Result) Pass() bool { return r.Status == StatusPass }

// Summary counts the results by outcome.
type Summary struct {
	Total int `json:"total"`
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
}

// Report holds the results of a run, OPA tests first, then Peregrine
// cases, each in file order.
type Report struct {
	Results []*Result `json:"results"`
	// Warnings are those of loading the test files' rules, each once.
	Warnings []*policy.Diagnostic `json:"warnings,omitempty"`
	Summary  Summary              `json:"summary"`
	Duration time.Duration        `json:"duration_ns"`
}

// OK reports whether every test passed or was skipped.
func (r *Report) OK() bool { return r.Summary.Fail == 0 && r.Summary.Error == 0 }

// Exit statuses of a run, as opa test's: a file that does not load or
// compile is 1 (opa test then runs nothing); a test that fails, errs or
// is skipped is 2 (skipped ones only without exitZeroOnSkipped, as
// opa test -z).
const (
	ExitOK       = 0
	ExitLoad     = 1
	ExitFailures = 2
)

// ExitCode returns the run's exit status (see ExitLoad, ExitFailures).
func (r *Report) ExitCode(exitZeroOnSkipped bool) int {
	code := ExitOK
	for _, x := range r.Results {
		switch {
		case x.Load:
			return ExitLoad
		case x.Pass(), x.Status == StatusSkip && exitZeroOnSkipped:
		default:
			code = ExitFailures
		}
	}
	return code
}

func (r *Report) add(res ...*Result) {
	for _, x := range res {
		r.Results = append(r.Results, x)
		r.Summary.Total++
		switch x.Status {
		case StatusPass:
			r.Summary.Pass++
		case StatusFail:
			r.Summary.Fail++
		case StatusSkip:
			r.Summary.Skip++
		default:
			r.Summary.Error++
		}
	}
}

// Files are the test inputs found in some paths.
type Files struct {
	// Rego are the .rego files (OPA tests are looked for in all of them).
	Rego []string
	// Tests are the Peregrine test files (*_test.yaml, *_test.yml).
	Tests []string
}

// IsTestFile reports whether name is a Peregrine test file name.
func IsTestFile(name string) bool {
	return strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml")
}

// Find walks the paths: a file is taken as what its name says (a .rego
// file, or a Peregrine test file; any other file given by name is read as
// a Peregrine test file), a directory is searched recursively for *.rego
// and *_test.yaml files. Each file is listed once, in path order.
func Find(paths ...string) (Files, error) {
	var f Files
	seen := map[string]bool{}
	addFile := func(p string, explicit bool) {
		clean := filepath.Clean(p)
		if seen[clean] {
			return
		}
		switch {
		case filepath.Ext(p) == ".rego":
			f.Rego = append(f.Rego, clean)
		case IsTestFile(filepath.Base(p)) || explicit:
			f.Tests = append(f.Tests, clean)
		default:
			return
		}
		seen[clean] = true
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return f, err
		}
		if !st.IsDir() {
			addFile(p, true)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			found = append(found, path)
			return nil
		})
		if err != nil {
			return f, err
		}
		sort.Strings(found)
		for _, x := range found {
			addFile(x, false)
		}
	}
	return f, nil
}

// Options tune a run.
type Options struct {
	// Timeout bounds each OPA test (default: OPA's, 5s).
	Timeout time.Duration
}

// Run finds the tests in paths (see Find) and runs them all. The error is
// for paths that cannot be read; test failures, and files that do not
// load, are failing results in the report.
func Run(ctx context.Context, opts Options, paths ...string) (*Report, error) {
	files, err := Find(paths...)
	if err != nil {
		return nil, err
	}
	return RunFiles(ctx, opts, files), nil
}

// RunFiles runs the OPA tests of files.Rego and the Peregrine test files.
func RunFiles(ctx context.Context, opts Options, files Files) *Report {
	start := time.Now()
	rep := &Report{Results: []*Result{}}
	if len(files.Rego) > 0 {
		rep.add(RunOPA(ctx, opts, files.Rego...)...)
	}
	seen := map[string]bool{}
	for _, t := range files.Tests {
		res, warns := RunFile(t)
		rep.add(res...)
		for _, w := range warns {
			if !seen[w.Error()] {
				seen[w.Error()] = true
				rep.Warnings = append(rep.Warnings, w)
			}
		}
	}
	rep.Duration = time.Since(start)
	return rep
}

// Counts returns the summary lines, as opa test prints them: PASS: n/m,
// then FAIL, ERROR and SKIPPED when there are any.
func (r *Report) Counts() string {
	s := r.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "PASS: %d/%d\n", s.Pass, s.Total)
	if s.Fail > 0 {
		fmt.Fprintf(&b, "FAIL: %d/%d\n", s.Fail, s.Total)
	}
	if s.Error > 0 {
		fmt.Fprintf(&b, "ERROR: %d/%d\n", s.Error, s.Total)
	}
	if s.Skip > 0 {
		fmt.Fprintf(&b, "SKIPPED: %d/%d\n", s.Skip, s.Total)
	}
	return b.String()
}

const rule = "--------------------------------------------------------------------------------"

// WriteText prints the report as opa test does: the load warnings, the
// tests that did not pass with their details (every test with verbose),
// each after its file:line, a blank line between files, then a rule and
// the counts.
func (r *Report) WriteText(w io.Writer, verbose bool) {
	for _, d := range r.Warnings {
		fmt.Fprintln(w, d.Text("warning"))
	}
	file := ""
	shown := 0
	for _, x := range r.Results {
		if !verbose && x.Pass() {
			continue
		}
		if x.File != file && shown > 0 {
			fmt.Fprintln(w)
		}
		if x.Line > 0 {
			fmt.Fprintf(w, "%s:%d:\n", x.File, x.Line)
		} else if x.File != file {
			fmt.Fprintf(w, "%s:\n", x.File)
		}
		file = x.File
		shown++
		if x.Status == StatusSkip {
			fmt.Fprintf(w, "%s: %s\n", x.Name, x.Status)
		} else {
			fmt.Fprintf(w, "%s: %s (%v)\n", x.Name, x.Status, x.Duration)
		}
		if x.Pass() {
			continue
		}
		if x.Message != "" {
			fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(strings.TrimRight(x.Message, "\n"), "\n", "\n  "))
		}
		if x.Kind == KindPeregrine && x.Event != nil {
			ev, _ := json.Marshal(x.Event)
			fmt.Fprintf(w, "  event:     %s\n", ev)
			fmt.Fprintf(w, "  expected:  %s\n", alertList(x.Expected))
			fmt.Fprintf(w, "  actual:    %s\n", alertList(x.Actual))
			fmt.Fprintf(w, "  reference: %s\n", alertList(x.Reference))
		}
	}
	if shown > 0 {
		fmt.Fprintln(w, rule)
	}
	fmt.Fprint(w, r.Counts())
}

func alertList(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
