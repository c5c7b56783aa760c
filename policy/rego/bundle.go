package rego

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/keys"

	"github.com/peregrine-sec/peregrine/policy"
)

// DefaultKeyID is the key id of BundleOptions.VerificationKey when
// KeyID is empty, as for opa run --verification-key-id.
const DefaultKeyID = "default"

// DefaultSigningAlg is the algorithm of the verification key when
// Algorithm is empty, as for opa run --signing-alg.
const DefaultSigningAlg = "RS256"

// DefaultBundleSizeLimit bounds each file of a bundle, and a downloaded
// bundle, when BundleOptions.SizeLimitBytes is 0.
const DefaultBundleSizeLimit = 64 << 20

// ErrVerification is wrapped by the errors of bundles that are refused
// because their signature is missing, invalid, or does not cover their
// files (errors.Is(err, ErrVerification)).
var ErrVerification = errors.New("bundle signature verification failed")

// BundleOptions tell LoadBundle how to verify a bundle. They follow the
// flags of opa run.
type BundleOptions struct {
	// VerificationKey is the PEM public key (RSA, ECDSA) or the HMAC
	// secret that the bundle's signature must verify with, or the path
	// of a file holding it (--verification-key). When it is set, an
	// unsigned bundle, a bad signature, or a file whose digest differs
	// from the signed one is refused with ErrVerification.
	VerificationKey string
	// KeyID names the key (--verification-key-id); default DefaultKeyID.
	KeyID string
	// Algorithm is the signing algorithm (--signing-alg): RS256, RS384,
	// RS512, PS256, PS384, PS512, ES256, ES384, ES512, HS256, HS384,
	// HS512; default DefaultSigningAlg.
	Algorithm string
	// Scope is the scope the signature must carry (--scope).
	Scope string
	// ExcludeFiles are the patterns (path.Match, relative to the bundle
	// root) of files left out of verification (--exclude-files-verify).
	ExcludeFiles []string
	// SkipVerification loads a signed bundle without checking its
	// signature (--skip-verify) when VerificationKey is empty. Without
	// it, a signed bundle needs a key.
	SkipVerification bool
	// SizeLimitBytes bounds each file of the bundle, and a downloaded
	// bundle; default DefaultBundleSizeLimit.
	SizeLimitBytes int64
}

func (o BundleOptions) sizeLimit() int64 {
	if o.SizeLimitBytes > 0 {
		return o.SizeLimitBytes
	}
	return DefaultBundleSizeLimit
}

// verificationConfig is OPA's verification config for the options, nil
// without a key.
func (o BundleOptions) verificationConfig() (*bundle.VerificationConfig, error) {
	if o.VerificationKey == "" {
		return nil, nil
	}
	alg := o.Algorithm
	if alg == "" {
		alg = DefaultSigningAlg
	}
	if !keys.IsSupportedAlgorithm(alg) {
		return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	id := o.KeyID
	if id == "" {
		id = DefaultKeyID
	}
	key, err := keyData(o.VerificationKey)
	if err != nil {
		return nil, err
	}
	kc := &keys.Config{Key: key, Algorithm: alg, Scope: o.Scope}
	return bundle.NewVerificationConfig(map[string]*keys.Config{id: kc}, id, o.Scope, o.ExcludeFiles), nil
}

// keyData is the key itself when it is PEM, else the content of the
// file it names, else the key itself (an HMAC secret). (OPA's
// keys.NewKeyConfig fails on PEM keys whose base64 has a run of more
// than 255 characters between slashes, as a file name too long.)
func keyData(key string) (string, error) {
	if strings.HasPrefix(strings.TrimSpace(key), "-----BEGIN") {
		return key, nil
	}
	fi, err := os.Stat(key)
	if err != nil || !fi.Mode().IsRegular() {
		return key, nil
	}
	raw, err := os.ReadFile(key)
	if err != nil {
		return "", fmt.Errorf("verification key: %w", err)
	}
	return string(raw), nil
}

// Bundle is a loaded OPA bundle.
type Bundle struct {
	// Source is the bundle's directory, tarball or URL.
	Source string
	// Revision is the manifest's revision ("" when it has none).
	Revision string
	// Roots are the manifest's roots (nil: the whole data tree).
	Roots []string
	// Rules are the rules of the bundle's Rego modules, which see Data.
	Rules []*policy.Rule
	// Warnings are Load's warnings about the modules, and Lists the Falco
	// lists they read (see Loaded).
	Warnings []*policy.Diagnostic
	Lists    []string
	// Data is the bundle's data documents (data.json, data.yaml and
	// data.yml files, each at its directory's path).
	Data map[string]any
	// Modules are the names of the Rego modules, as errors name them.
	Modules []string
	// Signed reports whether the bundle's signature was verified.
	Signed bool
	// ETag is the HTTP entity tag the bundle was served with.
	ETag string
	// modules holds the sources of the Rego modules, by Modules' names.
	modules map[string][]byte
	// extra are the documents the rules see beside Data (see WithData).
	extra map[string]any
}

// LoadBundle loads an OPA bundle: a directory or a gzipped tarball (as
// opa build writes). Its Rego modules become rules (see Load) that see
// its data documents (see LoadWithData). With opts.VerificationKey its
// signature (.signatures.json) is verified first. Errors name the file,
// and line:col for Rego errors.
func LoadBundle(path string, opts BundleOptions) (*Bundle, error) {
	return LoadBundleWithData(path, opts, nil)
}

// LoadBundleWithData is LoadBundle with data documents beside the
// bundle's own: the rules see both (the lists of the Falco files loaded
// alongside are passed so, as data.falco.lists). A document that both
// define is an error.
func LoadBundleWithData(path string, opts BundleOptions, data map[string]any) (*Bundle, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return readBundle(path, opts, data, func() bundle.DirectoryLoader {
			return bundle.NewDirectoryLoader(path).WithSizeLimitBytes(opts.sizeLimit())
		})
	}
	if fi.Size() > opts.sizeLimit() {
		return nil, fmt.Errorf("%s: %d bytes exceed the bundle size limit of %d bytes", path, fi.Size(), opts.sizeLimit())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return readTarball(path, raw, opts, data)
}

// ReadBundle loads a bundle tarball held in memory; name is its source,
// which errors name.
func ReadBundle(name string, tarball []byte, opts BundleOptions) (*Bundle, error) {
	return readTarball(name, tarball, opts, nil)
}

func readTarball(name string, tarball []byte, opts BundleOptions, data map[string]any) (*Bundle, error) {
	if !bytes.HasPrefix(tarball, []byte{0x1f, 0x8b}) {
		return nil, fmt.Errorf("%s: not a bundle: neither a directory nor a gzipped tarball", name)
	}
	return readBundle(name, opts, data, func() bundle.DirectoryLoader {
		return bundle.NewTarballLoaderWithBaseURL(bytes.NewReader(tarball), "").WithSizeLimitBytes(opts.sizeLimit())
	})
}

// readBundle reads the bundle that loader reads (twice when the first
// read fails, to tell verification errors from others); its rules see
// extra beside its data documents.
func readBundle(name string, opts BundleOptions, extra map[string]any, loader func() bundle.DirectoryLoader) (*Bundle, error) {
	vc, err := opts.verificationConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	reader := func(verify bool) *bundle.Reader {
		r := bundle.NewCustomReader(loader()).
			WithRegoVersion(ast.RegoV1).
			WithProcessAnnotations(true).
			WithSizeLimitBytes(opts.sizeLimit() + 1)
		if verify {
			r = r.WithBundleVerificationConfig(vc).WithSkipBundleVerification(vc == nil && opts.SkipVerification)
		} else {
			r = r.WithSkipBundleVerification(true)
		}
		return r
	}
	b, err := reader(true).Read()
	if err != nil {
		var astErrs ast.Errors
		if errors.As(err, &astErrs) {
			return nil, bundleASTErrors(name, astErrs, loader(), opts.sizeLimit())
		}
		// A bundle that reads without verification, or fails otherwise,
		// failed verification.
		if _, err2 := reader(false).Read(); err2 == nil || err2.Error() != err.Error() {
			if vc == nil {
				return nil, fmt.Errorf("%s: %w: the bundle is signed and no verification key was given (%v)", name, ErrVerification, err)
			}
			return nil, fmt.Errorf("%s: %w: %v", name, ErrVerification, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if b.Type() != bundle.SnapshotBundleType {
		return nil, fmt.Errorf("%s: %s bundles are not supported", name, b.Type())
	}
	if v := b.Manifest.RegoVersion; v != nil && *v != 1 {
		return nil, fmt.Errorf("%s: .manifest: rego_version %d: Peregrine rules are Rego v1", name, *v)
	}
	for f, v := range b.Manifest.FileRegoVersions {
		if v != 1 {
			return nil, fmt.Errorf("%s: .manifest: file_rego_versions: %s has rego_version %d: Peregrine rules are Rego v1", name, f, v)
		}
	}
	if len(b.WasmModules) > 0 || len(b.PlanModules) > 0 {
		return nil, fmt.Errorf("%s: Wasm and plan bundles are not supported: build the bundle without -t wasm or -t plan", name)
	}
	files := make(map[string][]byte, len(b.Modules))
	var mods []string
	for _, m := range b.Modules {
		n := fileName(name, m.Path)
		files[n] = m.Raw
		mods = append(mods, n)
	}
	sort.Strings(mods)
	out := &Bundle{
		Source:   name,
		Revision: b.Manifest.Revision,
		Data:     b.Data,
		Modules:  mods,
		Signed:   vc != nil,
		modules:  files,
	}
	if b.Manifest.Roots != nil {
		out.Roots = append([]string{}, *b.Manifest.Roots...)
	}
	if out.Data == nil {
		out.Data = map[string]any{}
	}
	return out.WithData(extra)
}

// WithData returns b with rules that see data beside the bundle's own
// documents (compiled again; b is not changed). A document that both
// define is an error. nil gives rules that see the bundle's documents
// alone.
func (b *Bundle) WithData(data map[string]any) (*Bundle, error) {
	all, err := mergeData(b.Data, data)
	if err != nil {
		return nil, fmt.Errorf("%s: data documents: %w", b.Source, err)
	}
	gen, err := DataModules(all)
	if err != nil {
		return nil, fmt.Errorf("%s: data documents: %w", b.Source, err)
	}
	files := make(map[string][]byte, len(b.modules)+len(gen))
	for n, src := range b.modules {
		files[n] = src
	}
	for n, src := range gen {
		files[n] = src
	}
	// Load's errors name the files.
	l, err := Load(files)
	if err != nil {
		return nil, err
	}
	out := *b
	out.Rules, out.Warnings, out.Lists, out.extra = l.Rules, l.Warnings, l.Lists, data
	return &out, nil
}

// Extra returns the documents b's rules see beside its own (WithData).
func (b *Bundle) Extra() map[string]any { return b.extra }

// mergeData returns the documents of own and extra together; a value
// that both define (other than objects, which merge) is an error.
func mergeData(own, extra map[string]any) (map[string]any, error) {
	if len(extra) == 0 {
		return own, nil
	}
	var errs []error
	var merge func(path string, a, b map[string]any) map[string]any
	merge = func(path string, a, b map[string]any) map[string]any {
		out := make(map[string]any, len(a)+len(b))
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			prev, dup := out[k]
			if !dup {
				out[k] = v
				continue
			}
			at := path + refString([]string{k})
			pa, ok1 := prev.(map[string]any)
			pb, ok2 := v.(map[string]any)
			if !ok1 || !ok2 {
				errs = append(errs, fmt.Errorf("%s is defined by the bundle and outside it", at))
				continue
			}
			out[k] = merge(at, pa, pb)
		}
		return out
	}
	all := merge("data", own, extra)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return all, nil
}

// fileName names a file of bundle name: a path under the directory, or
// the tarball's name and the path inside it.
func fileName(name, p string) string {
	p = strings.TrimPrefix(filepath.ToSlash(p), "/")
	return strings.TrimSuffix(name, "/") + "/" + p
}

// bundleASTErrors names the files of OPA's parse errors after the bundle,
// and gives them their source lines, read again from files.
func bundleASTErrors(name string, list ast.Errors, files bundle.DirectoryLoader, limit int64) error {
	out := make([]error, 0, len(list))
	at := map[string][]*Error{} // by the file's path in the bundle
	for _, e := range list {
		err := &Error{Msg: e.Code + ": " + e.Message}
		if e.Location != nil {
			err.Pos = policy.Pos{File: fileName(name, e.Location.File), Line: e.Location.Row, Column: e.Location.Col}
			at[e.Location.File] = append(at[e.Location.File], err)
		}
		out = append(out, err)
	}
	for len(at) > 0 {
		d, err := files.NextFile()
		if err != nil {
			break // io.EOF, or the read error the reader reported
		}
		if errs := at[d.Path()]; errs != nil {
			var src bytes.Buffer
			// Read copies up to limit bytes: io.EOF ends a whole file.
			if _, err := d.Read(&src, limit); err == nil || errors.Is(err, io.EOF) {
				for _, e := range errs {
					e.Source = sourceLine(src.Bytes(), e.Pos.Line)
				}
			}
			delete(at, d.Path())
		}
		_ = d.Close() // a read-only file: nothing to lose
	}
	return errors.Join(out...)
}

// readLimited reads r up to limit bytes, and fails past it.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("the bundle exceeds the size limit of %d bytes", limit)
	}
	return raw, nil
}
