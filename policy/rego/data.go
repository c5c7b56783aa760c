package rego

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// DataFilePrefix starts the names of the modules that LoadWithData
// generates from data documents (errors in them name
// <data>/pkg.rego).
const DataFilePrefix = "<data>/"

// LoadWithData is Load with data documents: data is the value of the
// data root document (as OPA's bundle reader or encoding/json decodes it:
// objects, arrays, strings, numbers, booleans, null). The rules see it as
// data.<path>, as OPA does.
//
// Load prepares its queries without a store, so the documents become
// Rego: every leaf (a value that is not a non-empty object) at data.a.b.c
// becomes the constant rule b.c := <value> of package a, which partial
// evaluation folds into the rules that read it. Hence a leaf must lie
// below a top-level object, the top-level key must be a Rego identifier,
// and one key after it must be one too; a key named alert directly below
// a package, or a package starting with the reserved prefix, is refused.
// A data path that a Rego rule defines too is a conflict, reported by
// the compiler.
func LoadWithData(files map[string][]byte, data map[string]any) (*Loaded, error) {
	gen, err := DataModules(data)
	if err != nil {
		return &Loaded{}, err
	}
	if len(gen) == 0 {
		return Load(files)
	}
	all := make(map[string][]byte, len(files)+len(gen))
	for n, src := range files {
		all[n] = src
	}
	for n, src := range gen {
		if _, dup := all[n]; dup {
			return &Loaded{}, fmt.Errorf("%s: a module has the name of a generated data module", n)
		}
		all[n] = src
	}
	return Load(all)
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// isRuleName reports whether s can be a rule's name (a Rego variable).
func isRuleName(s string) bool {
	return identifier.MatchString(s) && !ast.IsKeywordInRegoVersion(s, ast.RegoV1) &&
		s != "input" && s != "data"
}

// DataModules returns the Rego modules (file name -> source) that stand
// for the data documents in LoadWithData.
func DataModules(data map[string]any) (map[string][]byte, error) {
	type leaf struct {
		path  []string
		value any
	}
	var leaves []leaf
	var walk func(path []string, v any)
	walk = func(path []string, v any) {
		if obj, ok := v.(map[string]any); ok && (len(obj) > 0 || len(path) < 2) {
			for k, x := range obj {
				walk(append(path[:len(path):len(path)], k), x)
			}
			return
		}
		leaves = append(leaves, leaf{path: path, value: v})
	}
	walk(nil, data)
	sort.Slice(leaves, func(i, j int) bool {
		return strings.Join(leaves[i].path, "\x00") < strings.Join(leaves[j].path, "\x00")
	})
	pkgs := map[string]*strings.Builder{}
	var errs []error
	for _, l := range leaves {
		where := "data" + refString(l.path)
		if len(l.path) < 2 {
			errs = append(errs, fmt.Errorf("%s: a data document must be an object of objects: Peregrine turns data.a.b into rule b of package a", where))
			continue
		}
		if !isPackageHead(l.path[0]) {
			errs = append(errs, fmt.Errorf("%s: top-level data key %q is not a Rego identifier", where, l.path[0]))
			continue
		}
		if strings.HasPrefix(l.path[0], partialPrefix) {
			errs = append(errs, fmt.Errorf("%s: data keys starting with %s are reserved", where, partialPrefix))
			continue
		}
		i := 1
		for i < len(l.path) && !isRuleName(l.path[i]) {
			i++
		}
		if i == len(l.path) {
			errs = append(errs, fmt.Errorf("%s: no key after the first one is a Rego identifier", where))
			continue
		}
		if l.path[i] == "alert" {
			errs = append(errs, fmt.Errorf("%s: alert is reserved for rules and may not be a data key", where))
			continue
		}
		v, err := ast.InterfaceToValue(l.value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		pkg := l.path[0] + refString(l.path[1:i])
		b := pkgs[pkg]
		if b == nil {
			b = &strings.Builder{}
			pkgs[pkg] = b
			fmt.Fprintf(b, "package %s\n\n", pkg)
		}
		fmt.Fprintf(b, "%s%s := %s\n", l.path[i], refString(l.path[i+1:]), v)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out := make(map[string][]byte, len(pkgs))
	for pkg, b := range pkgs {
		out[DataFilePrefix+pkg+".rego"] = []byte(b.String())
	}
	return out, nil
}

// isPackageHead reports whether s can start a package path.
func isPackageHead(s string) bool {
	return identifier.MatchString(s) && !ast.IsKeywordInRegoVersion(s, ast.RegoV1)
}

// refString writes keys as the rest of a reference: .key for
// identifiers, ["key"] for the others.
func refString(keys []string) string {
	var b strings.Builder
	for _, k := range keys {
		if isRuleName(k) {
			b.WriteString("." + k)
		} else {
			b.WriteString("[" + ast.StringTerm(k).String() + "]")
		}
	}
	return b.String()
}
