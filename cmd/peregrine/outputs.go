package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/output"
	"github.com/peregrine-sec/peregrine/runtime"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// outputsDrain is how long run, stopping, lets the outputs deliver what
// their queues hold.
const outputsDrain = 5 * time.Second

// outputConfig reads the outputs' falco.yaml keys (stdout_output,
// file_output, syslog_output, program_output, http_output,
// buffered_outputs, outputs_queue, json_output) from v, over Falco's
// defaults; --json turns json_output on and -U (--unbuffered) turns
// buffered_outputs off. Its errors name the key at fault.
func outputConfig(v *viper.Viper) (output.Config, error) {
	cfg := output.DefaultConfig()
	if err := v.Unmarshal(&cfg); err != nil {
		return cfg, fmt.Errorf("outputs configuration: %w", err)
	}
	if v.GetBool("json") {
		cfg.JSONOutput = true
	}
	if v.GetBool("unbuffered") {
		cfg.BufferedOutputs = false
	}
	return cfg, cfg.Validate()
}

// setOutputKey applies -o key=value for an outputs key of falco.yaml
// that no flag takes (stdout_output.enabled, http_output.url, ...),
// setting it in v over the configuration file. It reports whether key
// was one; the others go to applyOption.
func setOutputKey(cmd *cobra.Command, v *viper.Viper, o string) bool {
	key, value, ok := cutOption(o)
	if !ok || falcoKeys[key] != "" || cmd.Flags().Lookup(key) != nil || !slices.Contains(output.Keys(), key) {
		return false
	}
	v.Set(key, value)
	return true
}

func cutOption(o string) (key, value string, ok bool) {
	key, value, ok = strings.Cut(o, "=")
	return key, value, ok && key != ""
}

// runOutputs are a run's outputs and how it renders alerts for them.
type runOutputs struct {
	set    *output.Set
	host   string
	asJSON bool
	done   chan struct{}
}

// startOutputs starts the outputs v configures, stdout writing to out
// and delivery errors (rate-limited) reported on stderr; they reopen their
// files on each SIGHUP (which also reloads the rules) until close. Its
// errors are outputConfig's and output.New's.
func startOutputs(v *viper.Viper, out, stderr io.Writer) (*runOutputs, error) {
	cfg, err := outputConfig(v)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	set, err := output.New(cfg, output.Options{Stdout: out, ProgramOutput: stderr, Hostname: host,
		Errorf: func(name string, err error) { fmt.Fprintf(stderr, "peregrine: output %s: %v\n", name, err) }})
	if err != nil {
		return nil, err
	}
	o := &runOutputs{set: set, host: host, asJSON: cfg.JSONOutput, done: make(chan struct{})}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-o.done:
				return
			case <-hup:
				set.Reopen()
			}
		}
	}()
	return o, nil
}

// emit renders a once, as Falco's JSON alert with json_output, else as
// its text line (no output reads the JSON then, and it costs several
// times the text), and queues it for every output; it never blocks.
func (o *runOutputs) emit(a runtime.Alert) error {
	al := &output.Alert{Time: a.Time, Priority: a.Rule.Priority, Rule: a.Rule.Name}
	if o.asJSON {
		js, err := falcocompat.NewAlertJSON(o.host, a.Rule, a.Event, a.Time, a.Output).Marshal()
		if err != nil {
			return fmt.Errorf("rendering an alert of %q: %w", a.Rule.Name, err)
		}
		al.Line, al.JSON = string(js), js
	} else {
		al.Line = falcocompat.TextLine(a.Time, a.Rule.Priority, a.Output)
	}
	o.set.Send(al)
	return nil
}

// close drains the outputs for up to within (run gives outputsDrain)
// and writes a line for each output that lost alerts.
func (o *runOutputs) close(stderr io.Writer, within time.Duration) {
	close(o.done)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	stats, _ := o.set.Close(ctx)
	for _, st := range stats {
		if st.Lost() == 0 && st.Restarts == 0 {
			continue
		}
		fmt.Fprintf(stderr, "peregrine: output %s: delivered %d, not delivered %d (dropped on a full queue %d, failed %d, undelivered at exit %d)",
			st.Name, st.Delivered, st.Lost(), st.Dropped, st.Failed, st.Undelivered)
		if st.Restarts > 0 {
			fmt.Fprintf(stderr, ", program restarted %d times", st.Restarts)
		}
		fmt.Fprintln(stderr)
	}
}
