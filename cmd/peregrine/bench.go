package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/peregrine-sec/peregrine/bench"
)

func newBenchCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure what Peregrine and its peers add to syscalls, side by side",
		Long: `bench runs the overhead harness: a load generator with named workloads
(getppid, open-benign, open-sensitive, exec, connect, mixed) run with no
tool, with bpftrace as the floor (one sys_enter_openat tracepoint with an
in-kernel path comparison, when bpftrace is installed), with Peregrine
(the kernel filter on, and --no-kernel-filter) and with any peer given by
--peer, interleaved over --rounds rounds. It writes a JSON result and an
SVG chart, and prints per workload the time per call, the ratio to no
tool, the tool's CPU and memory, and what the kernel sent to userspace.
It needs root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := benchOptions(v, cmd, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			// Minutes of measurement must not end in an unwritable file.
			out := v.GetString("out")
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			f.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			res, err := bench.Run(ctx, opts)
			if err != nil {
				return err
			}
			if v.GetBool("scaling") {
				if res.Scaling, err = bench.Scaling(ctx, scalingOptions(v, opts)); err != nil {
					return err
				}
			}
			if err := res.WriteFile(out); err != nil {
				return err
			}
			svg := strings.TrimSuffix(out, filepath.Ext(out)) + ".svg"
			if err := os.WriteFile(svg, []byte(res.SVG()), 0o644); err != nil {
				return err
			}
			printSummary(cmd.OutOrStdout(), res)
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s and %s\n", out, svg)
			return nil
		},
	}
	f := cmd.Flags()
	f.Int("rounds", 7, "rounds: every tool runs every workload once per round, the tools rotated")
	f.Bool("quick", false, "3 rounds of a tenth of the calls, for a smoke test (under 2 minutes)")
	f.StringSlice("workloads", nil, "the workloads to run (default all)")
	f.String("out", "bench-result.json", "the JSON result; the chart goes beside it (.svg)")
	f.String("upstream", "", "Falco's rules file: also measure Peregrine with it (and --no-kernel-filter with it)")
	f.StringArray("peer", nil, "NAME=COMMAND: also measure this tool, started by sh -c (a user's Falco)")
	f.StringArray("peer-ready", nil, "NAME=REGEX: the line a peer prints once it watches (default: its first alert on a read of /etc/shadow)")
	f.Bool("no-bpftrace", false, "leave out the bpftrace floor")
	f.Bool("scaling", false, "also measure Peregrine's kernel and userspace cost per event with 10, 100 and 1000 generated rules")
	return cmd
}

// newLoadgenCmd is the load generator the harness runs: hidden.
func newLoadgenCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "loadgen WORKLOAD CALLS",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 {
				return fmt.Errorf("calls %q: want a positive number", args[1])
			}
			ns, err := bench.Generate(args[0], n)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%.2f\n", ns)
			return nil
		},
	}
}

// bpftraceFloor is the floor's script: the one probe a rule on sensitive
// opens needs, with the path compared in the kernel.
const bpftraceFloor = `tracepoint:syscalls:sys_enter_openat /str(args->filename) == "` + bench.SensitiveFile + `"/ { @opens = count(); }` + "\n"

func benchOptions(v *viper.Viper, cmd *cobra.Command, log io.Writer) (bench.Options, error) {
	// Peer commands may hold commas: read as given, not split as viper
	// splits slices.
	peers, _ := cmd.Flags().GetStringArray("peer")
	peerReady, _ := cmd.Flags().GetStringArray("peer-ready")
	self, err := os.Executable()
	if err != nil {
		return bench.Options{}, err
	}
	opts := bench.Options{Rounds: v.GetInt("rounds"), Scale: 1, Loadgen: []string{self, "loadgen"}, Log: log}
	if v.GetBool("quick") {
		opts.Rounds, opts.Scale = 3, 0.1
	}
	if names := v.GetStringSlice("workloads"); len(names) > 0 {
		for _, n := range names {
			w, ok := bench.LookupWorkload(n)
			if !ok {
				return opts, fmt.Errorf("no workload %q", n)
			}
			opts.Workloads = append(opts.Workloads, w)
		}
	} else {
		opts.Workloads = bench.Workloads
	}
	q := bench.ShellQuote
	peregrineReady := regexp.MustCompile(`capturing \d+ syscalls`)
	opts.Tools = []*bench.Tool{{Name: "none"}}
	if path, err := exec.LookPath("bpftrace"); err == nil && !v.GetBool("no-bpftrace") {
		script := filepath.Join(os.TempDir(), "peregrine-bench-floor.bt")
		if err := os.WriteFile(script, []byte(bpftraceFloor), 0o644); err != nil {
			return opts, err
		}
		opts.Tools = append(opts.Tools, &bench.Tool{Name: "bpftrace (floor)", Command: q(path) + " " + q(script),
			Ready: regexp.MustCompile(`Attaching \d+ probe`)})
	}
	opts.Tools = append(opts.Tools, &bench.Tool{Name: "peregrine, default rules", Command: q(self) + " run", Ready: peregrineReady, Peregrine: true})
	rules := ""
	if up := v.GetString("upstream"); up != "" {
		if _, err := os.Stat(up); err != nil {
			return opts, err
		}
		rules = " -r " + q(up)
		opts.Tools = append(opts.Tools, &bench.Tool{Name: "peregrine, stable rules", Command: q(self) + " run" + rules, Ready: peregrineReady, Peregrine: true})
	}
	opts.Tools = append(opts.Tools, &bench.Tool{Name: "peregrine --no-kernel-filter", Command: q(self) + " run --no-kernel-filter" + rules,
		Ready: peregrineReady, Peregrine: true})
	ready := map[string]*regexp.Regexp{}
	for _, pr := range peerReady {
		name, re, ok := strings.Cut(pr, "=")
		if !ok {
			return opts, fmt.Errorf("--peer-ready %q: want NAME=REGEX", pr)
		}
		rx, err := regexp.Compile(re)
		if err != nil {
			return opts, fmt.Errorf("--peer-ready %s: %w", name, err)
		}
		ready[name] = rx
	}
	for _, p := range peers {
		name, command, ok := strings.Cut(p, "=")
		if !ok || name == "" || command == "" {
			return opts, fmt.Errorf("--peer %q: want NAME=COMMAND", p)
		}
		opts.Tools = append(opts.Tools, &bench.Tool{Name: name, Command: command, Ready: ready[name]})
	}
	return opts, nil
}

func scalingOptions(v *viper.Viper, opts bench.Options) bench.ScalingOptions {
	self, _ := os.Executable()
	return bench.ScalingOptions{Peregrine: self, Loadgen: opts.Loadgen, Rounds: opts.Rounds, Scale: opts.Scale, Log: opts.Log}
}

func printSummary(w io.Writer, res *bench.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\ttool\tns/call\tadded\tratio [min-max]\ttool CPU %\tRSS MB\tevents/call\talerts")
	for _, w := range res.Workloads {
		for _, t := range res.Tools {
			s, ok := res.Lookup(t.Name, w.Name)
			if !ok {
				continue
			}
			events := "-"
			if s.EventsPerCall >= 0 {
				events = strconv.FormatFloat(s.EventsPerCall, 'f', 4, 64)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%+.0f\t%.2f [%.2f-%.2f]\t%.1f\t%.0f\t%s\t%.0f\n", w.Name, t.Name, s.NsPerCall, s.AddedNs,
				s.Ratio, s.RatioMin, s.RatioMax, s.CPUPercent, float64(s.RSSBytes)/(1<<20), events, s.Alerts)
		}
	}
	tw.Flush()
	for _, st := range res.Scaling {
		fmt.Fprintf(w, "scaling: %d rules: kernel %.0f ns/event, userspace %.0f ns/event\n", st.Rules, st.KernelNsPerEvent, st.UserNsPerEvent)
	}
}
