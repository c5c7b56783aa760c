package policy

import (
	"strings"
	"testing"
)

func ref(t *testing.T, name string, arg ...string) *FieldRef {
	t.Helper()
	f := LookupField(name)
	if f == nil {
		t.Fatalf("no field %s", name)
	}
	r := &FieldRef{Field: f, Index: -1}
	if len(arg) > 0 {
		r.Arg, r.HasArg = arg[0], true
		if n, err := parseIndex(arg[0]); err == nil {
			r.Index = n
		}
	}
	return r
}

func parseIndex(s string) (int, error) {
	n, ok := parseInt(s)
	if !ok {
		return 0, errString("not a number")
	}
	return int(n), nil
}

type errString string

func (e errString) Error() string { return string(e) }

func TestDecodeEventDerivesFields(t *testing.T) {
	ev, err := DecodeEvent([]byte(`{"evt.type":"openat","fd.name":"/etc/shadow","evt.arg.flags":"O_RDWR|O_CREAT","evt.rawres":-2,"proc.aname":["cat","bash","sshd"],"proc.args":"-n x"}`), 7)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"evt.num":           "7",
		"fd.directory":      "/etc",
		"fd.filename":       "shadow",
		"fd.nameraw":        "/etc/shadow",
		"evt.res":           "ENOENT",
		"evt.failed":        "true",
		"evt.is_open_read":  "true",
		"evt.is_open_write": "true",
		"proc.pname":        "bash",
		"proc.name":         "cat",
		"evt.dir":           "<",
	}
	for name, w := range want {
		got, ok := ev.Strings(ref(t, name))
		if !ok || strings.Join(got, " ") != w {
			t.Errorf("%s = %v (%v), want %s", name, got, ok, w)
		}
	}
	if got, _ := ev.Strings(ref(t, "proc.aname")); strings.Join(got, " ") != "bash sshd" {
		t.Errorf("proc.aname without index = %v, want the ancestors from the parent up", got)
	}
	if got, _ := ev.Strings(ref(t, "proc.aname", "2")); strings.Join(got, " ") != "sshd" {
		t.Errorf("proc.aname[2] = %v", got)
	}
	if _, ok := ev.Strings(ref(t, "proc.aname", "3")); ok {
		t.Error("proc.aname[3] present, want absent")
	}
}

func TestDecodeEventErrors(t *testing.T) {
	for _, line := range []string{
		`not json`,
		`[1,2]`,
		`{"user.uid":"root"}`,
		`{"evt.is_open_read":"yes"}`,
		`{"proc.name":["a","b"]}`,
		`null`,
	} {
		if _, err := DecodeEvent([]byte(line), 1); err == nil {
			t.Errorf("DecodeEvent(%s) succeeded, want an error", line)
		}
	}
}

func TestFdPathFields(t *testing.T) {
	cases := []struct{ name, dir, file string }{
		{"/etc/passwd", "/etc", "passwd"},
		{"/passwd", "/", "passwd"},
		{"passwd", "/", "/"},
		{"/etc/", "/etc/", "/etc/"},
	}
	for _, c := range cases {
		if d := fdDirectory(c.name); d != c.dir {
			t.Errorf("fdDirectory(%q) = %q, want %q", c.name, d, c.dir)
		}
		if f := fdFilename(c.name); f != c.file {
			t.Errorf("fdFilename(%q) = %q, want %q", c.name, f, c.file)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"evt.type":"openat","fd.name":"/etc/shadow","user.uid":0}`))
	f.Add([]byte(`{"proc.aname":["a",null,3],"evt.arg":{"x":1},"fd.types":["file"]}`))
	f.Add([]byte(`{"evt.rawres":-99999999999999999999}`))
	fields := []*FieldRef{}
	for _, n := range []string{"proc.aname", "fd.name", "fd.directory", "user.uid", "fd.types", "evt.res"} {
		fields = append(fields, &FieldRef{Field: LookupField(n), Index: -1})
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := DecodeEvent(line, 1)
		if err != nil {
			return
		}
		for _, r := range fields {
			ev.Strings(r)
		}
	})
}
