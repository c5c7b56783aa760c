package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/loader"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/policy/rego"
	"github.com/peregrine-sec/peregrine/runtime"
	"github.com/peregrine-sec/peregrine/runtime/noise"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

func engineVersion() string { return falcocompat.EngineVersion }

func addRulesFlag(cmd *cobra.Command) {
	cmd.Flags().StringArrayP("rules", "r", nil, "Falco YAML or Rego file, directory, OPA bundle directory or tarball, or @default for the embedded default rules (repeatable, loaded in order; none: @default)")
	cmd.Flags().String("verification-key", "", "PEM public key or HMAC secret (or a file holding it) that OPA bundles' signatures must verify with")
	cmd.Flags().String("verification-key-id", "", "the bundle signing key's id (default: default)")
	cmd.Flags().String("signing-alg", "", "the bundle signing algorithm (default RS256)")
	cmd.Flags().Bool("skip-verify", false, "load signed bundles without checking their signatures")
}

func newValidateCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate [-r PATH...] [--strict] [--json]",
		Short: "Load rule files, report errors and warnings, exit 1 on errors (and on warnings with --strict)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res := loader.Load(v.GetStringSlice("rules_files"), loader.Options{Bundle: bundleOptions(v), Default: true})
			if v.GetBool("strict") {
				// Warnings are reported as the errors they become.
				res.Errors = append(res.Warnings, res.Errors...)
				res.Warnings = nil
			}
			out := cmd.OutOrStdout()
			if v.GetBool("json") {
				report := struct {
					Rules    int                  `json:"rules"`
					Macros   int                  `json:"macros"`
					Lists    int                  `json:"lists"`
					Warnings []*policy.Diagnostic `json:"warnings"`
					Errors   []*policy.Diagnostic `json:"errors"`
				}{res.Rules, res.Macros, res.Lists, nonNil(res.Warnings), nonNil(res.Errors)}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(report); err != nil {
					return err
				}
			} else {
				printLoad(out, res)
				status := "ok"
				if len(res.Errors) > 0 {
					status = "invalid"
				}
				fmt.Fprintf(out, "%s: %d rules, %d macros, %d lists, %d warnings, %d errors\n",
					status, res.Rules, res.Macros, res.Lists, len(res.Warnings), len(res.Errors))
			}
			if len(res.Errors) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	addRulesFlag(cmd)
	cmd.Flags().Bool("json", false, "print the report as JSON")
	cmd.Flags().Bool("strict", false, "treat warnings as errors: report them as errors and exit 1")
	return cmd
}

// readInput reads one JSON document, the input a Rego rule would see, from
// the file name (stdin for -) and returns its event (rego.EventOfInput).
func readInput(stdin io.Reader, name string) (*policy.Event, error) {
	r := stdin
	if name == "-" {
		name = "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: not a JSON document: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: more than one JSON document: --input takes one event (--events takes JSON lines)", name)
	}
	ev, err := rego.EventOfInput(doc, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ev, nil
}

// oneEvent is a pipeline source of the one event ev.
func oneEvent(ev *policy.Event) func(*runtime.Input) error {
	done := false
	return func(in *runtime.Input) error {
		if done {
			return io.EOF
		}
		done = true
		*in = runtime.Input{Event: ev}
		return nil
	}
}

func nonNil(l []*policy.Diagnostic) []*policy.Diagnostic {
	if l == nil {
		return []*policy.Diagnostic{}
	}
	return l
}

func newReplayCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay -r PATH... --events FILE|- | --input FILE|-",
		Short: "Evaluate rules over recorded events (JSON lines) as run would, and print alerts",
		Long: `replay loads the rules as run does and runs every event of the events file
(the replay format, as run --record writes it) through run's pipeline: the
compiled plan, its kernel filter emulated on the event, then the decision
tree. It prints the alerts a live run raises for the same events. A name
that is no field is an error naming the file and line.

With --input, the event is one JSON document shaped as the input a Rego
rule sees ({"proc": {"name": "cat"}, "evt": {"type": "openat"}}, as
opa eval -i takes it; peregrine fields --rego prints its paths).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := loadRules(v, cmd.ErrOrStderr(), false)
			if err != nil {
				return err
			}
			m, err := runtime.ParseMatching(v.GetString("rule-matching"))
			if err != nil {
				return err
			}
			pipe, err := runtime.NewPipeline(res.Ruleset, m)
			if err != nil {
				return err
			}
			name, input := v.GetString("events"), v.GetString("input")
			// The noise stage runs on the events' own times; the
			// dedup windows still open at the end are sent then.
			stage := noise.New(alertPrinter(cmd.OutOrStdout(), alertFormat(v)))
			emit := stage.Alert
			switch {
			case name != "" && input != "":
				return fmt.Errorf("give --events or --input, not both")
			case input != "":
				ev, err := readInput(cmd.InOrStdin(), input)
				if err != nil {
					return err
				}
				return errors.Join(pipe.Run(oneEvent(ev), emit, nil), stage.Close())
			}
			in := cmd.InOrStdin()
			switch name {
			case "":
				return fmt.Errorf("no events: give --events FILE, --events - or --input FILE")
			case "-":
				name = "stdin"
			default:
				f, err := os.Open(name)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			return errors.Join(runtime.Replay(pipe, name, in, emit), stage.Close())
		},
	}
	addRulesFlag(cmd)
	cmd.Flags().String("events", "", "events file in the replay format, or - for stdin")
	cmd.Flags().String("input", "", "one event as a Rego input document (as opa eval -i takes it), or - for stdin")
	cmd.Flags().Bool("json", false, "print alerts in Falco's JSON format")
	cmd.Flags().String("rule-matching", "first", "first: only the first matching rule alerts; all: every matching rule")
	return cmd
}

func newListCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list [-r PATH...]",
		Short: "List the loaded rules with priority, tags and source",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := loadRules(v, cmd.ErrOrStderr(), true)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if v.GetBool("json") {
				type entry struct {
					Name       string   `json:"name"`
					Priority   string   `json:"priority"`
					Source     string   `json:"source"`
					Tags       []string `json:"tags"`
					Enabled    bool     `json:"enabled"`
					EventTypes []string `json:"event_types"`
				}
				var list []entry
				for _, r := range res.Ruleset.Rules {
					list = append(list, entry{r.Name, r.Priority.String(), r.Source, r.Tags, r.Enabled, r.EventTypes})
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			for _, r := range res.Ruleset.Rules {
				state := ""
				if !r.Enabled {
					state = " (disabled)"
				}
				fmt.Fprintf(out, "%-50s %-13s %-8s %s%s\n", r.Name, r.Priority, r.Source, strings.Join(r.Tags, ","), state)
			}
			return nil
		},
	}
	addRulesFlag(cmd)
	cmd.Flags().Bool("json", false, "print the list as JSON")
	return cmd
}

func newFieldsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fields",
		Short: "Print the field catalog: every field a condition or output may use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fields := policy.Fields()
			out := cmd.OutOrStdout()
			if asRego, _ := cmd.Flags().GetBool("rego"); asRego {
				shape := rego.Shape()
				if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					return enc.Encode(shape)
				}
				for _, e := range shape {
					note := ""
					if !e.Translated {
						note = " (evaluated by OPA)"
					}
					fmt.Fprintf(out, "%-45s %s%s\n", e.Path, e.Type, note)
				}
				return nil
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				type entry struct {
					Name string `json:"name"`
					Type string `json:"type"`
					Arg  string `json:"arg,omitempty"`
					List bool   `json:"list,omitempty"`
					Desc string `json:"desc"`
				}
				list := make([]entry, len(fields))
				for i, f := range fields {
					list[i] = entry{f.Name, f.Type.String(), argText(f.Arg), f.List, f.Desc}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			sort.SliceStable(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
			for _, f := range fields {
				name := f.Name
				if a := argText(f.Arg); a != "" {
					name += "[" + a + "]"
				}
				fmt.Fprintf(out, "%-42s %-8s %s\n", name, f.Type, f.Desc)
			}
			return nil
		},
	}
	cmd.Flags().Bool("json", false, "print the catalog as JSON")
	cmd.Flags().Bool("rego", false, "print the input document Rego rules see (input.a.b for field a.b)")
	return cmd
}

func argText(a policy.ArgKind) string {
	switch a {
	case policy.ArgIndexOptional:
		return "index, optional"
	case policy.ArgKeyOptional:
		return "key, optional"
	case policy.ArgKeyRequired:
		return "key"
	case policy.ArgIndexOrKey:
		return "index or name"
	}
	return ""
}
