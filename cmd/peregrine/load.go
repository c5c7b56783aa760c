package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/policy/rego"
	"github.com/peregrine-sec/peregrine/runtime"
)

// loadPaths loads -r paths of both front ends: Falco YAML files (*.yaml,
// *.yml) through falcocompat, Rego files (*.rego) through policy/rego; a
// directory gives both kinds. The Falco rules come first, in load order,
// then the Rego rules, sorted by package path.
func loadPaths(paths []string, bopts rego.BundleOptions) *falcocompat.Result {
	res := loadSources(paths, bopts)
	if res.Ruleset != nil {
		for _, r := range runtime.Uncaptured(res.Ruleset) {
			res.Warnings = append(res.Warnings, &policy.Diagnostic{Pos: r.Pos, Code: "LOAD_UNCAPTURED_EVENT_TYPE", Item: r.Name,
				Msg: fmt.Sprintf("the rule can match only %s, which Peregrine does not capture: it never fires", strings.Join(r.EventTypes, ", "))})
		}
	}
	return res
}

// loadSources loads Falco YAML, Rego files and bundles.
func loadSources(paths []string, bopts rego.BundleOptions) *falcocompat.Result {
	var yamlPaths []string
	regoFiles := map[string][]byte{}
	var readErrs []*policy.Diagnostic
	var bundleRules []*policy.Rule
	for _, p := range paths {
		st, err := os.Stat(p)
		isBundleDir := false
		if err == nil && st.IsDir() {
			_, merr := os.Stat(filepath.Join(p, ".manifest"))
			isBundleDir = merr == nil
		}
		switch {
		case err != nil:
			yamlPaths = append(yamlPaths, p) // falcocompat reports it
		case isBundleDir || strings.HasSuffix(p, ".tar.gz"):
			// An OPA bundle: a directory with a .manifest, or an opa
			// build tarball, signature checked when a key is given.
			b, err := rego.LoadBundle(p, bopts)
			if err != nil {
				readErrs = append(readErrs, &policy.Diagnostic{Pos: policy.Pos{File: p}, Code: "LOAD_ERR_BUNDLE", Msg: err.Error()})
				continue
			}
			bundleRules = append(bundleRules, b.Rules...)
		case st.IsDir():
			yamlPaths = append(yamlPaths, p)
			matches, _ := filepath.Glob(filepath.Join(p, "*.rego"))
			sort.Strings(matches)
			for _, m := range matches {
				if !strings.HasSuffix(m, "_test.rego") { // OPA tests: peregrine test runs them
					readRego(m, regoFiles, &readErrs)
				}
			}
		case filepath.Ext(p) == ".rego":
			readRego(p, regoFiles, &readErrs)
		default:
			yamlPaths = append(yamlPaths, p)
		}
	}
	res := &falcocompat.Result{Ruleset: &policy.Ruleset{}}
	if len(yamlPaths) > 0 {
		res = falcocompat.LoadPaths(yamlPaths...)
	}
	res.Errors = append(res.Errors, readErrs...)
	if len(res.Errors) > 0 {
		res.Ruleset = nil
	}
	if res.Ruleset != nil {
		res.Ruleset.Rules = append(res.Ruleset.Rules, bundleRules...)
		res.Rules += len(bundleRules)
	}
	if len(regoFiles) == 0 {
		return res
	}
	// The lists of the Falco files loaded alongside are data.falco.lists.NAME.
	lists := map[string]any{}
	for name, items := range res.ListItems {
		if regoIdent.MatchString(name) {
			vals := make([]any, len(items))
			for i, it := range items {
				vals[i] = it
			}
			lists[name] = vals
		}
	}
	var data map[string]any
	if len(lists) > 0 {
		data = map[string]any{"falco": map[string]any{"lists": lists}}
	}
	rules, err := rego.LoadWithData(regoFiles, data)
	if err != nil {
		for _, e := range unjoin(err) {
			le := &policy.Diagnostic{Code: "LOAD_ERR_REGO", Msg: e.Error()}
			var re *rego.Error
			if errors.As(e, &re) {
				le.Pos, le.Msg = re.Pos, re.Msg
			}
			res.Errors = append(res.Errors, le)
		}
		res.Ruleset = nil
		return res
	}
	res.Rules += len(rules)
	if res.Ruleset != nil {
		res.Ruleset.Rules = append(res.Ruleset.Rules, rules...)
	}
	return res
}

func readRego(path string, files map[string][]byte, errs *[]*policy.Diagnostic) {
	src, err := os.ReadFile(path)
	if err != nil {
		*errs = append(*errs, &policy.Diagnostic{Pos: policy.Pos{File: path}, Code: "LOAD_ERR_FILE_READ", Msg: err.Error()})
		return
	}
	files[path] = src
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// regoIdent matches the list names Rego can reach as data.falco.lists.NAME.
var regoIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

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
