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

// AlertJSON is Falco's JSON alert. Keys come out in this (sorted) order;
// Marshal leaves out the properties the Format that built it turned off.
type AlertJSON struct {
	Hostname     string         `json:"hostname"`
	Message      *string        `json:"message,omitempty"`
	Output       *string        `json:"output,omitempty"`
	OutputFields map[string]any `json:"output_fields,omitempty"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Source       string         `json:"source"`
	Tags         *[]string      `json:"tags,omitempty"`
	Time         string         `json:"time"`
}

// Format is how alerts are written: falco.yaml's json_output,
// json_include_*_property and time_format_iso_8601 keys. The zero Format
// is Falco's default: text lines, and JSON alerts with output, tags and
// output_fields but no message.
type Format struct {
	JSON bool
	// ISO8601 writes the text line's time as evt.time.iso8601 does
	// (2006-01-02T15:04:05.000000000+0000, UTC) instead of local
	// HH:MM:SS.nnnnnnnnn.
	ISO8601 bool
	// NoOutput, NoTags and NoOutputFields leave those JSON properties
	// out; Message adds "message", the output without time and priority.
	NoOutput, NoTags, NoOutputFields, Message bool
}

// Line is the alert as stdout, files, syslog and programs take it: the
// JSON object with JSON set, else the text line. Suppressed and repeats
// (runtime.Alert's, from the rule's noise keys) are told in the line and
// in output_fields when not zero.
func (f Format) Line(host string, r *policy.Rule, ev *policy.Event, t time.Time, output string, suppressed, repeats uint64) ([]byte, error) {
	if f.JSON {
		return f.Alert(host, r, ev, t, output, suppressed, repeats).Marshal()
	}
	return []byte(f.Text(t, r.Priority, output+noiseSuffix(suppressed, repeats))), nil
}

// noiseSuffix tells, in a text alert, what the rule's noise keys folded
// into it.
func noiseSuffix(suppressed, repeats uint64) string {
	s := ""
	if repeats > 0 {
		s += fmt.Sprintf(" (repeated %d more times)", repeats)
	}
	if suppressed > 0 {
		s += fmt.Sprintf(" (%d similar alerts suppressed before this one)", suppressed)
	}
	return s
}

// Text renders the text line: the time, the priority and the output.
func (f Format) Text(t time.Time, p policy.Priority, output string) string {
	if f.ISO8601 {
		return t.UTC().Format("2006-01-02T15:04:05.000000000-0700") + ": " + p.String() + " " + escapeControl(output)
	}
	return TextLine(t, p, output)
}

// Alert builds the JSON alert (see NewAlertJSON) with f's properties.
func (f Format) Alert(host string, r *policy.Rule, ev *policy.Event, t time.Time, output string, suppressed, repeats uint64) *AlertJSON {
	a := NewAlertJSON(host, r, ev, t, output+noiseSuffix(suppressed, repeats))
	if f.Message {
		msg := escapeControl(output)
		a.Message = &msg
	}
	if f.NoOutput {
		a.Output = nil
	} else if f.ISO8601 {
		line := f.Text(t, r.Priority, output+noiseSuffix(suppressed, repeats))
		a.Output = &line
	}
	if f.NoTags {
		a.Tags = nil
	}
	if f.NoOutputFields {
		a.OutputFields = nil
	} else {
		if suppressed > 0 {
			a.OutputFields["peregrine.suppressed"] = suppressed
		}
		if repeats > 0 {
			a.OutputFields["peregrine.repeats"] = repeats
		}
	}
	return a
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
	line := TextLine(t, r.Priority, output)
	tags := append([]string{}, r.Tags...)
	sort.Strings(tags)
	a := &AlertJSON{
		Hostname:     hostname,
		Output:       &line,
		OutputFields: map[string]any{"evt.time": t.UnixNano()},
		Priority:     r.Priority.String(),
		Rule:         r.Name,
		Source:       r.Source,
		Tags:         &tags,
		Time:         t.UTC().Format("2006-01-02T15:04:05.000000000Z"),
	}
	for _, f := range r.Output.Fields() {
		if len(f.Transformers) > 0 {
			continue
		}
		a.OutputFields[f.Spelling()] = jsonValue(f, ev)
	}
	for _, x := range r.ExtraFields {
		if p := x.Value.Parts; len(p) == 1 && p[0].Field != nil && p[0].Width == 0 {
			a.OutputFields[x.Name] = jsonValue(p[0].Field, ev)
			continue
		}
		a.OutputFields[x.Name] = x.Value.Render(ev)
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
