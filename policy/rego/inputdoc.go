package rego

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
)

// EventOfInput returns the event whose input document is doc: the event a
// Rego rule would see as doc, for a document written as OPA takes one
// (opa eval -i). doc is a JSON object as encoding/json decodes it (numbers
// as json.Number or float64). It is Input's inverse: each path of the
// document is the field of the same dotted name (input.proc.name is
// proc.name), an ancestor field holds an array (input.proc.aname[i]),
// evt.arg and the other fields keyed by name an object. A path that is no
// field, or a key with a dot (the document nests: input.proc.name is
// {"proc": {"name": ...}}), is an error naming the path, as is a value of
// the wrong type for its field.
func EventOfInput(doc any, num uint64) (*policy.Event, error) {
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the input document is not a JSON object")
	}
	flat := map[string]any{}
	if err := flatten("", root, flat); err != nil {
		return nil, err
	}
	line, err := json.Marshal(flat)
	if err != nil {
		return nil, err
	}
	ev, err := policy.DecodeEvent(line, num)
	if err != nil {
		return nil, fmt.Errorf("the input document: %w", err)
	}
	return ev, nil
}

// flatten stores the fields of object obj, found at the dotted path
// prefix, into out under their names.
func flatten(prefix string, obj map[string]any, out map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := obj[k]
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		if strings.Contains(k, ".") {
			return fmt.Errorf("input.%s: the key %q holds a dot: the input document nests, input.proc.name is {\"proc\": {\"name\": ...}}", name, k)
		}
		sub, isObj := v.(map[string]any)
		f := policy.LookupField(name)
		switch {
		case f != nil && isObj && f.Arg != policy.ArgNone && f.Arg != policy.ArgIndexOptional:
			out[name] = v // a field keyed by name: evt.arg, proc.env
		case isObj && hasDeeper(name):
			// Names below: container.image.tag below container.image, or
			// proc.name below proc.
			if err := flatten(name, sub, out); err != nil {
				return err
			}
		case f != nil:
			out[name] = v // the decoder checks its type
		default:
			if s := policy.SuggestField(name); s != "" {
				return fmt.Errorf("input.%s: unknown field %q (did you mean %s?)", name, name, s)
			}
			return fmt.Errorf("input.%s: unknown field %q", name, name)
		}
	}
	return nil
}
