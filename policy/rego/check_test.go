package rego

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/peregrine-sec/peregrine/policy"
)

// loadText loads files (name -> source) with data documents and returns
// the error's parts and the warnings as text, one a string.
func loadText(t *testing.T, files map[string]string, data map[string]any) (errs, warns []string) {
	t.Helper()
	in := map[string][]byte{}
	for n, s := range files {
		in[n] = []byte(s)
	}
	l, err := LoadWithData(in, data)
	for _, e := range unjoin(err) {
		errs = append(errs, e.Error())
	}
	for _, w := range l.Warnings {
		warns = append(warns, w.Error()+" ("+w.Code+")")
	}
	return errs, warns
}

// alertFile is a package t whose alert has body, after the lines of
// prelude: with no prelude the body starts at line 3, column 2.
func alertFile(prelude, body string) map[string]string {
	return map[string]string{"t.rego": "package t\n" + prelude + "alert if {\n\t" + body + "\n}\n"}
}

func TestUnknownInputPath(t *testing.T) {
	const walk = "some i, n in input.proc.aname\n\ti > 0\n\tn == \"cron\"\n\tevery j in numbers.range(1, i) { input.proc.aname[j] != null }"
	tests := []struct {
		name, prelude, body string
		want                []string // the errors; none for a valid rule
	}{
		// Valid: fields, and the shapes that read the input by a key
		// computed at evaluation, or as an object.
		{"field", "", `input.proc.name == "cat"`, nil},
		{"ancestor index", "", `input.proc.aname[2] == "sshd"`, nil},
		{"ancestor any", "", `some i; input.proc.aname[i] == "sshd"`, nil},
		{"ancestor walk", "", walk, nil},
		{"argument by name", "", `input.evt.arg.flags == "O_RDONLY"`, nil},
		{"argument in brackets", "", `input.evt.arg["flags"] == "O_RDONLY"`, nil},
		{"argument by index", "", `input.evt.arg[0] == "3"`, nil},
		{"environment variable", "", `input.proc.env.HOME == "/root"`, nil},
		{"label", "", `input.k8s.pod.label.app == "web"`, nil},
		{"deeper field", "", `input.container.image.repository == "nginx"`, nil},
		{"field with deeper ones", "", `input.evt.rawtime.s > 0`, nil},
		{"address", "", `input.fd.sip == "10.0.0.1"`, nil},
		{"client or server field", "", `input.fd.ip == "10.0.0.1"`, nil},
		{"list field", "", `"f" in input.fd.types`, nil},
		{"object of fields", "", `count(input.proc) > 3`, nil},
		{"whole input", "", `count(input) > 3`, nil},
		{"whole input to a function", "f(x) if x.proc.name == \"cat\"\n", `f(input)`, nil},
		{"computed key", "", `some k; input[k] == "cat"`, nil},
		{"computed key below an object", "", `some k; input.proc[k] == "cat"`, nil},
		{"walk", "", `walk(input, [_, "cat"])`, nil},
		{"import", "import input.proc\n", `proc.name == "cat"`, nil},
		{"with", "helper if input.proc.name == \"cat\"\n", `helper with input.proc.name as "cat"`, nil},

		// Errors, with the nearest field when one is near.
		{"typo", "", `input.proc.nmae == "cat"`,
			[]string{"t.rego:3:2: unknown input path input.proc.nmae: Peregrine's input has no such field; did you mean input.proc.name?"}},
		{"typo at the root", "", `input.prc.name == "cat"`,
			[]string{"t.rego:3:2: unknown input path input.prc.name: Peregrine's input has no such field; did you mean input.proc.name?"}},
		{"capital", "", `input.proc.Name == "cat"`,
			[]string{"t.rego:3:2: unknown input path input.proc.Name: Peregrine's input has no such field; did you mean input.proc.name?"}},
		{"missing letter", "", `input.user.ui == 0`,
			[]string{"t.rego:3:2: unknown input path input.user.ui: Peregrine's input has no such field; did you mean input.user.uid?"}},
		{"extra letter", "", `input.user.uuid == 0`,
			[]string{"t.rego:3:2: unknown input path input.user.uuid: Peregrine's input has no such field; did you mean input.user.uid?"}},
		{"nothing near", "", `input.foo.bar == "x"`,
			[]string{"t.rego:3:2: unknown input path input.foo.bar: Peregrine's input has no such field (peregrine fields --rego lists them)"}},
		{"one letter", "", `input.x == 1`,
			[]string{"t.rego:3:2: unknown input path input.x: Peregrine's input has no such field (peregrine fields --rego lists them)"}},
		{"below a string field", "", `input.proc.name.first == "c"`,
			[]string{"t.rego:3:2: unknown input path input.proc.name.first: Peregrine's input has no such field (peregrine fields --rego lists them)"}},
		{"typo before an argument", "", `input.evt.ar.flags == "O_RDONLY"`,
			[]string{"t.rego:3:2: unknown input path input.evt.ar.flags: Peregrine's input has no such field; did you mean input.evt.arg.flags?"}},
		{"typo before an index", "", `input.proc.anmae[2] == "sshd"`,
			[]string{"t.rego:3:2: unknown input path input.proc.anmae: Peregrine's input has no such field; did you mean input.proc.aname?"}},
		{"typo in a walk", "", `some n in input.proc.anmae; n == "sshd"`,
			[]string{"t.rego:3:12: unknown input path input.proc.anmae: Peregrine's input has no such field; did you mean input.proc.aname?"}},
		{"typo in every", "", `every j in numbers.range(1, 2) { input.proc.anmae[j] != null }`,
			[]string{"t.rego:3:35: unknown input path input.proc.anmae: Peregrine's input has no such field; did you mean input.proc.aname?"}},
		{"typo in a comprehension", "", `count([x | x := input.proc.nmae]) > 0`,
			[]string{"t.rego:3:18: unknown input path input.proc.nmae: Peregrine's input has no such field; did you mean input.proc.name?"}},
		{"negated", "", `not input.proc.nmae == "cat"`,
			[]string{"t.rego:3:6: unknown input path input.proc.nmae: Peregrine's input has no such field; did you mean input.proc.name?"}},
		{"brackets", "", `input["proc"]["nmae"] == "cat"`,
			[]string{"t.rego:3:2: unknown input path input.proc.nmae: Peregrine's input has no such field; did you mean input.proc.name?"}},
		{"through an import", "import input.proc as p\n", `p.nmae == "cat"`,
			[]string{"t.rego:4:2: unknown input path input.proc.nmae: Peregrine's input has no such field; did you mean input.proc.name?"}},
		{"DNS name", "", `input.fd.sip.name == "example.com"`,
			[]string{"t.rego:3:2: unknown input path input.fd.sip.name: Peregrine does not resolve DNS names, so the input has no fd.sip.name"}},
		{"in a helper alert does not read", "helper if input.proc.nmae == \"x\"\n", `input.proc.name == "cat"`,
			[]string{"t.rego:2:11: unknown input path input.proc.nmae: Peregrine's input has no such field; did you mean input.proc.name?"}},
		{"two", "", "input.proc.nmae == \"a\"\n\tinput.fd.nmae == \"b\"", []string{
			"t.rego:3:2: unknown input path input.proc.nmae: Peregrine's input has no such field; did you mean input.proc.name?",
			"t.rego:4:2: unknown input path input.fd.nmae: Peregrine's input has no such field; did you mean input.fd.name?"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs, warns := loadText(t, alertFile(tc.prelude, tc.body), nil)
			if !slices.Equal(errs, tc.want) || len(warns) > 0 {
				t.Errorf("errors\n%s\nwant\n%s\n(warnings %q)", strings.Join(errs, "\n"), strings.Join(tc.want, "\n"), warns)
			}
		})
	}
}

func TestNoAlertWarning(t *testing.T) {
	const msg = ": the package defines %s but no alert: Peregrine reads only alert (alert if { ... }), so it raises nothing (LOAD_REGO_NO_ALERT)"
	w := func(at, item, head string) string { return at + ": " + item + strings.Replace(msg, "%s", head, 1) }
	tests := []struct {
		name  string
		files map[string]string
		data  map[string]any
		want  []string
	}{
		{"allow", map[string]string{"a.rego": "package authz\n\nallow if input.proc.name == \"cat\"\n"},
			nil, []string{w("a.rego:3:1", "authz", "allow")}},
		{"default allow first", map[string]string{"a.rego": "package authz\n\ndefault allow := false\n\nallow if input.proc.name == \"cat\"\n"},
			nil, []string{w("a.rego:3:1", "authz", "allow")}},
		{"deny", map[string]string{"k.rego": "package k8s.admission\n\ndeny contains msg if {\n\tinput.proc.name == \"nc\"\n\tmsg := \"no nc\"\n}\n"},
			nil, []string{w("k.rego:3:1", "k8s.admission", "deny")}},
		{"violation", map[string]string{"g.rego": "package gk\n\nviolation contains {\"msg\": \"nc\"} if input.proc.name == \"nc\"\n"},
			nil, []string{w("g.rego:3:1", "gk", "violation")}},
		{"the first of several", map[string]string{"p.rego": "package p\n\nhelper := 1\n\ndeny contains 1 if helper == 1\n\nallow if true\n"},
			nil, []string{w("p.rego:5:1", "p", "deny")}},
		{"two packages", map[string]string{"b.rego": "package b\ndeny contains 1 if true\n", "a.rego": "package a\nallow if true\n"},
			nil, []string{w("a.rego:2:1", "a", "allow"), w("b.rego:2:1", "b", "deny")}},
		{"with alert", map[string]string{"p.rego": "package p\n\nallow if true\n\nalert if input.proc.name == \"nc\"\n"}, nil, nil},
		{"alert in another file", map[string]string{"a.rego": "package p\nallow if true\n", "b.rego": "package p\nalert if input.proc.name == \"nc\"\n"}, nil, nil},
		{"library", map[string]string{"lib.rego": "package lib\n\nallow if input.proc.name == \"nc\"\n",
			"r.rego": "package r\n\nalert if data.lib.allow\n"}, nil, nil},
		{"library through an import", map[string]string{"lib.rego": "package lib\n\ndeny contains 1 if input.proc.name == \"nc\"\n",
			"r.rego": "package r\n\nimport data.lib\n\nalert if count(lib.deny) > 0\n"}, nil, nil},
		{"helpers only", map[string]string{"h.rego": "package h\n\nshells := {\"sh\"}\n"}, nil, nil},
		{"data document", map[string]string{"r.rego": "package r\n\nalert if data.authz.allow\n"},
			map[string]any{"authz": map[string]any{"allow": true}}, nil},
		{"data document beside a module", map[string]string{"a.rego": "package authz\n\ndeny contains 1 if true\n"},
			map[string]any{"authz": map[string]any{"allow": true}}, []string{w("a.rego:3:1", "authz", "deny")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs, warns := loadText(t, tc.files, tc.data)
			if !slices.Equal(warns, tc.want) || len(errs) > 0 {
				t.Errorf("warnings\n%s\nwant\n%s\n(errors %q)", strings.Join(warns, "\n"), strings.Join(tc.want, "\n"), errs)
			}
		})
	}
}

func TestUndefinedListWarning(t *testing.T) {
	const msg = ": undefined list data.falco.lists.%s: no file loaded defines it, so what reads it is undefined for every event (LOAD_REGO_UNDEFINED_LIST)"
	w := func(at, list string) string { return at + ": " + list + strings.Replace(msg, "%s", list, 1) }
	lists := func(names ...string) map[string]any {
		l := map[string]any{}
		for _, n := range names {
			l[n] = []any{"sh"}
		}
		return map[string]any{"falco": map[string]any{"lists": l}}
	}
	with := func(files map[string]string, name, src string) map[string]string {
		files[name] = src
		return files
	}
	const walk = "some i, n in input.proc.aname\n\ti > 0\n\tn in data.falco.lists.package_tools\n\tevery j in numbers.range(1, i) { input.proc.aname[j] != null }"
	tests := []struct {
		name  string
		files map[string]string
		data  map[string]any
		want  []string
	}{
		{"undefined", alertFile("", `input.proc.name in data.falco.lists.shells`), nil, []string{w("t.rego:3:21", "shells")}},
		{"defined by the Falco files", alertFile("", `input.proc.name in data.falco.lists.shells`), lists("shells"), nil},
		{"another list defined", alertFile("", `input.proc.name in data.falco.lists.shells`), lists("pets"), []string{w("t.rego:3:21", "shells")}},
		{"defined by a Rego package", with(alertFile("", `input.proc.name in data.falco.lists.shells`), "l.rego", "package falco.lists\n\nshells := {\"sh\"}\n"), nil, nil},
		{"inside an object", with(alertFile("", `input.proc.name in data.falco.lists.shells`), "l.rego", "package falco\n\nlists := {\"shells\": [\"sh\"]}\n"), nil, nil},
		{"computed name", alertFile("", `some name; input.proc.name in data.falco.lists[name]`), nil, nil},
		{"with a default", alertFile("", `input.proc.name in object.get(data.falco.lists, "shells", [])`), nil, nil},
		{"element", alertFile("", `data.falco.lists.shells[_] == input.proc.name`), nil, []string{w("t.rego:3:2", "shells")}},
		{"negated", alertFile("", `not input.proc.name in data.falco.lists.shells`), nil, []string{w("t.rego:3:25", "shells")}},
		{"through an import", alertFile("import data.falco.lists\n", `input.proc.name in lists.shells`), nil, []string{w("t.rego:4:21", "shells")}},
		{"ancestor walk", alertFile("", walk), nil, []string{w("t.rego:5:7", "package_tools")}},
		{"two", alertFile("", "input.proc.name in data.falco.lists.shells\n\tinput.proc.pname in data.falco.lists.servers"), lists("pets"),
			[]string{w("t.rego:3:21", "shells"), w("t.rego:4:22", "servers")}},
		{"in a helper", alertFile("helper if input.proc.name in data.falco.lists.shells\n", `input.proc.name == "sh"`), nil, []string{w("t.rego:2:30", "shells")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs, warns := loadText(t, tc.files, tc.data)
			if !slices.Equal(warns, tc.want) || len(errs) > 0 {
				t.Errorf("warnings\n%s\nwant\n%s\n(errors %q)", strings.Join(warns, "\n"), strings.Join(tc.want, "\n"), errs)
			}
		})
	}
}

// TestErrorSource: every positioned error and warning carries the line of
// its file, which the CLI shows under it with a caret.
func TestErrorSource(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // Source of the first error, else of the first warning
	}{
		{"parse", "package p\n\nalert if {\n\tinput.proc.name ==\n}\n", "}"},
		{"parse in a line", "package p\n\nalert if input.proc.name == == \"a\"\n", `alert if input.proc.name == == "a"`},
		{"type", "package p\n\nalert if {\n  startswith(input.proc.name, 1)\n}\n", "  startswith(input.proc.name, 1)"},
		{"refused builtin", "package p\nalert if time.now_ns() > 0\n", "alert if time.now_ns() > 0"},
		{"unknown input path", "package p\nalert if {\n\tinput.proc.nmae == \"cat\"\n}\n", "\tinput.proc.nmae == \"cat\""},
		{"no alert", "package p\r\nallow if true\r\n", "allow if true"},
		{"undefined list", "package p\nalert if input.proc.name in data.falco.lists.x\n", "alert if input.proc.name in data.falco.lists.x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Load(map[string][]byte{"p.rego": []byte(tc.src)})
			warns := l.Warnings
			got := ""
			var re *Error
			switch {
			case errors.As(err, &re):
				got = re.Source
			case len(warns) > 0:
				got = warns[0].Source
			default:
				t.Fatalf("no error nor warning (%v)", err)
			}
			if got != tc.want {
				t.Errorf("source %q, want %q (%v)", got, tc.want, err)
			}
		})
	}
}

// TestBundleParseErrorSource: a bundle's parse errors, which OPA's bundle
// reader reports, carry their source line too.
func TestBundleParseErrorSource(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"p/x.rego": "package p\n\nalert if {\n\tinput.proc.name == == 1\n}\n"})
	_, err := LoadBundle(dir, BundleOptions{})
	var re *Error
	if !errors.As(err, &re) || re.Pos != (policy.Pos{File: dir + "/p/x.rego", Line: 4, Column: 21}) || re.Source != "\tinput.proc.name == == 1" {
		t.Errorf("error %v: %+v", err, re)
	}
}
