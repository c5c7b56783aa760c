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
	root.PersistentFlags().String("config", "", "configuration file (YAML); keys are the long flag names")
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
	return nil
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Peregrine's version and the Falco engine version it implements",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "peregrine %s (Falco rules engine %s)\n", version, engineVersion())
		},
	}
}
