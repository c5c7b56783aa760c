// Command peregrine is Peregrine's command-line interface: it validates,
// lists and replays detection rules written in Falco's rules language.
package main

import (
	"errors"
	"fmt"
	"os"

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
	root.PersistentFlags().StringP("config", "c", "", "configuration file (YAML: Peregrine's peregrine.yaml or Falco's falco.yaml; default /etc/peregrine/peregrine.yaml when it exists)")
	root.PersistentFlags().StringArrayP("option", "o", nil, "set a configuration key, as key=value (repeatable; over the configuration file and the flags): a long flag name, or a configuration key, nested with dots (http_output.url=...)")
	root.Flags().BoolP("version", "V", false, "print the version and exit")
	root.Version = version
	root.SetVersionTemplate(versionLine() + "\n")
	useCleanFlagUsages(root)
	root.AddCommand(newRunCmd(v), newExplainCmd(v), newTestCmd(v), newValidateCmd(v), newReplayCmd(v), newFieldsCmd(), newListCmd(v), newVersionCmd(),
		newBenchCmd(v), newLoadgenCmd(), newConfigCmd(v), newTopCmd(v))
	return root
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
