package rego

import "github.com/peregrine-sec/peregrine/policy"

// ShapeEntry is one path of the input document a Rego rule sees.
type ShapeEntry struct {
	Path string `json:"path"` // input.proc.name, input.proc.aname[i], input.evt.arg.NAME
	Type string `json:"type"` // the JSON type: string, number, boolean, array, object
	// Field is the catalog field the path holds.
	Field string `json:"field"`
	// Translated is true when comparisons on the path become IR
	// comparisons (and kernel predicates); otherwise OPA evaluates them.
	Translated bool `json:"translated"`
}

// Shape returns the input document's paths, in catalog order.
func Shape() []ShapeEntry {
	var out []ShapeEntry
	for _, f := range policy.Fields() {
		e := ShapeEntry{Path: "input." + f.Name, Field: f.Name, Type: jsonType(f.Type)}
		switch {
		case ancestorSet[f.Name]:
			e.Path += "[i]"
			e.Type = "array of " + e.Type
			e.Translated = true
		case f.Name == "evt.arg":
			e.Path += ".NAME"
			e.Type = "string"
			e.Translated = true
		case f.Arg != policy.ArgNone || f.List:
			e.Path += " (as the event holds it)"
			e.Type = "any"
		case hostNames[f.Name]:
			e.Path += " (not in the input: names are not resolved)"
			e.Type = "absent"
		case conflicted[f.Name] && hasDeeper(f.Name):
			e.Type += " (left out when a deeper field is present)"
		default:
			e.Translated = docFieldSet[f.Name]
		}
		out = append(out, e)
	}
	return out
}

func jsonType(t policy.FieldType) string {
	switch {
	case t.Numeric():
		return "number"
	case t == policy.TypeBool:
		return "boolean"
	}
	return "string"
}

// hasDeeper reports whether a catalog field lies below name.
func hasDeeper(name string) bool {
	for _, f := range policy.Fields() {
		if len(f.Name) > len(name) && f.Name[:len(name)+1] == name+"." {
			return true
		}
	}
	return false
}
