package falcocompat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/peregrine-sec/peregrine/policy"
)

// AlertJSON is Falco's JSON alert. Keys come out in this (sorted) order.
type AlertJSON struct {
	Hostname     string         `json:"hostname"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags"`
	Time         string         `json:"time"`
}

// TextLine renders an alert as Falco's text output does:
// "HH:MM:SS.nnnnnnnnn: Priority output", in local time. Control
// characters in the output (a command line an attacker wrote with
// newlines in it) are escaped, so that an alert is one line and cannot
// forge others.
func TextLine(t time.Time, p policy.Priority, output string) string {
	return t.Local().Format("15:04:05.000000000") + ": " + p.String() + " " + escapeControl(output)
}

// escapeControl writes C0 control characters, DEL and C1 controls as Go
// escapes (\n, \t, \x1b, \u0085); invalid UTF-8 bytes as \xNN.
func escapeControl(s string) string {
	clean := true
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// NewAlertJSON builds Falco's JSON alert for a rule matching an event.
// output_fields holds every field of the output template (without
// transformers), keyed as the template spells it (evt.arg.flags,
// evt.arg[0], proc.aname[2]), and evt.time, as Falco's formatter does;
// fields the event lacks are null (Falco's JSON formatter gives null
// whatever the field's type, where its text output says <NA>).
func NewAlertJSON(hostname string, r *policy.Rule, ev *policy.Event, t time.Time, output string) *AlertJSON {
	a := &AlertJSON{
		Hostname:     hostname,
		Output:       TextLine(t, r.Priority, output),
		OutputFields: map[string]any{"evt.time": t.UnixNano()},
		Priority:     r.Priority.String(),
		Rule:         r.Name,
		Source:       r.Source,
		Tags:         append([]string{}, r.Tags...),
		Time:         t.UTC().Format("2006-01-02T15:04:05.000000000Z"),
	}
	sort.Strings(a.Tags)
	for _, f := range r.Output.Fields() {
		if len(f.Transformers) > 0 {
			continue
		}
		a.OutputFields[f.Spelling()] = jsonValue(f, ev)
	}
	return a
}

func jsonValue(f *policy.FieldRef, ev *policy.Event) any {
	vals, ok := ev.Strings(f)
	if !ok {
		return nil
	}
	if f.List() {
		out := make([]any, len(vals))
		for i, v := range vals {
			out[i] = v
		}
		return out
	}
	s := vals[0]
	if len(vals) > 1 {
		s = joinSpace(vals)
	}
	switch t := f.Type(); {
	case t.Numeric() && len(vals) == 1:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return n
		}
	case t == policy.TypeBool:
		return s == "true"
	}
	return s
}

func joinSpace(vals []string) string {
	var b bytes.Buffer
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v)
	}
	return b.String()
}

// Marshal writes the alert as one compact JSON line without HTML
// escaping, as Falco does.
func (a *AlertJSON) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
