package policy

import (
	"fmt"
	"strings"
)

// Priority is a rule's severity, from Emergency (most severe) to Debug.
type Priority uint8

// Priorities, in Falco's order.
const (
	PriorityEmergency Priority = iota
	PriorityAlert
	PriorityCritical
	PriorityError
	PriorityWarning
	PriorityNotice
	PriorityInformational
	PriorityDebug
)

var priorityNames = [...]string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

// String returns the priority as Falco writes it in alerts ("Warning").
func (p Priority) String() string {
	if int(p) < len(priorityNames) {
		return priorityNames[p]
	}
	return fmt.Sprintf("Priority(%d)", p)
}

// ParsePriority reads a priority name, case-insensitively. Besides the
// names String returns it accepts "info", as Falco does; it returns an error
// for anything else ("warn" included, which Falco refuses too).
func ParsePriority(s string) (Priority, error) {
	l := strings.ToLower(s)
	if l == "info" {
		return PriorityInformational, nil
	}
	for i, n := range priorityNames {
		if strings.ToLower(n) == l {
			return Priority(i), nil
		}
	}
	return 0, fmt.Errorf("unknown priority %q", s)
}

// Pos is a position in a source file. Line and Column count from 1.
type Pos struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// String renders the position as file:line:col.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Rule is one detection rule.
type Rule struct {
	Name      string
	Desc      string
	Condition Expr
	Output    Template
	Priority  Priority
	// Source is the event source the rule applies to: "syscall" for every
	// rule Peregrine evaluates today.
	Source  string
	Tags    []string
	Enabled bool
	// EventTypes is the set of event types the rule can match, sorted; nil
	// means every event type.
	EventTypes []string
	// Pos is where the rule was defined.
	Pos Pos
	// Noise thins the rule's alerts out (throttle, skip_events, dedup).
	Noise Noise
	// ExtraFields are fields added to the rule's JSON output_fields
	// (append_output's extra_fields), in order.
	ExtraFields []ExtraField
}

// ExtraField is an output field a rule's JSON alert carries beyond its
// output template's: Name and the template its value is rendered from.
type ExtraField struct {
	Name  string
	Value Template
}

// Ruleset is an ordered list of rules. Order matters: with first-match
// semantics only the earliest matching rule alerts.
type Ruleset struct {
	Rules []*Rule
}

// Enabled returns the enabled rules, in order.
func (rs *Ruleset) Enabled() []*Rule {
	var out []*Rule
	for _, r := range rs.Rules {
		if r.Enabled {
			out = append(out, r)
		}
	}
	return out
}

// Template is an output template: literal text with field references.
type Template struct {
	Parts []TemplatePart
}

// TemplatePart is either literal text or a field. Width, when not zero,
// pads the field's text with spaces or cuts it to that many bytes.
type TemplatePart struct {
	Text  string
	Field *FieldRef
	Width int
}

// NA is the text of a field the event lacks.
const NA = "<NA>"

// Render fills the template with the event's values; a field the event
// lacks renders as <NA>, several values are joined by spaces.
func (t Template) Render(e *Event) string {
	var b strings.Builder
	for _, p := range t.Parts {
		if p.Field == nil {
			b.WriteString(p.Text)
			continue
		}
		s := NA
		if vals, ok := e.Strings(p.Field); ok {
			s = strings.Join(vals, " ")
		}
		if p.Width > 0 {
			if len(s) > p.Width {
				s = s[:p.Width]
			} else {
				s += strings.Repeat(" ", p.Width-len(s))
			}
		}
		b.WriteString(s)
	}
	return b.String()
}

// String renders the template back to its source form.
func (t Template) String() string {
	var b strings.Builder
	for _, p := range t.Parts {
		if p.Field == nil {
			b.WriteString(strings.ReplaceAll(p.Text, "%", "%%"))
			continue
		}
		b.WriteString("%")
		if p.Width > 0 {
			fmt.Fprint(&b, p.Width)
		}
		b.WriteString(p.Field.String())
	}
	return b.String()
}

// Fields returns the field references of the template, in order, without
// repeats.
func (t Template) Fields() []*FieldRef {
	var out []*FieldRef
	seen := map[string]bool{}
	for _, p := range t.Parts {
		if p.Field != nil && !seen[p.Field.String()] {
			seen[p.Field.String()] = true
			out = append(out, p.Field)
		}
	}
	return out
}
