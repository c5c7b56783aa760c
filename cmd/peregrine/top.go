package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"golang.org/x/sys/unix"

	"github.com/peregrine-sec/peregrine/telemetry"
)

func newTopCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Show a running agent's rules by cost, from its metrics endpoint",
		Long: `top attaches to a running agent's Prometheus endpoint (run --metrics-listen)
and lists its rules by cost, refreshed every --interval: the kernel time of
the events each rule's classes let through (at the capture programs' mean
cost per run, from the kernel's BPF statistics), its userspace evaluation
time, its matches per second and its share of the agent's CPU (the agent
process's time plus its BPF programs').

Keys while it runs: c (cost), k (kernel), u (userspace), m (matches),
e (evaluations), n (name) sort; q quits. --once --json prints one interval
as JSON, for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTop(cmd.Context(), v, cmd.OutOrStdout())
		},
	}
	cmd.Flags().String("agent", "127.0.0.1:9464", "the agent's metrics endpoint: host:port, or the URL of its /metrics")
	cmd.Flags().Duration("interval", 2*time.Second, "time between scrapes (the rates are over it)")
	cmd.Flags().Bool("once", false, "print one interval and exit")
	cmd.Flags().Bool("json", false, "print as JSON (with --once: one object)")
	cmd.Flags().String("sort", "cost", "sort key: "+strings.Join(telemetry.SortKeys, ", "))
	cmd.Flags().Int("limit", 25, "rows shown (0: every rule)")
	return cmd
}

func runTop(ctx context.Context, v *viper.Viper, out io.Writer) error {
	agent, interval, key := v.GetString("agent"), v.GetDuration("interval"), v.GetString("sort")
	if interval <= 0 {
		return fmt.Errorf("--interval %v: want a positive duration", interval)
	}
	if !(&telemetry.Top{}).Sort(key) {
		return fmt.Errorf("--sort %q: want one of %s", key, strings.Join(telemetry.SortKeys, ", "))
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	snap := func() (*telemetry.Snapshot, error) {
		s, err := telemetry.Scrape(ctx, agent)
		if err != nil {
			return nil, fmt.Errorf("agent %s: %w", agent, err)
		}
		return telemetry.NewSnapshot(time.Now(), s), nil
	}
	prev, err := snap()
	if err != nil {
		return err
	}
	keys := make(chan byte, 8)
	live := !v.GetBool("once")
	if live {
		if restore := cbreak(os.Stdin, keys); restore != nil {
			defer restore()
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var last *telemetry.Top
	for {
		select {
		case <-ctx.Done():
			return nil
		case k := <-keys:
			if k == 'q' {
				return nil
			}
			if nk := sortKey(k); nk != "" && last != nil {
				key = nk
				last.Sort(key)
				if err := showTop(out, v, agent, key, last, live); err != nil {
					return err
				}
			}
			continue
		case <-tick.C:
		}
		cur, err := snap()
		if err != nil {
			if !live {
				return err
			}
			fmt.Fprintln(out, "peregrine top:", err)
			continue
		}
		last = telemetry.Compute(prev, cur)
		last.Sort(key)
		prev = cur
		if err := showTop(out, v, agent, key, last, live); err != nil || !live {
			return err
		}
	}
}

func sortKey(k byte) string {
	for _, key := range telemetry.SortKeys {
		if key[0] == k {
			return key
		}
	}
	return ""
}

// showTop prints one view: JSON, or a table (after clearing the screen
// when live).
func showTop(out io.Writer, v *viper.Viper, agent, key string, t *telemetry.Top, live bool) error {
	if n := v.GetInt("limit"); n > 0 && len(t.Rules) > n && !v.GetBool("json") {
		c := *t
		c.Rules = c.Rules[:n]
		t = &c
	}
	if v.GetBool("json") {
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	if live {
		fmt.Fprint(out, "\x1b[H\x1b[2J")
	}
	fmt.Fprintf(out, "peregrine top — %s — every %.0fs, sorted by %s (keys: c k u m e n, q)\n", agent, t.IntervalSeconds, key)
	fmt.Fprintf(out, "agent CPU %.2f%% of a core; kernel %.0f ns/event, %.2f ms/s; events %.0f/s, lost %.0f/s\n\n",
		100*t.ProcessCPUShare, t.KernelNsPerEvent, t.KernelNsPerSec/1e6, t.EventsPerSec, t.LostPerSec)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "CPU%\tKERNEL µs/s\tUSER µs/s\tPASSED/s\tEVALS/s\tMATCHES/s\t  STAGE  RULE")
	for _, r := range t.Rules {
		fmt.Fprintf(tw, "%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t  %-6s %s\n", 100*r.CPUShare, r.KernelNsPerSec/1e3, r.UserNsPerSec/1e3,
			r.PassedPerSec, r.EvaluationsPerSec, r.MatchesPerSec, r.Stage, r.Rule)
	}
	return tw.Flush()
}

// cbreak puts the terminal f in character mode, sending each key read to
// keys, and returns the function restoring it; nil when f is no terminal.
func cbreak(f *os.File, keys chan<- byte) func() {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil
	}
	raw := *old
	raw.Lflag &^= unix.ICANON | unix.ECHO
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil
	}
	go func() {
		b := make([]byte, 1)
		for {
			if n, err := f.Read(b); err != nil || n == 0 {
				return
			}
			keys <- b[0]
		}
	}()
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }
}
