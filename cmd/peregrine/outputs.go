package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/output"
	"github.com/peregrine-sec/peregrine/runtime"
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

// runOutputs are a run's outputs and how it renders alerts for them.
type runOutputs struct {
	set    *output.Set
	host   string
	format falcocompat.Format
	done   chan struct{}
	// closed are the outputs' final counts, once close has run.
	closed []output.Stats
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
	format := alertFormat(v)
	format.JSON = cfg.JSONOutput
	o := &runOutputs{set: set, host: host, format: format, done: make(chan struct{})}
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
	line, err := renderAlert(o.format, o.host, a)
	if err != nil {
		return fmt.Errorf("rendering an alert of %q: %w", a.Rule.Name, err)
	}
	al.Line = string(line)
	if o.format.JSON {
		al.JSON = line
	}
	o.set.Send(al)
	return nil
}

// close drains the outputs for up to within (once: a second call returns
// the first one's counts) (run gives outputsDrain)
// and writes a line for each output that lost alerts.
func (o *runOutputs) close(stderr io.Writer, within time.Duration) []output.Stats {
	if o.closed != nil {
		return o.closed
	}
	close(o.done)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	stats, _ := o.set.Close(ctx)
	o.closed = stats
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
	return stats
}
