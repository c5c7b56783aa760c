package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/peregrine-sec/peregrine/ruletest"
)

// newTestCmd is `peregrine test`: it runs the OPA unit tests of the Rego
// files and the Peregrine test files (*_test.yaml) found in the paths, as
// package ruletest describes, and exits as opa test does: 1 when a file
// does not load, 2 when a test fails (Report.ExitCode).
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
alerts differ from the expected ones or from the reference evaluator's.
Each test that does not pass is printed after its file:line; the summary
reads PASS: n/m. As for opa test, the exit status is 1 when a file does
not load or compile (or no test is found), 2 when a test fails, errs or
is skipped (skipped ones exit 0 with -z), and 0 otherwise.`,
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
			if code := rep.ExitCode(v.GetBool("exit-zero-on-skipped")); code != ruletest.ExitOK {
				return exitError{code}
			}
			return nil
		},
	}
	cmd.Flags().BoolP("verbose", "v", false, "print every test, not only the failing ones")
	cmd.Flags().BoolP("exit-zero-on-skipped", "z", false, "skipped tests do not make the exit status 2")
	cmd.Flags().Bool("json", false, "print a JSON report")
	cmd.Flags().Duration("timeout", 0, "time limit of each OPA test (default: OPA's)")
	return cmd
}
