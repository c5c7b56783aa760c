package policy

import (
	"fmt"
	"strings"
	"testing"
)

// TestKeySpellings checks that every spelling of one value names one key,
// and that the key's name is the canonical spelling.
func TestKeySpellings(t *testing.T) {
	for _, c := range []struct {
		canonical string
		spellings []string
	}{
		{"proc.name", []string{"proc.name", "proc.aname[0]"}},
		{"proc.pname", []string{"proc.pname", "proc.aname[1]", "proc.aname[01]"}},
		{"proc.aname[2]", []string{"proc.aname[2]"}},
		{"proc.pid", []string{"proc.pid", "proc.apid[0]"}},
		{"proc.ppid", []string{"proc.ppid", "proc.apid[1]"}},
		{"proc.pexepath", []string{"proc.pexepath", "proc.aexepath[1]"}},
		{"proc.cmdline", []string{"proc.cmdline", "proc.acmdline[0]"}},
		{"evt.arg.flags", []string{"evt.arg.flags", "evt.arg[flags]"}},
		{"evt.rawarg.flags", []string{"evt.rawarg.flags", "evt.rawarg[flags]"}},
		{"proc.env[HOME]", []string{"proc.env[HOME]", "proc.env.HOME"}},
		{"fd.cip", []string{"fd.cip", "fd.cnet"}},
		{"fd.rip", []string{"fd.rip", "fd.rnet"}},
		{"container.image.tag", []string{"container.image.tag"}},
		{"proc.aname[70]", []string{"proc.aname[70]"}}, // past the precomputed ones
	} {
		want, ok := KeyOf(c.canonical)
		if !ok {
			t.Fatalf("KeyOf(%q): no key", c.canonical)
		}
		if want.Name() != c.canonical {
			t.Errorf("KeyOf(%q).Name() = %q", c.canonical, want.Name())
		}
		for _, s := range c.spellings {
			if k, ok := KeyOf(s); !ok || k != want {
				t.Errorf("KeyOf(%q) = %v, %v; want the key of %s", s, k, ok, c.canonical)
			}
		}
	}
	for _, bad := range []string{"", "proc.nosuch", "proc.name[1]", "proc.aname[x]", "proc.aname[-1]", "evt.type.x", "[0]"} {
		if k, ok := KeyOf(bad); ok {
			t.Errorf("KeyOf(%q) = %v, want none", bad, k)
		}
	}
}

// TestKeyOfRefAgrees checks that a reference and its name give one key.
func TestKeyOfRefAgrees(t *testing.T) {
	for _, c := range []struct {
		field, arg string
		hasArg     bool
		index      int
		name       string
	}{
		{"proc.aname", "1", true, 1, "proc.pname"},
		{"proc.aname", "", false, -1, "proc.aname"},
		{"evt.arg", "flags", true, -1, "evt.arg.flags"},
		{"proc.env", "PATH", true, -1, "proc.env[PATH]"},
		{"fd.snet", "", false, -1, "fd.sip"},
	} {
		ref := &FieldRef{Field: LookupField(c.field), Arg: c.arg, HasArg: c.hasArg, Index: c.index}
		k, ok := KeyOfRef(ref)
		if !ok || k.Name() != c.name {
			t.Errorf("KeyOfRef(%s) = %v, %v; want %s", ref, k, ok, c.name)
		}
	}
}

// TestKeyAttributes checks the catalog attributes of keys: several values
// for lists, ancestors without index and either-side fields; the base of
// an argument's key.
func TestKeyAttributes(t *testing.T) {
	for name, multi := range map[string]bool{
		"proc.aname": true, "proc.apid": true, "fd.ip": true, "fd.port": true, "fd.net": true, "fd.types": true,
		"proc.name": false, "proc.aname[3]": false, "fd.cip": false, "evt.arg.flags": false,
	} {
		if got := MustKey(name).Multi(); got != multi {
			t.Errorf("%s: Multi() = %v, want %v", name, got, multi)
		}
	}
	if b := MustKey("proc.pname").Base(); b != MustKey("proc.aname") {
		t.Errorf("proc.pname's base is %s", b)
	}
	if b := MustKey("evt.arg.flags").Base(); b != MustKey("evt.arg") {
		t.Errorf("evt.arg.flags's base is %s", b)
	}
	if i := MustKey("proc.aname[5]").Index(); i != 5 {
		t.Errorf("proc.aname[5]'s index is %d", i)
	}
	if a, ok := MustKey("proc.env[HOME]").Arg(); !ok || a != "HOME" {
		t.Errorf("proc.env[HOME]'s argument is %q, %v", a, ok)
	}
}

// TestDecodeEventManyFields checks that an event naming arguments past the
// registry's bound gets an error, not unbounded memory.
func TestDecodeEventManyFields(t *testing.T) {
	defer func(l uint32) { keyLimit = l }(keyLimit)
	keyLimit = uint32(NumKeys()) + 10
	var b strings.Builder
	b.WriteString(`{"evt.type":"openat"`)
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, `,"evt.arg.many%d":"v"`, i)
	}
	b.WriteString("}")
	_, err := DecodeEvent([]byte(b.String()), 1)
	if err == nil || !strings.Contains(err.Error(), "distinct fields") {
		t.Fatalf("DecodeEvent of 20 new arguments: %v, want the registry's bound", err)
	}
	// Known keys still read.
	if _, err := DecodeEvent([]byte(`{"evt.arg.flags":"O_RDONLY"}`), 1); err != nil {
		t.Fatal(err)
	}
}
