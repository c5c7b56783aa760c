package falcocompat_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
)

// TestAlertOutputFields checks output_fields as Falco's JSON formatter
// writes it: keys spelled as the template spells the fields, null for
// fields the event lacks whatever their type, numbers and booleans typed.
func TestAlertOutputFields(t *testing.T) {
	l := falcocompat.NewLoader()
	l.AddFile("r.yaml", []byte(`- rule: r
  desc: d
  condition: evt.type = openat
  output: "%evt.arg.flags %evt.arg[0] %proc.aname[2] %user.name %user.uid %fd.num %evt.arg.mode %proc.is_exe_writable %proc.tty %evt.is_open_read %toupper(proc.name) %20proc.exe"
  priority: warning
`))
	res := l.Compile()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	ev, err := policy.DecodeEvent([]byte(`{"evt.type":"openat","evt.arg.flags":"O_RDONLY","evt.arg":{"0":"<f>/etc/shadow"},"proc.aname":["cat","bash","sshd"],"user.uid":0,"fd.num":3,"evt.arg.flags":"O_RDONLY","proc.name":"cat"}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Ruleset.Rules[0]
	a := falcocompat.NewAlertJSON("h", r, ev, time.Unix(0, 5), "out")
	b, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		OutputFields map[string]any `json:"output_fields"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"evt.arg.flags": "O_RDONLY", "evt.arg[0]": "<f>/etc/shadow", "proc.aname[2]": "sshd",
		"user.name": nil, "user.uid": float64(0), "fd.num": float64(3), "evt.arg.mode": nil,
		"proc.is_exe_writable": nil, "proc.tty": nil, "evt.is_open_read": true, "proc.exe": nil,
		"evt.time": float64(5),
	}
	for k, w := range want {
		v, ok := got.OutputFields[k]
		if !ok || v != w {
			t.Errorf("output_fields[%q] = %v (%v), want %v", k, v, ok, w)
		}
	}
	for k := range got.OutputFields {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected key %q (transformed fields are left out, names are as written)", k)
		}
	}
}

// TestTextLineEscapesControls: a text alert is one line whatever the
// fields hold.
func TestTextLineEscapesControls(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.Local)
	for _, c := range []struct{ output, want string }{
		{"plain cmdline=cat /etc/shadow", "plain cmdline=cat /etc/shadow"},
		{"cmdline=sh -c 'a\nb'\r\n", `cmdline=sh -c 'a\nb'\r\n`},
		{"tab\there", `tab\there`},
		{"esc \x1b[31mred", `esc \x1b[31mred`},
		{"del \x7f", `del \x7f`},
		{"c1 \u0085", `c1 \u0085`},
		{"bad utf8 \xff\xfe", `bad utf8 \xff\xfe`},
		{"real replacement \uFFFD and é", "real replacement \uFFFD and é"},
	} {
		got := falcocompat.TextLine(at, policy.PriorityWarning, c.output)
		if want := "03:04:05.000000006: Warning " + c.want; got != want {
			t.Errorf("TextLine(%q) = %q, want %q", c.output, got, want)
		}
	}
}
