package policy

import "strings"

// Diagnostic is an error or a warning found while loading rules, by any
// front end. Code names its kind as Falco does (LOAD_ERR_COMPILE_CONDITION,
// LOAD_UNUSED_MACRO...) or as Peregrine adds them (LOAD_ERR_REGO...); Item
// names the list, macro or rule it concerns.
type Diagnostic struct {
	Pos  Pos    `json:"pos"`
	Code string `json:"code"`
	Item string `json:"item,omitempty"`
	Msg  string `json:"message"`
	// Source is the line of the file at Pos, when the front end has it.
	Source string `json:"source,omitempty"`
}

// Text renders the diagnostic as the CLI prints it: "severity: " and
// Error(), its code in parentheses, then the Excerpt on the next lines.
func (e *Diagnostic) Text(severity string) string {
	s := severity + ": " + e.Error() + " (" + e.Code + ")"
	if x := e.Excerpt(); x != "" {
		s += "\n" + x
	}
	return s
}

// Excerpt returns the source line and, under it, a caret at the
// column, each after a tab, as opa check shows them ("" without a source
// line). The caret line repeats the line's tabs so that it lines up
// wherever tab stops are; columns count characters, as OPA's do.
func (e *Diagnostic) Excerpt() string {
	if e.Source == "" {
		return ""
	}
	var pad strings.Builder
	for i, r := range []rune(e.Source) {
		if i >= e.Pos.Column-1 {
			break
		}
		if r == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
	}
	return "\t" + e.Source + "\n\t" + pad.String() + "^"
}

// Error renders the problem as "file:line:col: item: message".
func (e *Diagnostic) Error() string {
	s := e.Pos.String()
	if e.Item != "" {
		s += ": " + e.Item
	}
	return s + ": " + e.Msg
}
