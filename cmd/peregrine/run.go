package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/peregrine-sec/peregrine/bpf"
	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/internal/privileges"
	"github.com/peregrine-sec/peregrine/loader"
	"github.com/peregrine-sec/peregrine/output"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/policy/rego"
	"github.com/peregrine-sec/peregrine/runtime"
	"github.com/peregrine-sec/peregrine/runtime/noise"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

func newRunCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run [-r PATH...]",
		Short: "Capture syscalls with eBPF and print alerts until SIGINT or SIGTERM",
		Long: `run loads the rules (the embedded default ruleset when no -r is given),
attaches Peregrine's eBPF capture program for the syscalls the rules need,
and prints an alert for every event a rule matches, until SIGINT or SIGTERM.
SIGHUP reloads the rules; a rules file that does not load is reported and
the running rules stay. It needs root, or CAP_BPF and CAP_PERFMON (and
CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH for the details of processes
started before it), and a kernel with BTF.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if v.GetBool("list") || v.GetBool("dry-run") {
				return runWithoutCapture(v, cmd)
			}
			privWarnings, err := checkPrivileges()
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "peregrine run:", err)
				return exitError{1}
			}
			for _, w := range privWarnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "peregrine: warning:", w)
			}
			tel, err := startTelemetry(cmd.Context(), v, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer tel.close(cmd.ErrOrStderr())
			res, err := tel.loadRules(v, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			m, err := runtime.ParseMatching(v.GetString("rule-matching"))
			if err != nil {
				return err
			}
			outs, err := startOutputs(v, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer outs.close(cmd.ErrOrStderr(), outputsDrain)
			opts := runtime.LiveOptions{Ruleset: res.Ruleset, Matching: m,
				RingBufferSize: v.GetInt("ring-buffer-size"), Mode: bpf.AttachMode(v.GetString("attach-mode")),
				NoKernelFilter: v.GetBool("no-kernel-filter")}
			if path := v.GetString("record"); path != "" {
				f, err := os.Create(path)
				if err != nil {
					return err
				}
				defer f.Close()
				opts.Record = f
			}
			// SIGHUP reloads from now on: its default action would end
			// the engine.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			stderr, err := newLogWriter(v, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			containers, err := containerResolver(v, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if containers != nil {
				defer func() {
					if err := containers.Close(); err != nil {
						fmt.Fprintln(cmd.ErrOrStderr(), "peregrine: closing the container runtime clients:", err)
					}
				}()
				opts.Containers = containers
				opts.ContainerDeadline = v.GetDuration("container-deadline")
			}
			live, err := runtime.StartLive(opts)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "peregrine run:", err)
				return exitError{1}
			}
			if err := tel.attach(live, stderr); err != nil {
				return errors.Join(err, live.Close())
			}
			fmt.Fprintf(stderr, "peregrine: %d rules, capturing %d syscalls (%s) through %s\n",
				len(res.Ruleset.Enabled()), len(live.Syscalls()), strings.Join(live.Syscalls(), ","), live.Mode())
			if raw := live.RawSyscalls(); len(raw) > 0 {
				fmt.Fprintf(stderr, "peregrine: no tracepoint for %s on this kernel: captured through raw tracepoints, which every syscall pays for\n", strings.Join(raw, ","))
			}
			for _, w := range live.Blind() {
				fmt.Fprintln(stderr, "peregrine: warning:", w)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			settings, _ := ruleSettings(v) // loadRules read them without error
			running := &runningRules{live: live, rules: loader.NewRunning(res).WithSettings(settings)}
			rl := &reloader{cmd: cmd, running: running, stderr: stderr}
			rl.start(ctx, hup, v)
			if url := v.GetString("bundle-url"); url != "" {
				go pollBundle(ctx, v, url, running, stderr)
			}
			var tally alertTally
			stage := noise.New(func(a runtime.Alert) error {
				tally.add(a.Rule)
				return outs.emit(a)
			})
			emit := stage.Alert
			tel.wire(outs.set.Stats, stage.Counts)
			go tickNoise(ctx, stage, stderr)
			// "stopping" as the signal comes, or once Run returns for it.
			var stopping sync.Once
			sayStopping := func() { stopping.Do(func() { fmt.Fprintln(stderr, "peregrine: stopping") }) }
			ran := make(chan struct{})
			go func() {
				select {
				case <-ctx.Done():
					sayStopping()
				case <-ran:
				}
			}()
			runErr := live.Run(ctx, emit, func(err error) { fmt.Fprintln(stderr, "peregrine:", err) })
			close(ran)
			if err := stage.Close(); err != nil {
				fmt.Fprintln(stderr, "peregrine:", err)
			}
			if ctx.Err() != nil {
				sayStopping()
			}
			outStats := outs.close(cmd.ErrOrStderr(), outputsDrain)
			metrics, merr := live.Metrics()
			if merr == nil {
				printRunSummary(stderr, metrics, &tally, stage.Counts())
				if ok, refused := rl.applied.Load(), rl.refused.Load(); ok+refused > 0 {
					fmt.Fprintf(stderr, "peregrine: reloads %d applied, %d refused\n", ok, refused)
				}
			}
			if err := live.Close(); err != nil {
				fmt.Fprintln(stderr, "peregrine: closing the capture:", err)
			}
			if runErr != nil {
				return runErr
			}
			if merr != nil {
				return merr
			}
			if metrics.Kernel.EventsLost > 0 {
				fmt.Fprintf(stderr, "peregrine: %d events lost to a full ring buffer (raise --ring-buffer-size)\n", metrics.Kernel.EventsLost)
			}
			if metrics.Kernel.EventsUnsaved > 0 {
				fmt.Fprintf(stderr, "peregrine: %d syscalls unrecorded: the kernel had no task storage for their arguments\n", metrics.Kernel.EventsUnsaved)
			}
			if path := v.GetString("metrics-file"); path != "" {
				return writeMetrics(path, metrics, outStats, stage.Counts())
			}
			return nil
		},
	}
	addRulesFlag(cmd)
	addTelemetryFlags(cmd)
	cmd.Flags().Bool("json", false, "print alerts in Falco's JSON format")
	cmd.Flags().StringArray("container-socket", nil, "a container runtime's API socket, as KIND:PATH (docker, podman, containerd, cri-o) or a path whose name says the kind (repeatable); none: no container metadata; default: the runtimes' usual sockets that exist")
	cmd.Flags().Duration("container-deadline", runtime.DefaultContainerDeadline, "how long an alert whose rule needs container metadata waits for a lookup under way, before it goes out with those fields empty")
	cmd.Flags().String("metrics-file", "", "write the final counters as JSON to this file on exit")
	cmd.Flags().String("record", "", "write every event that reached userspace to this file, in the replay format")
	cmd.Flags().Int("ring-buffer-size", 8<<20, "kernel ring buffer size in bytes (a power of two)")
	cmd.Flags().String("attach-mode", "", "tracepoint or raw_tracepoint; empty picks raw_tracepoint where the kernel runs 32-bit code (only raw tracepoints see those syscalls), else tracepoint")
	cmd.Flags().String("rule-matching", "first", "first: only the first matching rule alerts; all: every matching rule")
	cmd.Flags().Bool("no-kernel-filter", false, "filter in the kernel by syscall only, as Falco does (for comparison)")
	cmd.Flags().String("bundle-url", "", "poll this URL for an OPA bundle of Rego rules, run alongside the -r rules; a bundle that fails to download, verify or compile leaves the last good one")
	cmd.Flags().Duration("bundle-poll-interval", time.Minute, "time between bundle polls")
	cmd.Flags().BoolP("list", "L", false, "list the rules run would load, with their descriptions, and exit")
	cmd.Flags().Bool("dry-run", false, "load and compile the rules, say what would be captured, attach nothing, and exit")
	cmd.Flags().BoolP("unbuffered", "U", false, "flush each alert as it is written (buffered_outputs off)")
	return cmd
}

// runWithoutCapture is run -L (the rules with their descriptions) and run
// --dry-run (the rules loaded and compiled as run would, and what it
// would capture, with nothing attached): neither needs root.
func runWithoutCapture(v *viper.Viper, cmd *cobra.Command) error {
	res, err := loadRules(v, cmd.ErrOrStderr(), true)
	if err != nil {
		return err
	}
	if _, err := outputConfig(v); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if v.GetBool("list") {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RULE\tDESCRIPTION")
		for _, r := range res.Ruleset.Enabled() {
			fmt.Fprintf(tw, "%s\t%s\n", r.Name, strings.Join(strings.Fields(r.Desc), " "))
		}
		return tw.Flush()
	}
	syscalls := runtime.SyscallsFor(res.Ruleset)
	if _, err := compiler.Compile(res.Ruleset, compiler.Options{Syscalls: syscalls, NoKernelFilter: v.GetBool("no-kernel-filter")}); err != nil {
		return err
	}
	mode, why := bpf.AttachMode(v.GetString("attach-mode")), "as --attach-mode says"
	if mode == "" {
		mode, why = bpf.DefaultMode()
	}
	fmt.Fprintf(out, "dry run: %d rules compiled; run would capture %d syscalls (%s) through %s: %s; nothing attached\n",
		len(res.Ruleset.Enabled()), len(syscalls), strings.Join(syscalls, ","), mode, why)
	return nil
}

// runningRules are the rules a running engine runs: the composition of
// the -r rules (reloaded on SIGHUP) with the last good bundle's
// (replaced by each new revision), which the loader keeps. Each change
// reloads both parts, so that neither undoes the other.
type runningRules struct {
	mu    sync.Mutex
	live  *runtime.Live
	rules loader.Running
}

// setBase runs base in place of the -r rules. On error the running rules
// stay.
func (r *runningRules) setBase(base *loader.Result, settings loader.Settings) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := r.rules.WithSettings(settings).WithBase(base)
	if err != nil {
		return nil, err
	}
	return r.apply(next)
}

// bundleWarnings renders the load warnings of a composition's bundle,
// which it compiled with the base's Falco lists.
func bundleWarnings(rules loader.Running) []string {
	var out []string
	if b := rules.Bundle(); b != nil {
		for _, w := range b.Warnings {
			out = append(out, w.Text("warning"))
		}
	}
	return out
}

// setBundle runs the bundle's rules in place of the previous bundle's. On
// error the running rules stay.
func (r *runningRules) setBundle(b *rego.Bundle) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := r.rules.WithBundle(b)
	if err != nil {
		return nil, err
	}
	return r.apply(next)
}

func (r *runningRules) apply(next loader.Running) ([]string, error) {
	warnings, err := r.live.Reload(next.Ruleset())
	if err == nil {
		r.rules = next
	}
	return append(bundleWarnings(next), warnings...), err
}

// pollBundle polls an OPA bundle service and runs each new bundle's rules
// after the base rules; failures are reported and the last good rules stay.
func pollBundle(ctx context.Context, v *viper.Viper, url string, running *runningRules, stderr io.Writer) {
	p := &rego.Poller{
		URL: url, Options: bundleOptions(v), Interval: v.GetDuration("bundle-poll-interval"),
		OnUpdate: func(b *rego.Bundle) {
			warnings, err := running.setBundle(b)
			for _, w := range warnings {
				fmt.Fprintln(stderr, "peregrine: bundle:", w)
			}
			if err != nil {
				fmt.Fprintf(stderr, "peregrine: bundle %s (revision %q) not applied, the running rules stay: %v\n", url, b.Revision, err)
				return
			}
			fmt.Fprintf(stderr, "peregrine: bundle %s revision %q: %d rules\n", url, b.Revision, len(b.Rules))
		},
		OnError: func(err error) {
			fmt.Fprintf(stderr, "peregrine: bundle %s: %v (the last good bundle stays)\n", url, err)
		},
	}
	if err := p.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "peregrine: bundle %s: %v\n", url, err)
	}
}

// alertPrinter returns an emit function printing Falco's text or JSON line.
func alertPrinter(out io.Writer, f falcocompat.Format) func(runtime.Alert) error {
	host, _ := os.Hostname()
	return func(a runtime.Alert) error {
		line, err := f.Line(host, a.Rule, a.Event, a.Time, a.Output, a.Suppressed, a.Repeats)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", line)
		return err
	}
}

// tickNoise sends the noise stage's dedup alerts as their windows end.
func tickNoise(ctx context.Context, stage *noise.Stage, stderr io.Writer) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := stage.Tick(now); err != nil {
				fmt.Fprintln(stderr, "peregrine:", err)
			}
		}
	}
}

// alertTally counts a run's alerts by rule and by priority, for the
// summary printed on exit. Only the noise stage's emit adds (one at a
// time).
type alertTally struct {
	byRule     map[string]uint64
	byPriority map[policy.Priority]uint64
	total      uint64
}

func (t *alertTally) add(r *policy.Rule) {
	if t.byRule == nil {
		t.byRule, t.byPriority = map[string]uint64{}, map[policy.Priority]uint64{}
	}
	t.byRule[r.Name]++
	t.byPriority[r.Priority]++
	t.total++
}

// printRunSummary writes what a run saw and raised, as Falco prints its
// statistics on exit: the kernel's counts, the events evaluated, the
// alerts by priority (most severe first) and by rule (most first).
func printRunSummary(w io.Writer, m runtime.Metrics, t *alertTally, held map[string]noise.Counts) {
	k := m.Kernel
	fmt.Fprintf(w, "peregrine: syscalls seen %d (32-bit %d), filtered in the kernel %d (%d by container/host), sent to userspace %d, lost %d, unrecorded %d; events evaluated %d\n",
		k.SyscallsSeen, k.SyscallsSeenIA32, k.EventsFiltered, k.EventsFilteredContainer, k.EventsSent, k.EventsLost, k.EventsUnsaved,
		m.Userspace.EventsEvaluated)
	if c := m.Cgroups; c.Refused > 0 {
		fmt.Fprintf(w, "peregrine: %d sets of cgroups classified for the kernel filter, %d it could not hold (their events were judged in userspace)\n",
			c.Classified, c.Refused)
	}
	fmt.Fprintf(w, "peregrine: alerts %d\n", t.total)
	if c := m.Containers; c.Engines > 0 || c.Lookups > 0 {
		fmt.Fprintf(w, "peregrine: containers looked up %d (found %d, not found %d, errors %d, no engine %d), engines unavailable %d; alerts held for metadata %d, sent without it at the deadline %d\n",
			c.Lookups, c.Found, c.NotFound, c.Errors, c.NoEngine, c.Unavailable, m.AlertsHeld, m.AlertsLate)
	}
	prios := make([]policy.Priority, 0, len(t.byPriority))
	for p := range t.byPriority {
		prios = append(prios, p)
	}
	slices.Sort(prios)
	for _, p := range prios {
		fmt.Fprintf(w, "  %s: %d\n", p, t.byPriority[p])
	}
	rules := make([]string, 0, len(t.byRule))
	for r := range t.byRule {
		rules = append(rules, r)
	}
	slices.SortFunc(rules, func(a, b string) int {
		if c := cmp.Compare(t.byRule[b], t.byRule[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, r := range rules {
		fmt.Fprintf(w, "  %s: %d\n", r, t.byRule[r])
	}
	names := make([]string, 0, len(held))
	for r, c := range held {
		if c.Suppressed()+c.Untracked > 0 {
			names = append(names, r)
		}
	}
	sort.Strings(names)
	for _, r := range names {
		c := held[r]
		fmt.Fprintf(w, "peregrine: %s: %d alerts suppressed (throttle %d, skip_events %d, dedup %d), %d untracked\n",
			r, c.Suppressed(), c.Throttled, c.Skipped, c.Deduped, c.Untracked)
	}
}

// writeMetrics writes the final counters with the names the CLI documents.
func writeMetrics(path string, m runtime.Metrics, outputs []output.Stats, held map[string]noise.Counts) error {
	flat := map[string]uint64{
		"kernel.syscalls_seen":             m.Kernel.SyscallsSeen,
		"kernel.events_sent":               m.Kernel.EventsSent,
		"kernel.events_lost":               m.Kernel.EventsLost,
		"kernel.events_filtered":           m.Kernel.EventsFiltered,
		"kernel.events_filtered_container": m.Kernel.EventsFilteredContainer,
		"cgroups.classified":               m.Cgroups.Classified,
		"cgroups.refused":                  m.Cgroups.Refused,
		"kernel.events_unsaved":            m.Kernel.EventsUnsaved,
		"userspace.events_evaluated":       m.Userspace.EventsEvaluated,
		"userspace.processes_tracked":      uint64(m.Userspace.Processes),
		"alerts":                           m.Alerts,
		"alerts.held":                      m.AlertsHeld,
		"alerts.late":                      m.AlertsLate,
		"containers.lookups":               m.Containers.Lookups,
		"containers.found":                 m.Containers.Found,
		"containers.not_found":             m.Containers.NotFound,
		"containers.errors":                m.Containers.Errors,
		"containers.no_engine":             m.Containers.NoEngine,
		"containers.evicted":               m.Containers.Evicted,
		"containers.engines_unavailable":   m.Containers.Unavailable,
		"containers.lookup_max_ns":         uint64(m.Containers.LookupMax),
	}
	for _, o := range outputs {
		flat["output."+o.Name+".delivered"] = o.Delivered
		flat["output."+o.Name+".dropped"] = o.Dropped
		flat["output."+o.Name+".failed"] = o.Failed
		flat["output."+o.Name+".undelivered"] = o.Undelivered
	}
	for _, c := range held {
		flat["alerts.suppressed"] += c.Suppressed()
		flat["alerts.untracked"] += c.Untracked
	}
	data, err := json.MarshalIndent(flat, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// checkPrivileges says exactly what is missing to load and attach the
// capture: an error for the capabilities without which it cannot start,
// and a warning for each one whose absence leaves fields of the processes
// started before the agent empty (internal/privileges says why each is
// needed).
func checkPrivileges() (warnings []string, err error) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, fmt.Errorf("the kernel exposes no BTF at /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF): %w", err)
	}
	eff, err := privileges.Effective()
	if err != nil {
		return nil, err
	}
	required, optional := privileges.Missing(eff)
	if len(required) > 0 {
		return nil, fmt.Errorf("missing capabilities %s: run as root, or with %s (deploy/ has a systemd unit and a Kubernetes DaemonSet that grant exactly these)",
			strings.Join(privileges.Names(required), ", "), strings.Join(privileges.Names(privileges.Agent), ", "))
	}
	for _, c := range optional {
		warnings = append(warnings, fmt.Sprintf("no %s: cannot %s; those fields are empty in alerts", c.Name, c.Why))
	}
	return warnings, nil
}
