package rego

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/policy"
)

// The bundle of the tests: one rule that reads data.json, one that reads
// data.yaml, revision rev-1.
const shellRego = `# METADATA
# title: Shell from bundle
# custom:
#   priority: Critical
#   tags: [shell]
package peregrine.shell

alert if {
	input.evt.type == "execve"
	input.proc.name in data.lists.shells
}
`

const adminRego = `# METADATA
# title: Admin from bundle
package peregrine.admin

alert if {
	input.evt.type == "execve"
	input.user.uid in data.lists.admins.uids
}
`

func writeFiles(t testing.TB, dir string, files map[string]string) {
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

// bundleDir writes the test bundle to a new directory.
func bundleDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	writeFiles(t, dir, map[string]string{
		".manifest":                  `{"revision": "rev-1", "roots": ["peregrine", "lists"]}`,
		"peregrine/shell/shell.rego": shellRego,
		"peregrine/admin/admin.rego": adminRego,
		"lists/data.json":            `{"shells": ["bash", "sh"]}`,
		"lists/admins/data.yaml":     "uids:\n  - 0\n",
	})
	return dir
}

func ruleByName(rules []*policy.Rule, name string) *policy.Rule {
	for _, r := range rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// checkTestBundle checks the rules and data of the test bundle.
func checkTestBundle(t *testing.T, b *Bundle) {
	t.Helper()
	if b.Revision != "rev-1" {
		t.Errorf("revision %q, want rev-1", b.Revision)
	}
	if strings.Join(b.Roots, ",") != "peregrine,lists" {
		t.Errorf("roots %q", b.Roots)
	}
	if len(b.Rules) != 2 {
		t.Fatalf("%d rules, want 2", len(b.Rules))
	}
	shell := ruleByName(b.Rules, "Shell from bundle")
	if shell == nil {
		t.Fatalf("no rule Shell from bundle: %v", b.Rules)
	}
	if shell.Priority != policy.PriorityCritical {
		t.Errorf("priority %v", shell.Priority)
	}
	if got := shell.Condition.String(); !strings.Contains(got, "proc.name in (bash, sh)") || !strings.Contains(got, "evt.type = execve") {
		t.Errorf("shell condition %s", got)
	}
	admin := ruleByName(b.Rules, "Admin from bundle")
	if admin == nil {
		t.Fatalf("no rule Admin from bundle")
	}
	if got := admin.Condition.String(); !strings.Contains(got, "user.uid") || strings.Contains(got, "rego(") {
		t.Errorf("admin condition %s", got)
	}
	lists, _ := b.Data["lists"].(map[string]any)
	if lists == nil || lists["shells"] == nil || lists["admins"] == nil {
		t.Errorf("data %v", b.Data)
	}
	if len(b.Modules) != 2 {
		t.Errorf("modules %v", b.Modules)
	}
	for _, m := range b.Modules {
		if !strings.HasPrefix(m, b.Source+"/peregrine/") {
			t.Errorf("module %s not named after the bundle %s", m, b.Source)
		}
	}
}

func TestLoadBundleDir(t *testing.T) {
	dir := bundleDir(t)
	b, err := LoadBundle(dir, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkTestBundle(t, b)
	if b.Signed {
		t.Error("an unsigned bundle is Signed")
	}
	// A key makes a signature necessary.
	_, err = LoadBundle(dir, BundleOptions{VerificationKey: "secret", Algorithm: "HS256"})
	if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), ".signatures.json") {
		t.Errorf("unsigned bundle with a key: %v", err)
	}
}

// TestBundleWithData: documents given beside a bundle's own are seen by
// its rules (the lists of the Falco files loaded alongside); a document
// both define is an error.
func TestBundleWithData(t *testing.T) {
	dir := bundleDir(t)
	writeFiles(t, dir, map[string]string{"peregrine/pets/pets.rego": `# METADATA
# title: Pets from bundle
package peregrine.pets

alert if {
	input.evt.type == "execve"
	input.proc.name in data.falco.lists.pets
}
`})
	extra := map[string]any{"falco": map[string]any{"lists": map[string]any{"pets": []any{"cat"}}}}
	b, err := LoadBundleWithData(dir, BundleOptions{}, extra)
	if err != nil {
		t.Fatal(err)
	}
	if got := ruleByName(b.Rules, "Pets from bundle").Condition.String(); !strings.Contains(got, "proc.name in (cat)") {
		t.Errorf("pets condition %s", got)
	}
	if _, ok := b.Data["falco"]; ok {
		t.Errorf("the extra documents are in the bundle's own: %v", b.Data)
	}
	// Without them the rule never fires; WithData compiles it again.
	plain, err := LoadBundle(dir, BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ruleByName(plain.Rules, "Pets from bundle").Condition.String(); strings.Contains(got, "cat") {
		t.Errorf("pets condition without the lists %s", got)
	}
	again, err := plain.WithData(extra)
	if err != nil {
		t.Fatal(err)
	}
	if ruleByName(again.Rules, "Pets from bundle").Condition.String() != ruleByName(b.Rules, "Pets from bundle").Condition.String() ||
		ruleByName(plain.Rules, "Pets from bundle").Condition.String() == ruleByName(again.Rules, "Pets from bundle").Condition.String() {
		t.Error("WithData does not give LoadBundleWithData's rules, or changed its receiver")
	}
	if len(again.Rules) != 3 || again.Revision != "rev-1" || again.Source != dir {
		t.Errorf("WithData: %d rules, revision %q, source %q", len(again.Rules), again.Revision, again.Source)
	}
	// data.lists is the bundle's.
	_, err = plain.WithData(map[string]any{"lists": map[string]any{"shells": []any{"zsh"}, "other": 1}})
	if err == nil || !strings.Contains(err.Error(), "data.lists.shells is defined by the bundle and outside it") {
		t.Errorf("a clash: %v", err)
	}
}

func TestLoadBundleErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // in the error, after the bundle directory
	}{
		{"parse", map[string]string{"p/x.rego": "package p\n\nalert if {\n\tinput.proc.name ==\n}\n"},
			"/p/x.rego:5:1: rego_parse_error"},
		{"refused builtin", map[string]string{"p/x.rego": "package p\n\nalert if {\n\ttime.now_ns() > 0\n}\n"},
			"/p/x.rego:4:2: builtin time.now_ns is not allowed"},
		{"compile", map[string]string{"p/x.rego": "package p\n\nalert if {\n\tundefined_fn(input.proc.name)\n}\n"},
			"/p/x.rego:4:2: rego_type_error"},
		{"data scalar", map[string]string{"data.json": `{"limit": 3}`, "p/x.rego": "package p\nalert if input.evt.type == \"open\"\n"},
			": data documents: data.limit: a data document must be an object of objects"},
		{"data alert", map[string]string{"p/data.json": `{"alert": true}`, "p/x.rego": "package q\nalert if input.evt.type == \"open\"\n"},
			"data.p.alert: alert is reserved"},
		{"outside roots", map[string]string{".manifest": `{"roots": ["a"]}`, "p/x.rego": "package p\nalert if input.evt.type == \"open\"\n"},
			"do not permit 'package p' in module '/p/x.rego'"},
		{"rego v0", map[string]string{".manifest": `{"rego_version": 0}`, "p/x.rego": "package p\nalert { input.evt.type == \"open\" }\n"},
			"rego_version 0"},
		{"bad json", map[string]string{"p/data.json": `{"a": `},
			"bundle load failed on /p/data.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			_, err := LoadBundle(dir, BundleOptions{})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant %q after %s", err, tc.want, dir)
			}
		})
	}
	if _, err := LoadBundle(filepath.Join(t.TempDir(), "none.tar.gz"), BundleOptions{}); err == nil {
		t.Error("a missing bundle loads")
	}
	notGz := filepath.Join(t.TempDir(), "x.tar.gz")
	writeFiles(t, filepath.Dir(notGz), map[string]string{"x.tar.gz": "package p"})
	if _, err := LoadBundle(notGz, BundleOptions{}); err == nil || !strings.Contains(err.Error(), "gzipped tarball") {
		t.Errorf("not a tarball: %v", err)
	}
	if _, err := LoadBundle(bundleDir(t), BundleOptions{VerificationKey: "k", Algorithm: "XX1"}); err == nil ||
		!strings.Contains(err.Error(), "unsupported signing algorithm") {
		t.Errorf("bad algorithm: %v", err)
	}
}

func TestDataModules(t *testing.T) {
	data := map[string]any{
		"lists": map[string]any{
			"shells":     []any{"bash"},
			"bad-names":  map[string]any{"xy": "z", "ok": 1},
			"nested":     map[string]any{"if": map[string]any{"deep": true}},
			"empty":      map[string]any{},
			"weird key!": map[string]any{"v": "w"},
		},
	}
	mods, err := DataModules(data)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range mods {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(mods) != 3 {
		t.Fatalf("modules %v", names)
	}
	got := string(mods["<data>/lists.rego"]) + string(mods[`<data>/lists["bad-names"].rego`]) + string(mods[`<data>/lists["weird key!"].rego`])
	for _, want := range []string{"package lists\n", `empty := {}`, `nested["if"].deep := true`, `shells := ["bash"]`,
		`package lists["bad-names"]`, `xy := "z"`, `package lists["weird key!"]`, `v := "w"`} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	// The rules see the documents as OPA's data.
	src := `package p

alert if {
	input.evt.type == "execve"
	input.proc.name in data.lists.shells
	data.lists["bad-names"].xy == "z"
	data.lists["bad-names"].ok == 1
	data.lists.nested["if"].deep
	data.lists["weird key!"].v == "w"
	count(data.lists.empty) == 0
}
`
	l, err := LoadWithData(map[string][]byte{"p.rego": []byte(src)}, data)
	if err != nil {
		t.Fatal(err)
	}
	rules := l.Rules
	if len(rules) != 1 {
		t.Fatalf("%d rules", len(rules))
	}
	if got, want := rules[0].Condition.String(), "(evt.type = execve and proc.name in (bash))"; got != want {
		t.Errorf("condition %s, want %s", got, want)
	}
	// A rule and a document at one path conflict.
	_, err = LoadWithData(map[string][]byte{"p.rego": []byte(src + "\n"),
		"l.rego": []byte("package lists\nshells := [\"sh\"]\n")}, data)
	if err == nil {
		t.Error("a rule and a document at data.lists.shells load")
	}
	for _, bad := range []map[string]any{
		{"x": 1},
		{"a-b": map[string]any{"c": 1}},
		{"a": map[string]any{"b-c": 1}},
		{"if": map[string]any{"c": 1}},
		{"p": map[string]any{"alert": true}},
	} {
		if _, err := DataModules(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// opa is the OPA CLI, installed from the Go module proxy.
type opaCLI struct{ bin string }

// installOPA installs the OPA CLI of go.mod's version into dir; it skips
// the test when that is impossible, and fails it under CI.
func installOPA(t *testing.T, dir string) *opaCLI {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format+" (the test needs the OPA CLI; under CI this fails)", args...)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		skip("no go command to install the OPA CLI with: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "install", "github.com/open-policy-agent/opa@v1.22.3")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=-buildvcs=false")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		skip("go install github.com/open-policy-agent/opa@v1.22.3: %v\n%s", err, out)
	}
	t.Logf("installed the OPA CLI in %v", time.Since(start).Round(time.Millisecond))
	return &opaCLI{bin: filepath.Join(dir, "opa")}
}

// run runs opa in dir.
func (o *opaCLI) run(t *testing.T, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.bin, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("opa %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// rsaKeys writes a new RSA key pair as PEM files and returns their
// paths and the public key's PEM.
func rsaKeys(t testing.TB, dir, name string) (priv, pub, pubPEM string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pubPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	priv, pub = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".pub.pem")
	if err := os.WriteFile(priv, privPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, []byte(pubPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, pub, pubPEM
}

// rewriteTarball rewrites the files of a bundle tarball with edit, which
// returns the new content, or nil to drop the file; add files are added.
func rewriteTarball(t testing.TB, raw []byte, edit func(name string, data []byte) []byte, add map[string]string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	write := func(h *tar.Header, data []byte) {
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if data = edit(h.Name, data); data == nil {
				continue
			}
		}
		write(h, data)
	}
	for name, src := range add {
		write(&tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg}, []byte(src))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// tamper changes bash to zsh in the shell rule of a bundle tarball.
func tamper(t testing.TB, raw []byte) []byte {
	t.Helper()
	changed := false
	out := rewriteTarball(t, raw, func(name string, data []byte) []byte {
		if strings.HasSuffix(name, "shell.rego") {
			changed = true
			return bytes.ReplaceAll(data, []byte(`input.evt.type == "execve"`), []byte(`input.evt.type == "execveat"`))
		}
		return data
	}, nil)
	if !changed {
		t.Fatal("no shell.rego in the tarball")
	}
	return out
}

// TestOPABuild loads bundles that opa build made: plain, signed with RSA
// and HMAC keys, tampered with after signing.
func TestOPABuild(t *testing.T) {
	tmp := t.TempDir()
	opa := installOPA(t, tmp)
	dir := bundleDir(t)

	t.Run("tarball", func(t *testing.T) {
		out := filepath.Join(tmp, "bundle.tar.gz")
		opa.run(t, dir, "build", "-b", ".", "-o", out)
		b, err := LoadBundle(out, BundleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checkTestBundle(t, b)
		// A revision set by opa build.
		out2 := filepath.Join(tmp, "bundle2.tar.gz")
		opa.run(t, dir, "build", "-b", ".", "-o", out2, "--revision", "rev-9")
		b, err = LoadBundle(out2, BundleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if b.Revision != "rev-9" {
			t.Errorf("revision %q, want rev-9", b.Revision)
		}
	})

	priv, pub, pubPEM := rsaKeys(t, tmp, "key")
	signed := filepath.Join(tmp, "signed.tar.gz")
	opa.run(t, dir, "build", "-b", ".", "-o", signed, "--signing-key", priv)

	t.Run("signed", func(t *testing.T) {
		for _, key := range []string{pubPEM, pub} {
			b, err := LoadBundle(signed, BundleOptions{VerificationKey: key})
			if err != nil {
				t.Fatal(err)
			}
			checkTestBundle(t, b)
			if !b.Signed {
				t.Error("not Signed")
			}
		}
		// Another key, another key id, another scope.
		_, _, otherPEM := rsaKeys(t, t.TempDir(), "other")
		for name, opts := range map[string]BundleOptions{
			"other key":   {VerificationKey: otherPEM},
			"other alg":   {VerificationKey: pubPEM, Algorithm: "PS256"},
			"other scope": {VerificationKey: pubPEM, Scope: "write"},
		} {
			if _, err := LoadBundle(signed, opts); !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), signed) {
				t.Errorf("%s: %v", name, err)
			}
		}
		// A signed bundle needs a key, or SkipVerification.
		if _, err := LoadBundle(signed, BundleOptions{}); !errors.Is(err, ErrVerification) {
			t.Errorf("no key: %v", err)
		}
		if b, err := LoadBundle(signed, BundleOptions{SkipVerification: true}); err != nil || b.Signed {
			t.Errorf("skip verification: %v", err)
		}
	})

	t.Run("unsigned refused", func(t *testing.T) {
		out := filepath.Join(tmp, "unsigned.tar.gz")
		opa.run(t, dir, "build", "-b", ".", "-o", out)
		_, err := LoadBundle(out, BundleOptions{VerificationKey: pubPEM})
		if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), "missing .signatures.json") {
			t.Errorf("unsigned: %v", err)
		}
	})

	t.Run("tampered refused", func(t *testing.T) {
		raw, err := os.ReadFile(signed)
		if err != nil {
			t.Fatal(err)
		}
		cases := map[string][]byte{
			"modified": tamper(t, raw),
			"added": rewriteTarball(t, raw, func(_ string, d []byte) []byte { return d },
				map[string]string{"/peregrine/extra/x.rego": "package peregrine.extra\nalert if input.evt.type == \"open\"\n"}),
			"data": rewriteTarball(t, raw, func(n string, d []byte) []byte {
				if strings.HasSuffix(n, "data.json") {
					return bytes.ReplaceAll(d, []byte(`"bash"`), []byte(`"zsh"`))
				}
				return d
			}, nil),
			"removed signature": rewriteTarball(t, raw, func(n string, d []byte) []byte {
				if strings.HasSuffix(n, ".signatures.json") {
					return nil
				}
				return d
			}, nil),
		}
		wants := map[string]string{"modified": "digest mismatch", "added": "not included in bundle signature",
			"data": "digest mismatch", "removed signature": "missing .signatures.json"}
		for name, tb := range cases {
			p := filepath.Join(tmp, strings.ReplaceAll(name, " ", "-")+".tar.gz")
			if err := os.WriteFile(p, tb, 0o644); err != nil {
				t.Fatal(err)
			}
			// The tampered bundle is fine without verification.
			if _, err := LoadBundle(p, BundleOptions{SkipVerification: true}); err != nil {
				t.Errorf("%s: without verification: %v", name, err)
			}
			_, err := LoadBundle(p, BundleOptions{VerificationKey: pubPEM})
			if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), wants[name]) {
				t.Errorf("%s: %v, want %s", name, err, wants[name])
			}
		}
	})

	t.Run("hmac, key id, scope", func(t *testing.T) {
		out := filepath.Join(tmp, "hmac.tar.gz")
		claims := filepath.Join(tmp, "claims.json")
		writeFiles(t, tmp, map[string]string{"claims.json": `{"scope": "read"}`})
		opa.run(t, dir, "build", "-b", ".", "-o", out, "--signing-alg", "HS256", "--signing-key", "s3cret",
			"--verification-key-id", "k1", "--claims-file", claims)
		b, err := LoadBundle(out, BundleOptions{VerificationKey: "s3cret", Algorithm: "HS256", KeyID: "k1", Scope: "read"})
		if err != nil {
			t.Fatal(err)
		}
		checkTestBundle(t, b)
		if _, err := LoadBundle(out, BundleOptions{VerificationKey: "wrong", Algorithm: "HS256", KeyID: "k1", Scope: "read"}); !errors.Is(err, ErrVerification) {
			t.Errorf("wrong secret: %v", err)
		}
		if _, err := LoadBundle(out, BundleOptions{VerificationKey: "s3cret", Algorithm: "HS256", KeyID: "k1"}); !errors.Is(err, ErrVerification) ||
			!strings.Contains(err.Error(), "scope mismatch") {
			t.Errorf("no scope: %v", err)
		}
	})

	t.Run("signed directory", func(t *testing.T) {
		sdir := bundleDir(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, opa.bin, "sign", "--signing-key", priv, "--bundle", ".", "-o", ".")
		cmd.Dir = sdir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("opa sign: %v\n%s", err, out)
		}
		b, err := LoadBundle(sdir, BundleOptions{VerificationKey: pubPEM})
		if err != nil {
			t.Fatal(err)
		}
		checkTestBundle(t, b)
		writeFiles(t, sdir, map[string]string{"lists/data.json": `{"shells": ["zsh"]}`})
		if _, err := LoadBundle(sdir, BundleOptions{VerificationKey: pubPEM}); !errors.Is(err, ErrVerification) {
			t.Errorf("tampered directory: %v", err)
		}
	})
}
