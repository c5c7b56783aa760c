package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/viper"

	"github.com/peregrine-sec/peregrine/loader"
	"github.com/peregrine-sec/peregrine/policy/rego"
)

// loadRules loads the -r paths (the embedded default ruleset when there
// are none and withDefault is set) through the rules loader and prints
// the warnings and errors to stderr; errors exit 1.
//
// The configuration's settings (priority, rules, append_output,
// noise_control) apply to the loaded rules. Files of the configuration's
// rules_files that do not exist are left out with a warning, as Falco
// leaves them out; a -r path that does not exist is an error.
func loadRules(v *viper.Viper, stderr io.Writer, withDefault bool) (*loader.Result, error) {
	settings, err := ruleSettings(v)
	if err != nil {
		return nil, err
	}
	paths := v.GetStringSlice("rules_files")
	if !v.GetBool("rules-from-flag") && len(paths) > 0 {
		var exist []string
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil && p != loader.DefaultPath {
				fmt.Fprintf(stderr, "peregrine: warning: rules_files: %s does not exist: left out\n", p)
				continue
			}
			exist = append(exist, p)
		}
		if len(exist) == 0 {
			return nil, fmt.Errorf("none of the configuration's rules_files exists (%s)", strings.Join(paths, ", "))
		}
		paths = exist
	}
	if len(paths) == 0 && !withDefault {
		return nil, fmt.Errorf("no rules: give -r PATH")
	}
	res := loader.Load(paths, loader.Options{Bundle: bundleOptions(v), Default: withDefault, Settings: settings})
	printLoad(stderr, res)
	if len(res.Errors) > 0 {
		return res, exitError{1}
	}
	return res, nil
}

// printLoad prints a load result's warnings and errors, one a line, each
// followed by its source line and a caret under its column when the
// front end gave the line.
func printLoad(w io.Writer, res *loader.Result) {
	for _, e := range res.Warnings {
		fmt.Fprintln(w, e.Text("warning"))
	}
	for _, e := range res.Errors {
		fmt.Fprintln(w, e.Text("error"))
	}
}

// bundleOptions reads the bundle verification flags.
func bundleOptions(v interface {
	GetString(string) string
	GetBool(string) bool
}) rego.BundleOptions {
	return rego.BundleOptions{
		VerificationKey:  v.GetString("verification-key"),
		KeyID:            v.GetString("verification-key-id"),
		Algorithm:        v.GetString("signing-alg"),
		SkipVerification: v.GetBool("skip-verify"),
	}
}
