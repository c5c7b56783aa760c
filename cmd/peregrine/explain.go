package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/peregrine-sec/peregrine/bpf"
	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// explainRule is one rule in explain's JSON output. The keys are part of
// the CLI contract (see the README).
type explainRule struct {
	Name       string           `json:"name"`
	EventTypes []string         `json:"event_types"`
	Kernel     []explainSyscall `json:"kernel"`
	Residual   string           `json:"residual"`
	// KernelDecided is true when, for every syscall, the kernel predicate
	// is the whole condition.
	KernelDecided bool `json:"kernel_decided"`
	// ContainerMetadata names the fields from the container runtime the
	// rule reads (absent when none): an alert of a container not yet
	// looked up waits for them, for at most run's --container-deadline.
	ContainerMetadata *policy.MetadataNeeds `json:"container_metadata,omitempty"`
}

type explainSyscall struct {
	Syscall    string   `json:"syscall"`
	Class      int      `json:"class"`
	Predicate  string   `json:"predicate"`
	Dimensions []string `json:"dimensions"`
	Exact      bool     `json:"exact"`
}

// explainOutput is explain's JSON document.
type explainOutput struct {
	Rules   []explainRule  `json:"rules"`
	Summary explainSummary `json:"summary"`
}

type explainSummary struct {
	Rules      int                   `json:"rules"`
	Classes    int                   `json:"classes"`
	Syscalls   []string              `json:"syscalls"`
	Dimensions map[string]int        `json:"dimensions"`
	MapEntries map[string]int        `json:"map_entries"`
	Passes     []compiler.PassTiming `json:"passes"`
	Warnings   []string              `json:"warnings"`
	Watch      *explainWatch         `json:"watch,omitempty"`
}

// explainWatch is how run would attach on this machine: the mode, why,
// and the captured syscalls the kernel has no tracepoint for.
type explainWatch struct {
	Mode          string   `json:"mode"`
	Why           string   `json:"why"`
	Untraced      []string `json:"untraced,omitempty"`
	UntracedError string   `json:"untraced_error,omitempty"`
}

// watchOf says how run would watch syscalls on this machine.
func watchOf(syscalls []string) *explainWatch {
	mode, why := bpf.DefaultMode()
	w := &explainWatch{Mode: string(mode), Why: why}
	if mode == bpf.AttachTracepoints {
		untraced, err := bpf.Untraced(syscalls)
		if err != nil {
			w.UntracedError = err.Error()
		}
		w.Untraced = untraced
		if len(untraced) > 0 {
			w.Why += "; the kernel has no tracepoint for " + strings.Join(untraced, ", ") +
				", captured through the raw tracepoints, which every syscall then pays"
		}
	}
	return w
}

func newExplainCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "explain -r PATH... [--rule NAME] [--json]",
		Short: "Show how the rules compile: kernel predicates, classes, what userspace evaluates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := loadRules(v, cmd.ErrOrStderr(), true)
			if err != nil {
				return err
			}
			syscalls := runtime.SyscallsFor(res.Ruleset)
			plan, err := compiler.Compile(res.Ruleset, compiler.Options{Syscalls: syscalls, NoKernelFilter: v.GetBool("no-kernel-filter")})
			if err != nil {
				return err
			}
			if trace := v.GetString("cost"); trace != "" {
				return runExplainCost(cmd.OutOrStdout(), plan, trace, v.GetBool("json"))
			}
			out := buildExplain(plan, syscalls, v.GetString("rule"))
			out.Summary.Watch = watchOf(syscalls)
			if v.GetString("rule") != "" && len(out.Rules) == 0 {
				return fmt.Errorf("no enabled rule named %q", v.GetString("rule"))
			}
			if v.GetBool("json") {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			printExplain(cmd.OutOrStdout(), out)
			return nil
		},
	}
	addRulesFlag(cmd)
	cmd.Flags().String("rule", "", "explain only this rule")
	cmd.Flags().Bool("json", false, "print as JSON")
	cmd.Flags().Bool("no-kernel-filter", false, "compile as run --no-kernel-filter does")
	cmd.Flags().String("cost", "", "evaluate the events of this recorded trace (run --record; record with --no-kernel-filter to keep every event) and show what each rule would cost and how many events the kernel filter would drop for it")
	return cmd
}

func buildExplain(plan *compiler.Plan, syscalls []string, only string) explainOutput {
	var out explainOutput
	s := explainSummary{
		Rules: len(plan.Rules), Classes: len(plan.Classes), Syscalls: syscalls,
		Dimensions: map[string]int{}, MapEntries: plan.Encoding.MapEntries(),
		Passes: plan.Passes, Warnings: append([]string{}, plan.Warnings...),
	}
	for _, cl := range plan.Classes {
		for d := compiler.Dim(0); d < compiler.NumDims; d++ {
			if !cl.Pred.Wildcard(d) {
				s.Dimensions[d.String()]++
			}
		}
	}
	for i, r := range plan.Rules {
		if only != "" && r.Name != only {
			continue
		}
		er := explainRule{Name: r.Name, EventTypes: r.EventTypes, Residual: r.Condition.String(), KernelDecided: len(plan.Preds[i]) > 0}
		for _, sp := range plan.Preds[i] {
			var dims []string
			for d := compiler.Dim(0); d < compiler.NumDims; d++ {
				if !sp.Pred.Wildcard(d) {
					dims = append(dims, d.String())
				}
			}
			er.Kernel = append(er.Kernel, explainSyscall{Syscall: sp.Syscall, Class: sp.Class, Predicate: sp.Pred.String(), Dimensions: dims, Exact: sp.Exact})
			er.KernelDecided = er.KernelDecided && sp.Exact
		}
		if er.KernelDecided {
			er.Residual = "true"
		}
		if nd := policy.NeedsMetadata(r); nd.Any() {
			er.ContainerMetadata = &nd
		}
		out.Rules = append(out.Rules, er)
	}
	if s.Warnings == nil {
		s.Warnings = []string{}
	}
	out.Summary = s
	return out
}

func printExplain(w io.Writer, out explainOutput) {
	s := out.Summary
	for _, r := range out.Rules {
		fmt.Fprintf(w, "rule %q\n  event types: %s\n", r.Name, strings.Join(r.EventTypes, ","))
		for _, k := range r.Kernel {
			exact := ""
			if k.Exact {
				exact = " (exact)"
			}
			fmt.Fprintf(w, "  kernel %-10s class %-3d %s%s\n", k.Syscall, k.Class, k.Predicate, exact)
		}
		if r.KernelDecided {
			fmt.Fprintf(w, "  decided in the kernel\n")
		} else {
			fmt.Fprintf(w, "  userspace: %s\n", r.Residual)
		}
		if m := r.ContainerMetadata; m != nil {
			var parts []string
			if len(m.Condition) > 0 {
				parts = append(parts, "condition reads "+strings.Join(m.Condition, ","))
			}
			if m.Residual {
				parts = append(parts, "its Rego residual may read any")
			}
			if len(m.Output) > 0 {
				parts = append(parts, "output reads "+strings.Join(m.Output, ","))
			}
			when := "its alerts wait for a container's lookup"
			if m.InCondition() {
				when = "decided once a container's lookup is done"
			}
			fmt.Fprintf(w, "  container metadata: %s (%s, at most --container-deadline)\n", strings.Join(parts, "; "), when)
		}
	}
	fmt.Fprintf(w, "\n%d rules, %d classes, %d syscalls captured\n", s.Rules, s.Classes, len(s.Syscalls))
	if s.Watch != nil {
		fmt.Fprintf(w, "watched through %s: %s\n", s.Watch.Mode, s.Watch.Why)
	}
	dims := make([]string, 0, len(s.Dimensions))
	for d, n := range s.Dimensions {
		dims = append(dims, fmt.Sprintf("%s:%d", d, n))
	}
	sort.Strings(dims)
	fmt.Fprintf(w, "dimensions used (classes): %s\n", strings.Join(dims, " "))
	fmt.Fprintf(w, "map entries: %v\n", s.MapEntries)
	for _, p := range s.Passes {
		fmt.Fprintf(w, "pass %-24s %v\n", p.Name, p.Duration)
	}
	for _, wr := range s.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wr)
	}
}
