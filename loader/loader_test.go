package loader_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/peregrine-sec/peregrine/loader"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/policy/rego"
	"github.com/peregrine-sec/peregrine/runtime"
)

func write(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// regoRule is a Rego rule titled title alerting when an openat's process
// name is in the Rego collection coll.
func regoRule(pkg, title, coll string) string {
	return "# METADATA\n# title: " + title + "\npackage " + pkg + "\n\nalert if {\n\tinput.evt.type == \"openat\"\n\tinput.proc.name in " + coll + "\n}\n"
}

const petsYAML = "- list: pets\n  items: [cat, dog]\n" +
	"- rule: Y\n  desc: d\n  condition: evt.type = openat and proc.name = cow\n  output: o\n  priority: info\n"

// tarball writes a bundle tarball of one module, signed with the HMAC
// secret when it is not empty.
func tarball(t testing.TB, path, module, secret string) {
	t.Helper()
	b := bundle.Bundle{
		Manifest: bundle.Manifest{Revision: "r1", Roots: &[]string{"tb"}},
		Data:     map[string]any{},
		Modules:  []bundle.ModuleFile{{URL: "/tb/r.rego", Path: "/tb/r.rego", Raw: []byte(module)}},
	}
	if secret != "" {
		if err := b.GenerateSignature(bundle.NewSigningConfig(secret, "HS256", ""), "default", false); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func names(rs *policy.Ruleset) []string {
	var out []string
	for _, r := range rs.Rules {
		out = append(out, r.Name)
	}
	return out
}

// alerts runs an openat by proc through the pipeline of rs.
func alerts(t testing.TB, rs *policy.Ruleset, proc string) []string {
	t.Helper()
	pipe, err := runtime.NewPipeline(rs, runtime.MatchAll)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := policy.DecodeEvent([]byte(`{"evt.type":"openat","proc.name":"`+proc+`"}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range pipe.Evaluate(&runtime.Input{Event: ev}, nil) {
		out = append(out, a.Rule.Name)
	}
	return out
}

// TestLoadEveryKind loads every kind of path in one call: a directory of
// YAML and Rego files (with test files left out), an OPA bundle directory
// and a signed bundle tarball; the Rego rules of files and bundles see
// the Falco lists as data.falco.lists.
func TestLoadEveryKind(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"rules/pets.yaml":         petsYAML,
		"rules/b.rego":            regoRule("p.b", "Rego file", "data.falco.lists.pets"),
		"rules/a.rego":            regoRule("p.a", "Rego file A", `{"ant"}`),
		"rules/x_test.rego":       "package p.b_test\n\ntest_x if true\n",
		"rules/x_test.yaml":       "not: [a rules file\n",
		"bundle/.manifest":        `{"revision":"b1","roots":["bd"]}`,
		"bundle/bd/r.rego":        regoRule("bd.r", "Bundle dir", "data.falco.lists.pets"),
		"bundle/bd/own/data.json": `{"x": 1}`,
	})
	tb := filepath.Join(dir, "b.tar.gz")
	tarball(t, tb, regoRule("tb.r", "Bundle tarball", "data.falco.lists.pets"), "s3cret")
	paths := []string{filepath.Join(dir, "rules"), tb, filepath.Join(dir, "bundle")}
	// A key applies to every bundle, and the directory is not signed: load
	// them unverified, then the tarball alone with its key.
	res := loader.Load(paths, loader.Options{Bundle: rego.BundleOptions{SkipVerification: true}})
	if err := loader.Err(res); err != nil {
		t.Fatal(err)
	}
	// YAML first, then the bundles in the order given, then the Rego files
	// by package.
	want := []string{"Y", "Bundle tarball", "Bundle dir", "Rego file A", "Rego file"}
	if got := names(res.Ruleset); !slices.Equal(got, want) {
		t.Errorf("rules %q, want %q", got, want)
	}
	if res.Rules != 5 || res.Lists != 1 {
		t.Errorf("counts: %d rules, %d lists", res.Rules, res.Lists)
	}
	if got := alerts(t, res.Ruleset, "dog"); !slices.Equal(got, []string{"Bundle tarball", "Bundle dir", "Rego file"}) {
		t.Errorf("dog alerts %q", got)
	}
	if got := alerts(t, res.Ruleset, "cow"); !slices.Equal(got, []string{"Y"}) {
		t.Errorf("cow alerts %q", got)
	}

	// The tarball's signature: the secret verifies it; a wrong secret, and
	// no key at all, refuse it.
	key := rego.BundleOptions{VerificationKey: "s3cret", Algorithm: "HS256"}
	if res := loader.Load([]string{tb}, loader.Options{Bundle: key}); loader.Err(res) != nil || len(res.Ruleset.Rules) != 1 {
		t.Errorf("the signed tarball with its key: %v", loader.Err(res))
	}
	for _, o := range []rego.BundleOptions{{VerificationKey: "wrong", Algorithm: "HS256"}, {}} {
		res := loader.Load([]string{filepath.Join(dir, "rules"), tb}, loader.Options{Bundle: o})
		if res.Ruleset != nil || len(res.Errors) != 1 || res.Errors[0].Code != "LOAD_ERR_BUNDLE" ||
			!strings.Contains(res.Errors[0].Msg, rego.ErrVerification.Error()) || res.Errors[0].Pos.File != tb {
			t.Errorf("options %+v: errors %v", o, res.Errors)
		}
	}
}

// TestLoadErrors: errors name their file and code, and leave no ruleset.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"bad.rego":                    "package p.bad\n\nalert if {\n\tinput.x ==\n}\n",
		"bad.yaml":                    "- rule: r\n  desc: [\n",
		"clash/.manifest":             `{"roots":["falco"]}`,
		"clash/falco/lists/data.json": `{"pets": ["emu"]}`,
		"clash/falco/r.rego":          regoRule("falco.r", "Clash", "data.falco.lists.pets"),
		"pets.yaml":                   petsYAML,
	})
	cases := []struct {
		paths []string
		code  string
		msg   string
	}{
		{[]string{filepath.Join(dir, "bad.rego")}, "LOAD_ERR_REGO", "bad.rego:"},
		{[]string{filepath.Join(dir, "bad.yaml")}, "", "bad.yaml:"},
		{[]string{filepath.Join(dir, "none.yaml")}, "LOAD_ERR_FILE_READ", "none.yaml"},
		{[]string{filepath.Join(dir, "pets.yaml"), filepath.Join(dir, "clash")}, "LOAD_ERR_BUNDLE", "data.falco.lists.pets is defined by the bundle and outside it"},
	}
	for _, c := range cases {
		res := loader.Load(c.paths, loader.Options{})
		err := loader.Err(res)
		if res.Ruleset != nil || err == nil || !strings.Contains(err.Error(), c.msg) || (c.code != "" && res.Errors[0].Code != c.code) {
			t.Errorf("%v: ruleset %v, errors %v; want %s %q", c.paths, res.Ruleset != nil, res.Errors, c.code, c.msg)
		}
	}
	// Without the Falco file, the bundle's own list is the one.
	res := loader.Load([]string{filepath.Join(dir, "clash")}, loader.Options{})
	if err := loader.Err(res); err != nil {
		t.Fatal(err)
	}
	if got := alerts(t, res.Ruleset, "emu"); !slices.Equal(got, []string{"Clash"}) {
		t.Errorf("emu alerts %q", got)
	}
}

// TestLoadDefault: no path loads the embedded default ruleset when asked,
// and nothing otherwise.
func TestLoadDefault(t *testing.T) {
	res := loader.Load(nil, loader.Options{Default: true})
	if err := loader.Err(res); err != nil {
		t.Fatal(err)
	}
	if len(res.Ruleset.Rules) < 20 || !strings.HasPrefix(res.Ruleset.Rules[0].Pos.File, loader.EmbeddedPrefix) {
		t.Errorf("%d rules, the first from %q", len(res.Ruleset.Rules), res.Ruleset.Rules[0].Pos.File)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings on the default rules: %v", res.Warnings)
	}
	if res := loader.Load(nil, loader.Options{}); loader.Err(res) != nil || len(res.Ruleset.Rules) != 0 {
		t.Errorf("no paths: %v", res.Errors)
	}
}

// TestLoadWarnsUncaptured: a rule that can match only syscalls Peregrine
// does not capture is a warning at its position.
func TestLoadWarnsUncaptured(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"r.yaml": "- rule: never\n  desc: d\n  condition: evt.type = sendmmsg\n  output: o\n  priority: info\n",
		"r.rego": "# METADATA\n# title: never either\npackage p.never\n\nalert if input.evt.type == \"sendmmsg\"\n",
	})
	res := loader.Load([]string{dir}, loader.Options{})
	if err := loader.Err(res); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range res.Warnings {
		if w.Code == "LOAD_UNCAPTURED_EVENT_TYPE" {
			got = append(got, w.Item+"@"+filepath.Base(w.Pos.File))
		}
	}
	if !slices.Equal(got, []string{"never@r.yaml", "never either@r.rego"}) {
		t.Errorf("warnings %v", res.Warnings)
	}
}

// TestLoadRegoWarnings: the Rego front end's warnings reach the load
// result, from Rego files and bundles, beside errors too; a Falco list
// that only Rego rules read is not reported unused.
func TestLoadRegoWarnings(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"pets.yaml":        petsYAML,
		"other.yaml":       "- list: birds\n  items: [emu]\n",
		"reads.rego":       regoRule("p.reads", "Reads", "data.falco.lists.pets"),
		"undefined.rego":   regoRule("p.undefined", "Undefined", "data.falco.lists.fish"),
		"authz.rego":       "package authz\n\nallow if true\n",
		"bad.rego":         "package p.bad\n\nalert if input.proc.nmae == \"x\"\n",
		"bundle/.manifest": `{"roots":["bd"]}`,
		"bundle/bd/r.rego": regoRule("bd.r", "Bundle", "data.falco.lists.pets"),
	})
	p := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name  string
		paths []string
		want  []string // code@file:line:col, in order
		errs  int
	}{
		{"list read by a Rego file", []string{p("pets.yaml"), p("reads.rego")}, nil, 0},
		{"list read by a bundle", []string{p("pets.yaml"), p("bundle")}, nil, 0},
		{"list read by nobody", []string{p("pets.yaml"), p("other.yaml"), p("reads.rego")},
			[]string{"LOAD_UNUSED_LIST@other.yaml:1:7"}, 0},
		{"undefined list", []string{p("pets.yaml"), p("undefined.rego")},
			[]string{"LOAD_UNUSED_LIST@pets.yaml:1:7", "LOAD_REGO_UNDEFINED_LIST@undefined.rego:7:21"}, 0},
		{"bundle alone", []string{p("bundle")}, []string{"LOAD_REGO_UNDEFINED_LIST@r.rego:7:21"}, 0},
		{"no alert", []string{p("authz.rego")}, []string{"LOAD_REGO_NO_ALERT@authz.rego:3:1"}, 0},
		{"beside an error", []string{p("authz.rego"), p("bad.rego")}, []string{"LOAD_REGO_NO_ALERT@authz.rego:3:1"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := loader.Load(tc.paths, loader.Options{})
			var got []string
			for _, w := range res.Warnings {
				got = append(got, w.Code+"@"+filepath.Base(w.Pos.File)+strings.TrimPrefix(w.Pos.String(), w.Pos.File))
			}
			if !slices.Equal(got, tc.want) || len(res.Errors) != tc.errs {
				t.Errorf("warnings %q, want %q; errors %v", got, tc.want, res.Errors)
			}
		})
	}
}

// TestRunning composes base rules with a polled bundle whose rule reads a
// Falco list of the base: the bundle sees the base's lists, and again
// after the base changes them.
func TestRunning(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"a/pets.yaml": petsYAML, "b/pets.yaml": strings.Replace(petsYAML, "[cat, dog]", "[emu]", 1)})
	tb := filepath.Join(dir, "b.tar.gz")
	tarball(t, tb, regoRule("tb.r", "Polled", "data.falco.lists.pets"), "")
	polled, err := rego.LoadBundle(tb, rego.BundleOptions{}) // as the poller loads it
	if err != nil {
		t.Fatal(err)
	}
	base := loader.Load([]string{filepath.Join(dir, "a")}, loader.Options{})
	if err := loader.Err(base); err != nil {
		t.Fatal(err)
	}
	r := loader.NewRunning(base)
	if got := names(r.Ruleset()); !slices.Equal(got, []string{"Y"}) {
		t.Fatalf("base alone: %q", got)
	}
	r, err = r.WithBundle(polled)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(r.Ruleset()); !slices.Equal(got, []string{"Y", "Polled"}) {
		t.Fatalf("with the bundle: %q", got)
	}
	if got := alerts(t, r.Ruleset(), "dog"); !slices.Equal(got, []string{"Polled"}) {
		t.Errorf("dog alerts %q", got)
	}
	if polled.Rules[0] == r.Bundle().Rules[0] {
		t.Error("the polled bundle was not compiled with the base's lists")
	}
	// Alone, the polled bundle reads a list nothing defines; with the
	// base's lists, it does not.
	if len(polled.Warnings) != 1 || polled.Warnings[0].Code != rego.WarnUndefinedList || len(r.Bundle().Warnings) != 0 {
		t.Errorf("warnings: polled alone %v, with the base %v", polled.Warnings, r.Bundle().Warnings)
	}
	// The same lists: the bundle is not compiled again.
	same, err := r.WithBase(loader.Load([]string{filepath.Join(dir, "a")}, loader.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if same.Bundle() != r.Bundle() {
		t.Error("the bundle was compiled again for the same lists")
	}
	// Other lists: it is.
	next, err := r.WithBase(loader.Load([]string{filepath.Join(dir, "b")}, loader.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := alerts(t, next.Ruleset(), "emu"); !slices.Equal(got, []string{"Polled"}) {
		t.Errorf("emu alerts after the base changed %q", got)
	}
	if got := alerts(t, r.Ruleset(), "emu"); len(got) != 0 {
		t.Errorf("the old composition changed: %q", got)
	}
	// A bundle whose data clashes with the base's lists is refused, and the
	// composition stays.
	cb := filepath.Join(dir, "clash.tar.gz")
	writeClash(t, cb, regoRule("falco.r", "Clash", "data.falco.lists.pets"))
	cbun, err := rego.LoadBundle(cb, rego.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := next.WithBundle(cbun)
	if err == nil || !strings.Contains(err.Error(), "defined by the bundle and outside it") {
		t.Errorf("a clashing bundle: %v", err)
	}
	if kept.Bundle() != next.Bundle() {
		t.Error("the composition changed on an error")
	}
}

// writeClash writes a bundle tarball defining data.falco.lists.pets.
func writeClash(t testing.TB, path, module string) {
	t.Helper()
	b := bundle.Bundle{
		Manifest: bundle.Manifest{Roots: &[]string{"falco"}},
		Data:     map[string]any{"falco": map[string]any{"lists": map[string]any{"pets": []any{"yak"}}}},
		Modules:  []bundle.ModuleFile{{URL: "/falco/r.rego", Path: "/falco/r.rego", Raw: []byte(module)}},
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
