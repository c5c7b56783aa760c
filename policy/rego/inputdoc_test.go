package rego

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEventOfInput reads input documents as replay --input does: a
// document Input made from an event gives that event back (the same
// document), and a path that is no field is an error naming it.
func TestEventOfInput(t *testing.T) {
	cases := []struct{ doc, err string }{
		{`{"proc": {"name": "cat"}, "fd": {"name": "/etc/shadow"}, "evt": {"type": "openat"}}`, ``},
		{`{"proc": {"aname": ["cat", null, "sshd"], "pid": 42}, "user": {"uid": 0}, "evt": {"type": "openat", "failed": false, "arg": {"flags": "O_RDONLY"}}}`, ``},
		{`{"container": {"image": {"tag": "1"}, "id": "abc"}}`, ``},
		{`{"proc": {"nmae": "cat"}}`, `input.proc.nmae: unknown field "proc.nmae" (did you mean proc.name?)`},
		{`{"prc": {"name": "cat"}}`, `input.prc: unknown field "prc"`},
		{`{"proc.name": "cat"}`, `input.proc.name: the key "proc.name" holds a dot: the input document nests, input.proc.name is {"proc": {"name": ...}}`},
		{`{"proc": {"name": {"first": "cat"}}}`, `the input document: field proc.name takes a value, not an object`},
		{`{"user": {"uid": "root"}}`, `the input document: field user.uid: root is not a number`},
		{`[1, 2]`, `the input document is not a JSON object`},
	}
	for _, c := range cases {
		dec := json.NewDecoder(strings.NewReader(c.doc))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		ev, err := EventOfInput(doc, 1)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.err {
			t.Errorf("%s:\n got %q\nwant %q", c.doc, got, c.err)
			continue
		}
		if err != nil {
			continue
		}
		// The event's input document holds what the document held
		// (and the values derived from them).
		again, err := EventOfInput(mustJSON(t, Input(ev).String()), 1)
		if err != nil {
			t.Errorf("%s: its input %s: %v", c.doc, Input(ev), err)
			continue
		}
		if Input(again).String() != Input(ev).String() {
			t.Errorf("%s: input %s, then %s", c.doc, Input(ev), Input(again))
		}
		if !containsDoc(mustJSON(t, Input(ev).String()), doc) {
			t.Errorf("%s: input %s lacks some of it", c.doc, Input(ev))
		}
	}
}

// TestEventOfInputKeyed checks that the values of fields keyed by name
// other than evt.arg reach the event (for Falco rules), though Input
// leaves them out.
func TestEventOfInputKeyed(t *testing.T) {
	ev, err := EventOfInput(mustJSON(t, `{"proc": {"env": {"HOME": "/root"}}}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := ev.Raw("proc.env[HOME]"); !ok || v != "/root" {
		t.Errorf("proc.env[HOME] = %v, %v", v, ok)
	}
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

// containsDoc reports whether every path of want is in got with the same
// value.
func containsDoc(got, want any) bool {
	wm, ok := want.(map[string]any)
	if !ok {
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		return string(gb) == string(wb)
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range wm {
		if !containsDoc(gm[k], v) {
			return false
		}
	}
	return true
}
