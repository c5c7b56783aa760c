package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/runtime"
)

// explainCost is `explain --cost TRACE`'s JSON document.
type explainCost struct {
	Trace  string             `json:"trace"`
	Events uint64             `json:"events"`
	Rules  []runtime.RuleCost `json:"rules"`
}

// runExplainCost evaluates the recorded events of path (run --record's
// replay format) with plan and prints what each rule would cost.
func runExplainCost(out io.Writer, plan *compiler.Plan, path string, asJSON bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	costs, n, err := runtime.CostOf(plan, runtime.MatchFirst, runtime.ReplaySource(path, f))
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(explainCost{Trace: path, Events: n, Rules: costs})
	}
	fmt.Fprintf(out, "%d events in %s; userspace time measured per rule, the kernel filter emulated\n\n", n, path)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "EVENTS\tKERNEL PASSED\tKERNEL DROPPED\tEVALS\tMATCHES\tUSER µs\tns/EVAL\t  STAGE  RULE")
	for _, c := range costs {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%.1f\t%.0f\t  %-6s %s\n", c.Events, c.KernelPassed, c.KernelDropped, c.Evaluations, c.Matches,
			float64(c.UserspaceNs)/1e3, c.NsPerEvaluation, c.Stage, c.Rule)
	}
	return tw.Flush()
}
