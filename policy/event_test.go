package policy

import (
	"strings"
	"testing"
	"unsafe"
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

// TestOpenFieldsAsFalco checks evt.is_open_* as libsinsp extracts them
// (sinsp_filtercheck_event.cpp, TYPE_ISOPEN_*): creat is not an open for
// read and write; every event type has the four fields.
func TestOpenFieldsAsFalco(t *testing.T) {
	cases := []struct {
		line                      string
		read, write, create, exec string
	}{
		{`{"evt.type":"openat","evt.arg.flags":"O_RDONLY|O_CLOEXEC","evt.arg.mode":"0","evt.rawres":3}`, "true", "false", "false", "false"},
		{`{"evt.type":"open","evt.arg.flags":"O_TRUNC|O_CREAT|O_WRONLY|O_F_CREATED","evt.arg.mode":"0755","evt.rawres":3}`, "false", "true", "true", "true"},
		{`{"evt.type":"openat2","evt.arg.flags":"O_CREAT|O_RDWR","evt.arg.mode":"0644","evt.rawres":3}`, "true", "true", "false", "false"},
		// O_DIRECTORY reports O_TMPFILE: a successful directory open "creates".
		{`{"evt.type":"openat","evt.arg.flags":"O_DIRECTORY|O_RDONLY|O_TMPFILE","evt.arg.mode":"0","evt.rawres":3}`, "true", "false", "true", "false"},
		{`{"evt.type":"openat","evt.arg.flags":"O_DIRECTORY|O_RDONLY|O_TMPFILE","evt.arg.mode":"0","evt.rawres":-2}`, "true", "false", "false", "false"},
		{`{"evt.type":"creat","evt.arg.mode":"0755","evt.rawres":3}`, "false", "false", "false", "true"},
		{`{"evt.type":"creat","evt.arg.mode":"0644","evt.rawres":3}`, "false", "false", "false", "false"},
		{`{"evt.type":"execve","evt.rawres":0}`, "false", "false", "false", "false"},
	}
	for _, c := range cases {
		ev, err := DecodeEvent([]byte(c.line), 1)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"evt.is_open_read": c.read, "evt.is_open_write": c.write,
			"evt.is_open_create": c.create, "evt.is_open_exec": c.exec} {
			got, ok := ev.Strings(ref(t, name))
			if !ok || got[0] != want {
				t.Errorf("%s: %s = %v (%v), want %s", c.line, name, got, ok, want)
			}
		}
	}
}

func TestResultNameAsFalco(t *testing.T) {
	for res, want := range map[int64]string{0: "SUCCESS", 5: "SUCCESS", -2: "ENOENT", -11: "EAGAIN",
		-95: "EOPNOTSUPP", -117: "EUCLEAN", -115: "EINPROGRESS", -126: "-126", -512: "ERESTARTSYS", -41: "-41"} {
		if got := ResultName(res); got != want {
			t.Errorf("ResultName(%d) = %q, want %q", res, got, want)
		}
		if n, ok := ResultNumber(want); !ok || (res < 0 && n != res) || (res >= 0 && n != 0) {
			t.Errorf("ResultNumber(%q) = %d, %v", want, n, ok)
		}
	}
	if _, ok := ResultNumber("ENOTSUP"); ok {
		t.Error("ENOTSUP is not a name libsinsp gives")
	}
}

// countingSource gives values from a map and counts the reads.
type countingSource struct {
	vals  map[Key]Value
	reads map[Key]int
}

func (s *countingSource) Value(_ *Event, k Key) (Value, bool) {
	s.reads[k]++
	v, ok := s.vals[k]
	return v, ok
}

func (s *countingSource) Keys(fn func(Key)) {
	for k := range s.vals {
		fn(k)
	}
}

// TestEventReadsOnDemand checks that an event reads a value from its
// source only when asked, once, derives what the source lacks from what
// it has, and that a snapshot keeps every value in memory of its own.
func TestEventReadsOnDemand(t *testing.T) {
	buf := []byte("/etc/shadow")
	src := &countingSource{reads: map[Key]int{}, vals: map[Key]Value{
		MustKey("evt.type"):      Text("openat"),
		MustKey("fd.name"):       Text(unsafeString(buf)),
		MustKey("fd.type"):       Text("file"),
		MustKey("evt.rawres"):    Int(-2),
		MustKey("evt.arg.flags"): Text("O_RDWR"),
		MustKey("proc.name"):     Text("cat"),
		MustKey("proc.pname"):    Text("bash"),
		MustKey("proc.aname[2]"): Text("sshd"),
	}}
	e := NewEvent()
	e.Reset(src)
	if len(src.reads) != 0 {
		t.Fatalf("reads before any value was asked: %v", src.reads)
	}
	for i := 0; i < 3; i++ {
		if s, ok := e.Text(MustKey("fd.directory")); !ok || s != "/etc" {
			t.Fatalf("fd.directory = %q, %v", s, ok)
		}
	}
	if n := src.reads[MustKey("fd.name")]; n != 1 {
		t.Errorf("fd.name read %d times, want once", n)
	}
	for name, want := range map[string]string{"evt.failed": "true", "evt.res": "ENOENT", "evt.is_open_write": "true",
		"fd.typechar": "f", "proc.cmdline": "cat", "evt.dir": "<"} {
		if s, ok := e.Text(MustKey(name)); !ok || s != want {
			t.Errorf("%s = %q (%v), want %q (derived)", name, s, ok, want)
		}
	}
	if got, _ := e.Strings(&FieldRef{Field: LookupField("proc.aname"), Index: -1}); strings.Join(got, " ") != "bash sshd" {
		t.Errorf("proc.aname = %v, want the ancestors from the parent up", got)
	}
	if _, ok := e.Get(MustKey("user.uid")); ok {
		t.Error("user.uid present, the source has none")
	}
	snap := e.Snapshot()
	copy(buf, "/tmp/xxxxxx") // the source's memory is reused
	e.Reset(nil)
	if s, ok := snap.Text(MustKey("fd.name")); !ok || s != "/etc/shadow" {
		t.Errorf("snapshot's fd.name = %q, %v; want its own copy", s, ok)
	}
	if s, ok := snap.Text(MustKey("proc.aname[2]")); !ok || s != "sshd" {
		t.Errorf("snapshot's proc.aname[2] = %q, %v", s, ok)
	}
	if _, ok := e.Get(MustKey("fd.name")); ok {
		t.Error("a reset event kept a value")
	}
}

func unsafeString(b []byte) string { return unsafe.String(&b[0], len(b)) }

// TestEventSetAfterRead checks that a value set after derived ones were
// read is what they derive from.
func TestEventSetAfterRead(t *testing.T) {
	e := NewEvent()
	e.Set("fd.name", "/etc/shadow")
	if s, _ := e.Text(MustKey("fd.filename")); s != "shadow" {
		t.Fatalf("fd.filename = %q", s)
	}
	e.Set("fd.name", "/var/log/syslog")
	if s, _ := e.Text(MustKey("fd.filename")); s != "syslog" {
		t.Errorf("fd.filename after a new fd.name = %q, want syslog", s)
	}
	e.Set("fd.filename", "given")
	e.Set("fd.name", "/x/y")
	if s, _ := e.Text(MustKey("fd.filename")); s != "given" {
		t.Errorf("fd.filename set = %q, want the value set", s)
	}
}

// TestDecodeEventSpellings checks that a value given under its own name
// wins over the element of an array naming the same key, whatever the
// order of the object.
func TestDecodeEventSpellings(t *testing.T) {
	for _, line := range []string{
		`{"proc.aname":["a","b","c"],"proc.pname":"p"}`,
		`{"proc.pname":"p","proc.aname":["a","b","c"]}`,
		`{"proc.aname[1]":"p","proc.aname":["a","b","c"]}`,
	} {
		e, err := DecodeEvent([]byte(line), 1)
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := e.Text(MustKey("proc.pname")); s != "p" {
			t.Errorf("%s: proc.pname = %q, want p", line, s)
		}
		if s, _ := e.Text(MustKey("proc.aname[2]")); s != "c" {
			t.Errorf("%s: proc.aname[2] = %q, want c", line, s)
		}
	}
	e, err := DecodeEvent([]byte(`{"evt.arg":{"flags":"O_RDONLY","mode":0},"evt.arg[fd]":"3"}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"evt.arg.flags": "O_RDONLY", "evt.arg.mode": "0", "evt.arg.fd": "3", "evt.rawarg.fd": "3"} {
		if s, ok := e.Text(MustKey(name)); !ok || s != want {
			t.Errorf("%s = %q (%v), want %q", name, s, ok, want)
		}
	}
}

// TestValueConversions checks that typed values read as the reference
// evaluator reads their text.
func TestValueConversions(t *testing.T) {
	for _, c := range []struct {
		v    Value
		text string
		n    int64
		nOK  bool
		b    bool
		bOK  bool
	}{
		{Text("42"), "42", 42, true, false, false},
		{Text(" -7"), " -7", -7, true, false, false},
		{Text("true"), "true", 0, false, true, true},
		{Int(-3), "-3", -3, true, false, false},
		{Uint(1 << 63), "9223372036854775808", -1 << 63, true, false, false},
		{Bool(true), "true", 0, false, true, true},
		{number("007"), "007", 7, true, false, false},
		{number("1.5"), "1.5", 0, false, false, false},
	} {
		if s, ok := c.v.Text(); !ok || s != c.text {
			t.Errorf("%#v: Text = %q, %v; want %q", c.v, s, ok, c.text)
		}
		if n, ok := c.v.Int(); ok != c.nOK || (ok && n != c.n) {
			t.Errorf("%#v: Int = %d, %v", c.v, n, ok)
		}
		if b, ok := c.v.Bool(); ok != c.bOK || b != c.b {
			t.Errorf("%#v: Bool = %v, %v", c.v, b, ok)
		}
		if n, ok := c.v.Int(); ok {
			if s, _ := c.v.Text(); s != "" {
				if m, ok := parseInt(s); !ok || m != n {
					t.Errorf("%#v: Int %d disagrees with its text %q", c.v, n, s)
				}
			}
		}
	}
}

// TestDecodeEventNames checks that a name which is no field is refused,
// with the nearest field when it looks misspelt, and that the spellings
// of fields are not.
func TestDecodeEventNames(t *testing.T) {
	cases := []struct{ line, err string }{
		{`{"evt.type":"openat","proc.nmae":"cat"}`, `unknown field "proc.nmae" (did you mean proc.name?)`},
		{`{"evt.typ":"openat"}`, `unknown field "evt.typ" (did you mean evt.type?)`},
		{`{"fd.nam":"/a","proc.nmae":"cat"}`, `unknown field "fd.nam" (did you mean fd.name?)`}, // the first in name order
		{`{"color":"red"}`, `unknown field "color"`},
		{`{"proc":{"name":"cat"}}`, `unknown field "proc" holding an object: an event's fields are flat, as in {"proc.name": ...}`},
		{`{"proc.name":{"x":"cat"}}`, `field proc.name takes a value, not an object`},
		{`{"proc.name":"cat","proc.aname[2]":"sshd","evt.arg.flags":"O_RDONLY","evt.arg[0]":"3","proc.env[HOME]":"/root"}`, ``},
		{`{"evt.arg":{"flags":"O_RDONLY"},"k8s.pod.label":{"app":"web"},"proc.aname":["cat","bash"]}`, ``},
	}
	for _, c := range cases {
		_, err := DecodeEvent([]byte(c.line), 1)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.err {
			t.Errorf("%s:\n got %q\nwant %q", c.line, got, c.err)
		}
	}
}

func TestSuggestField(t *testing.T) {
	for name, want := range map[string]string{
		"proc.nmae": "proc.name", "proc.nam": "proc.name", "proc.namee": "proc.name", "proc.pnmae": "proc.pname",
		"fd.nmae": "fd.name", "user.uidd": "user.uid", "evt.tpye": "evt.type", "xyz": "", "proc.zzzz": "", "proc": "",
	} {
		if got := SuggestField(name); got != want {
			t.Errorf("SuggestField(%q) = %q, want %q", name, got, want)
		}
	}
}
