// Command peregrine is Peregrine's command-line interface: it validates,
// lists and replays detection rules written in Falco's rules language.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// exitError carries an exit status without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	cmd := newRootCmd()
	if err := cmd.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "peregrine:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	v := viper.New()
	root := &cobra.Command{
		Use:           "peregrine",
		Short:         "Runtime security detection with Falco rules and Rego policies",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return loadConfig(v, cmd)
		},
	}
	root.PersistentFlags().StringP("config", "c", "", "configuration file (YAML); keys are the long flag names")
	root.PersistentFlags().StringArrayP("option", "o", nil, "set a configuration key, as key=value (repeatable; over the configuration file); keys are the long flag names, Falco's json_output and the outputs' keys (stdout_output.enabled, http_output.url, ...)")
	root.Flags().BoolP("version", "V", false, "print the version and exit")
	root.Version = version
	root.SetVersionTemplate(versionLine() + "\n")
	useCleanFlagUsages(root)
	root.AddCommand(newRunCmd(v), newExplainCmd(v), newTestCmd(v), newValidateCmd(v), newReplayCmd(v), newFieldsCmd(), newListCmd(v), newVersionCmd(),
		newBenchCmd(v), newLoadgenCmd())
	return root
}

// loadConfig reads the configuration file and PEREGRINE_* environment
// variables, and binds the command's flags so that a flag set on the
// command line wins over both.
func loadConfig(v *viper.Viper, cmd *cobra.Command) error {
	v.SetEnvPrefix("PEREGRINE")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		return err
	}
	if path, _ := cmd.Flags().GetString("config"); path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	overrides, _ := cmd.Flags().GetStringArray("option")
	for _, o := range overrides {
		if setOutputKey(cmd, v, o) {
			continue
		}
		if err := applyOption(cmd, o); err != nil {
			return err
		}
	}
	return nil
}

// falcoKeys are Falco's names for configuration keys that -o takes, where
// they differ from Peregrine's.
var falcoKeys = map[string]string{"json_output": "json"}

// applyOption applies one -o key=value as if the flag named key had been
// given (Falco's key, or the flag's name with "_" for "-"), so that it
// wins over the configuration file and is parsed as the flag parses.
func applyOption(cmd *cobra.Command, o string) error {
	key, value, ok := strings.Cut(o, "=")
	if !ok || key == "" {
		return fmt.Errorf("-o %s: want key=value", o)
	}
	name := falcoKeys[key]
	if name == "" {
		name = strings.ReplaceAll(key, "_", "-")
	}
	f := cmd.Flags().Lookup(name)
	if f == nil || name == "option" || name == "help" {
		return fmt.Errorf("-o %s: %s has no key %q (its keys are its long flag names: peregrine %s --help)", o, cmd.CommandPath(), key, cmd.Name())
	}
	if err := cmd.Flags().Set(name, value); err != nil {
		return fmt.Errorf("-o %s: %w", o, err)
	}
	return nil
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Peregrine's version and the Falco engine version it implements",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine())
		},
	}
}

// versionLine is what version and --version print.
func versionLine() string {
	return fmt.Sprintf("peregrine %s (Falco rules engine %s)", version, engineVersion())
}
