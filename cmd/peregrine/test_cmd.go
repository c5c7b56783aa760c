package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/peregrine-sec/peregrine/ruletest"
)

// newTestCmd is `peregrine test`: it runs the OPA unit tests of the Rego
// files and the Peregrine test files (*_test.yaml) found in the paths, as
// package ruletest describes, and exits 1 when any test fails.
func newTestCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "test PATH... [-v] [--json]",
		Short: "Run rule tests: OPA unit tests in .rego files and Peregrine test files (*_test.yaml)",
		Long: `Run rule tests found in files or directories (searched recursively):

  *.rego        OPA unit tests (rules named test_*), run as opa test runs them
  *_test.yaml   Peregrine test files: rule paths to load (as -r loads them:
                Falco YAML, Rego, OPA bundles) and cases, each an event in
                the replay format and the alerts it must raise

Every case goes through the pipeline replay and run evaluate with (the
compiled plan: emulated kernel filter and decision tree); it fails when the
alerts differ from the expected ones or from the reference evaluator's. The summary reads PASS: n/m; the exit status
is 1 when a test fails or a file does not load.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := ruletest.Run(cmd.Context(), ruletest.Options{Timeout: v.GetDuration("timeout")}, args...)
			if err != nil {
				return err
			}
			if v.GetBool("json") {
				if err := rep.WriteJSON(cmd.OutOrStdout()); err != nil {
					return err
				}
			} else {
				rep.WriteText(cmd.OutOrStdout(), v.GetBool("verbose"))
			}
			if rep.Summary.Total == 0 {
				cmd.PrintErrln("peregrine: no tests found in", args)
				return exitError{1}
			}
			if !rep.OK() {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().BoolP("verbose", "v", false, "print every test, not only the failing ones")
	cmd.Flags().Bool("json", false, "print a JSON report")
	cmd.Flags().Duration("timeout", 0, "time limit of each OPA test (default: OPA's)")
	return cmd
}
