package ruletest

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/util/channel"
)

// RunOPA runs the OPA unit tests (rules named test_*, todo_test_* being
// skipped) of the Rego files, compiled together as opa test compiles them,
// in Rego v1. Only the files named are loaded, never data files next to
// them. A load or compile error is one ERROR result.
func RunOPA(ctx context.Context, opts Options, files ...string) []*Result {
	start := time.Now()
	fail := func(err error) []*Result {
		return []*Result{{Kind: KindOPA, File: strings.Join(files, ","), Name: "(load)", Status: StatusError,
			Load: true, Duration: time.Since(start), Message: err.Error()}}
	}
	modules, store, err := tester.LoadWithParserOptions(files, nil,
		ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
	if err != nil {
		return fail(err)
	}
	runner := tester.NewRunner().SetStore(store).CapturePrintOutput(true).SetDefaultRegoVersion(ast.RegoV1)
	if opts.Timeout > 0 {
		runner = runner.SetTimeout(opts.Timeout)
	}
	ch, err := runner.SetModules(modules).RunTests(ctx, nil)
	if err != nil {
		return fail(err)
	}
	results := channel.Collect(ch)
	// The runner runs tests in parallel: report them in file order.
	sort.SliceStable(results, func(i, j int) bool {
		a, b := results[i].Location, results[j].Location
		if a == nil || b == nil {
			return a != nil
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Row < b.Row
	})
	out := make([]*Result, 0, len(results))
	for _, r := range results {
		out = append(out, opaResult(r))
	}
	return out
}

func opaResult(r *tester.Result) *Result {
	res := &Result{Kind: KindOPA, Name: r.Package + "." + r.Name, Duration: r.Duration}
	if r.Location != nil {
		res.File, res.Line = r.Location.File, r.Location.Row
	}
	var msg bytes.Buffer
	switch {
	case r.Skip:
		res.Status = StatusSkip
	case r.Error != nil:
		res.Status = StatusError
		msg.WriteString(r.Error.Error())
	case r.Fail:
		res.Status = StatusFail
		if r.FailedAt != nil {
			fmt.Fprintf(&msg, "failed at: %s", r.FailedAt)
			if l := r.FailedAt.Location; l != nil {
				fmt.Fprintf(&msg, " (%s:%d)", l.File, l.Row)
			}
		} else {
			msg.WriteString("the test rule is undefined or false")
		}
		if sub := strings.TrimRight(r.SubResults.String(), "\n"); sub != "" {
			msg.WriteString("\n" + sub)
		}
	default:
		res.Status = StatusPass
	}
	if res.Status != StatusPass && len(r.Output) > 0 {
		if msg.Len() > 0 {
			msg.WriteString("\n")
		}
		msg.WriteString("output:\n" + strings.TrimRight(string(r.Output), "\n"))
	}
	res.Message = msg.String()
	return res
}
