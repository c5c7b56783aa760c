// Package loader is Peregrine's one rules loader: every command that
// loads rules (validate, list, replay, run and its reloads, explain), the
// rule tests (package ruletest, `peregrine test`) and the composition of
// a running engine's rules with a polled OPA bundle go through it.
//
// It loads paths of both front ends into one policy.Ruleset:
//
//   - Falco YAML files (*.yaml, *.yml and any other file) through
//     falcocompat, in the order given, later ones overriding earlier ones;
//   - Rego files (*.rego) through policy/rego;
//   - directories: their *.yaml, *.yml and *.rego files, sorted, not
//     recursively, leaving out test files (*_test.yaml, *_test.yml,
//     *_test.rego: `peregrine test` runs them);
//   - OPA bundles: a directory holding a .manifest, or an opa build
//     tarball (*.tar.gz), their signatures checked as Options.Bundle says.
//
// The Rego rules, of files and of bundles, see the lists of the Falco
// files loaded alongside as data.falco.lists.NAME. The Falco rules come
// first, in load order, then the rules of the bundles in the order given,
// then those of the Rego files, sorted by package path. The path
// DefaultPath ("@default") names the embedded default ruleset (package
// rules), so that a user's files can extend it: -r @default -r local.yaml.
// With no path and Options.Default, it alone is loaded.
//
// Loading also warns of what the rules cannot do under Peregrine's
// capture: a rule that can match only syscalls it does not capture never
// fires (LOAD_UNCAPTURED_EVENT_TYPE, at the rule's position). The
// warnings of the front ends come along (Falco's; the Rego front end's
// LOAD_REGO_*), but for Falco's unused-list warning about a list that a
// Rego rule reads.
//
// Package loader imports the front ends; policy, compiler and runtime
// import none, and cmd/peregrine only wires it.
package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/policy/rego"
	"github.com/peregrine-sec/peregrine/rules"
	"github.com/peregrine-sec/peregrine/runtime"
)

// Options configure Load.
type Options struct {
	// Bundle verifies and bounds the OPA bundles among the paths.
	Bundle rego.BundleOptions
	// Default loads the embedded default ruleset when no path is given.
	Default bool
	// Settings apply to the rules loaded (the configuration's priority,
	// rule selection, append_output and noise_control).
	Settings Settings
}

// Result is what Load gives: the ruleset (nil when there are errors),
// the counts of rules, macros and lists, the warnings and errors (each
// with its position and code), and the Falco lists' items.
type Result = falcocompat.Result

// EmbeddedPrefix starts the file name of the embedded default ruleset in
// positions and errors.
const EmbeddedPrefix = "embedded:"

// DefaultPath is the rules path that names the embedded default ruleset.
const DefaultPath = "@default"

// Load loads the paths (see the package comment). It never fails as a
// whole: problems are the result's errors, and the ruleset is nil when
// there is one.
func Load(paths []string, opts Options) *Result {
	if len(paths) == 0 && opts.Default {
		paths = []string{DefaultPath}
	}
	res := load(paths, opts.Bundle)
	if res.Ruleset != nil {
		res.Ruleset = &policy.Ruleset{Rules: opts.Settings.Apply(res.Ruleset.Rules)}
		res.Warnings = append(res.Warnings, Warnings(res.Ruleset)...)
	}
	return res
}

// Warnings returns the load warnings of a ruleset that its front ends do
// not know of: the rules that can match only event types Peregrine does
// not capture (LOAD_UNCAPTURED_EVENT_TYPE).
func Warnings(rs *policy.Ruleset) []*falcocompat.LoadError {
	var out []*falcocompat.LoadError
	for _, r := range runtime.Uncaptured(rs) {
		out = append(out, &falcocompat.LoadError{Pos: r.Pos, Code: "LOAD_UNCAPTURED_EVENT_TYPE", Item: r.Name,
			Msg: fmt.Sprintf("the rule can match only %s, which Peregrine does not capture: it never fires", strings.Join(r.EventTypes, ", "))})
	}
	return out
}

// Err returns the errors of a result as one error (errors.Join), each
// followed by its source excerpt when it has one; nil when it has none.
func Err(res *Result) error {
	if len(res.Errors) == 0 {
		return nil
	}
	errs := make([]error, len(res.Errors))
	for i, e := range res.Errors {
		errs[i] = e
		if x := e.Excerpt(); x != "" {
			errs[i] = fmt.Errorf("%w\n%s", e, x)
		}
	}
	return errors.Join(errs...)
}

// IsBundle reports whether path names an OPA bundle: a directory holding
// a .manifest, or a gzipped tarball (*.tar.gz).
func IsBundle(path string) bool {
	if strings.HasSuffix(path, ".tar.gz") {
		return true
	}
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return false
	}
	_, err = os.Stat(filepath.Join(path, ".manifest"))
	return err == nil
}

// isTestName reports whether a file name in a directory is a test file,
// which `peregrine test` runs and rule loading leaves out.
func isTestName(name string) bool {
	ext := filepath.Ext(name)
	return strings.HasSuffix(strings.TrimSuffix(name, ext), "_test")
}

func load(paths []string, bopts rego.BundleOptions) *Result {
	var yamlPaths, bundles []string
	regoFiles := map[string][]byte{}
	var readErrs []*falcocompat.LoadError
	for _, p := range paths {
		st, err := os.Stat(p)
		switch {
		case p == DefaultPath:
			yamlPaths = append(yamlPaths, p)
		case err != nil:
			yamlPaths = append(yamlPaths, p) // falcocompat reports it
		case IsBundle(p):
			bundles = append(bundles, p)
		case st.IsDir():
			yamlPaths = append(yamlPaths, p) // falcocompat.ExpandPaths
			entries, err := os.ReadDir(p)
			if err != nil {
				continue // falcocompat reports it
			}
			for _, e := range entries { // sorted by name
				if !e.IsDir() && filepath.Ext(e.Name()) == ".rego" && !isTestName(e.Name()) {
					readRego(filepath.Join(p, e.Name()), regoFiles, &readErrs)
				}
			}
		case filepath.Ext(p) == ".rego":
			readRego(p, regoFiles, &readErrs)
		default:
			yamlPaths = append(yamlPaths, p)
		}
	}
	res := &Result{Ruleset: &policy.Ruleset{}}
	if len(yamlPaths) > 0 {
		l := falcocompat.NewLoader()
		for _, p := range yamlPaths {
			if p == DefaultPath {
				name, src := rules.Default()
				l.AddFile(EmbeddedPrefix+name, src)
				continue
			}
			l.AddPath(p)
		}
		res = l.Compile()
	}
	data := FalcoData(res)
	var bundleRules []*policy.Rule
	read := map[string]bool{} // the Falco lists the Rego rules read
	for _, p := range bundles {
		b, err := rego.LoadBundleWithData(p, bopts, data)
		if err != nil {
			readErrs = append(readErrs, regoErrors(err, p, "LOAD_ERR_BUNDLE")...)
			continue
		}
		bundleRules = append(bundleRules, b.Rules...)
		res.Warnings = append(res.Warnings, b.Warnings...)
		for _, n := range b.Lists {
			read[n] = true
		}
	}
	res.Errors = append(res.Errors, readErrs...)
	if len(res.Errors) > 0 {
		res.Ruleset = nil
	}
	if res.Ruleset != nil {
		res.Ruleset.Rules = append(res.Ruleset.Rules, bundleRules...)
		res.Rules += len(bundleRules)
	}
	if len(regoFiles) > 0 {
		l, err := rego.LoadWithData(regoFiles, data)
		res.Warnings = append(res.Warnings, l.Warnings...)
		for _, n := range l.Lists {
			read[n] = true
		}
		if err != nil {
			res.Errors = append(res.Errors, regoErrors(err, "", "LOAD_ERR_REGO")...)
			res.Ruleset = nil
		} else {
			res.Rules += len(l.Rules)
			if res.Ruleset != nil {
				res.Ruleset.Rules = append(res.Ruleset.Rules, l.Rules...)
			}
		}
	}
	// The Falco front end warns of lists no Falco rule or macro uses; a
	// list a Rego rule reads is used.
	kept := res.Warnings[:0]
	for _, w := range res.Warnings {
		name, isList := strings.CutPrefix(w.Item, "list '")
		if w.Code == "LOAD_UNUSED_LIST" && isList && read[strings.TrimSuffix(name, "'")] {
			continue
		}
		kept = append(kept, w)
	}
	res.Warnings = kept
	return res
}

func readRego(path string, files map[string][]byte, errs *[]*falcocompat.LoadError) {
	src, err := os.ReadFile(path)
	if err != nil {
		*errs = append(*errs, &falcocompat.LoadError{Pos: falcocompat.Pos{File: path}, Code: "LOAD_ERR_FILE_READ", Msg: err.Error()})
		return
	}
	files[path] = src
}

// regoErrors converts the errors of the Rego front end: each *rego.Error
// keeps its position and source line; the others are at file.
func regoErrors(err error, file, code string) []*falcocompat.LoadError {
	var out []*falcocompat.LoadError
	for _, e := range unjoin(err) {
		le := &falcocompat.LoadError{Pos: falcocompat.Pos{File: file}, Code: code, Msg: e.Error()}
		var re *rego.Error
		if errors.As(e, &re) {
			le.Msg, le.Source = re.Msg, re.Source
			if re.Pos.File != "" {
				le.Pos = re.Pos
			}
		}
		out = append(out, le)
	}
	return out
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

// FalcoData returns the data documents the Rego rules loaded alongside
// the Falco files of res see: {"falco": {"lists": {NAME: [items]}}}, for
// the lists whose names Rego can reach (identifiers); nil without any.
func FalcoData(res *Result) map[string]any {
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
	if len(lists) == 0 {
		return nil
	}
	return map[string]any{"falco": map[string]any{"lists": lists}}
}

// Running is the rules of a running engine: the base rules (the -r paths
// or the default ruleset, loaded again on SIGHUP) followed by the rules
// of the last good bundle a poller fetched, which see the base's Falco
// lists as data.falco.lists, as a bundle given with -r does. A Running is
// a value: its With methods return the new composition and leave the old
// one as it was, so that a composition the engine refuses is dropped.
type Running struct {
	base   *Result
	bundle *rego.Bundle
	// settings apply to the bundle's rules, as Load applied them to the
	// base's.
	settings Settings
}

// NewRunning returns the composition of base (a Load result without
// errors) with no bundle.
func NewRunning(base *Result) Running { return Running{base: base} }

// WithSettings returns the composition whose bundle rules get s, as the
// base's got them from Load.
func (r Running) WithSettings(s Settings) Running {
	r.settings = s
	return r
}

// Base returns the base rules' load result.
func (r Running) Base() *Result { return r.base }

// Bundle returns the bundle, compiled with the base's lists (nil before
// the first).
func (r Running) Bundle() *rego.Bundle { return r.bundle }

// Ruleset returns the base rules followed by the bundle's.
func (r Running) Ruleset() *policy.Ruleset {
	var rs []*policy.Rule
	if r.base != nil && r.base.Ruleset != nil {
		rs = append(rs, r.base.Ruleset.Rules...)
	}
	if r.bundle != nil {
		rs = append(rs, r.settings.Apply(r.bundle.Rules)...)
	}
	return &policy.Ruleset{Rules: rs}
}

// WithBase returns the composition with base in place of the base rules;
// the bundle's rules are compiled again when base's Falco lists differ
// from the ones they see.
func (r Running) WithBase(base *Result) (Running, error) {
	out := Running{base: base, bundle: r.bundle, settings: r.settings}
	if r.bundle != nil {
		b, err := withLists(r.bundle, FalcoData(base))
		if err != nil {
			return r, err
		}
		out.bundle = b
	}
	return out, nil
}

// WithBundle returns the composition with b's rules in place of the
// bundle's, compiled with the base's Falco lists.
func (r Running) WithBundle(b *rego.Bundle) (Running, error) {
	var data map[string]any
	if r.base != nil {
		data = FalcoData(r.base)
	}
	nb, err := withLists(b, data)
	if err != nil {
		return r, err
	}
	return Running{base: r.base, bundle: nb, settings: r.settings}, nil
}

// withLists returns b with rules that see data beside its documents,
// compiling it again only when they see other documents now.
func withLists(b *rego.Bundle, data map[string]any) (*rego.Bundle, error) {
	if reflect.DeepEqual(b.Extra(), data) || (len(b.Extra()) == 0 && len(data) == 0) {
		return b, nil
	}
	return b.WithData(data)
}
