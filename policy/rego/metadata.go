package rego

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/peregrine-sec/peregrine/policy"
)

// metaValue is one metadata key's value and where it was set.
type metaValue struct {
	val any
	loc *ast.Location
}

// metadata builds the rule (all but its condition) from the annotations
// of the package and of its alert rules.
func metadata(c *ast.Compiler, pkgPath ast.Ref, modules []*ast.Module, alerts []*ast.Rule) (*policy.Rule, error) {
	alertPath := pkgPath.Append(ast.StringTerm("alert")).String()
	own := map[string]metaValue{}
	var conflict error
	set := func(m map[string]metaValue, key string, v any, a *ast.Annotations, strict bool) {
		if v == nil || v == "" || conflict != nil {
			return
		}
		if prev, ok := m[key]; ok {
			if strict && !reflect.DeepEqual(prev.val, v) {
				conflict = errorf(a.Location, "conflicting metadata: %s is %v here and %v at %s",
					key, show(v), show(prev.val), locPos(prev.loc))
			}
			return
		}
		m[key] = metaValue{v, a.Location}
	}
	add := func(m map[string]metaValue, a *ast.Annotations, strict bool) {
		set(m, "title", a.Title, a, strict)
		set(m, "description", a.Description, a, strict)
		for k, v := range a.Custom {
			set(m, "custom."+k, v, a, strict)
		}
	}
	for _, m := range modules {
		for _, a := range m.Annotations {
			target := a.GetTargetPath()
			switch {
			case a.Scope == "package" && target.Equal(pkgPath),
				(a.Scope == "rule" || a.Scope == "document") && target.String() == alertPath:
				add(own, a, true)
			}
		}
	}
	if conflict != nil {
		return nil, conflict
	}
	// Subpackages-scope annotations of this package and its parents are
	// defaults: the nearest wins, the package's own override them.
	inherited := map[string]metaValue{}
	subs := c.GetAnnotationSet().GetSubpackagesScope(pkgPath)
	for i := len(subs) - 1; i >= 0; i-- {
		add(inherited, subs[i], false)
	}
	for k, v := range inherited {
		if _, ok := own[k]; !ok {
			own[k] = v
		}
	}

	first := alerts[0]
	r := &policy.Rule{
		Name:     strings.TrimPrefix(pkgPath.String(), "data."),
		Priority: DefaultPriority,
		Source:   "syscall",
		Enabled:  true,
		Pos:      locPos(first.Location),
	}
	str := func(key string) (string, error) {
		mv, ok := own[key]
		if !ok {
			return "", nil
		}
		s, isStr := mv.val.(string)
		if !isStr {
			return "", errorf(mv.loc, "metadata %s must be a string, not %s", key, show(mv.val))
		}
		return s, nil
	}
	var err error
	if t, err := str("title"); err != nil {
		return nil, err
	} else if t != "" {
		r.Name = t
	}
	if r.Desc, err = str("description"); err != nil {
		return nil, err
	}
	if r.Desc == "" {
		r.Desc = r.Name
	}
	if p, err := str("custom.priority"); err != nil {
		return nil, err
	} else if p != "" {
		if r.Priority, err = policy.ParsePriority(p); err != nil {
			return nil, errorf(own["custom.priority"].loc, "metadata custom.priority: %v", err)
		}
	}
	if mv, ok := own["custom.tags"]; ok {
		list, isList := mv.val.([]any)
		if !isList {
			return nil, errorf(mv.loc, "metadata custom.tags must be a list of strings, not %s", show(mv.val))
		}
		for _, x := range list {
			s, isStr := x.(string)
			if !isStr {
				return nil, errorf(mv.loc, "metadata custom.tags must be a list of strings; %s is not a string", show(x))
			}
			r.Tags = append(r.Tags, s)
		}
	}
	for _, k := range policy.NoiseKeys {
		if mv, ok := own["custom."+k]; ok {
			if err := policy.ParseNoise(k, mv.val, &r.Noise); err != nil {
				return nil, errorf(mv.loc, "metadata custom.%v", err)
			}
		}
	}
	out, err := str("custom.output")
	if err != nil {
		return nil, err
	}
	if out == "" {
		out = strings.ReplaceAll(r.Name, "%", "%%") + DefaultOutput
	}
	if r.Output, err = parseOutput(out); err != nil {
		l := first.Location
		if mv, ok := own["custom.output"]; ok {
			l = mv.loc
		}
		return nil, errorf(l, "metadata custom.output: %v", err)
	}
	return r, nil
}

func show(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%v", v)
}

// parseOutput parses custom.output: the syntax of Falco's output key,
// plus %% for a percent sign (policy.ParseOutputEscaped). Its errors name
// no offset: the error is at the metadata's position.
func parseOutput(s string) (policy.Template, error) {
	t, err := policy.ParseOutputEscaped(s)
	var se *policy.SyntaxError
	if errors.As(err, &se) {
		return t, errors.New(se.Msg)
	}
	return t, err
}
