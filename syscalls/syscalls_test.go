package syscalls

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/peregrine-sec/peregrine/policy"
)

// TestTableConsistent checks each row against itself and the field
// catalog: what the capture reads is what the arguments name, every field
// a row fills exists, and the facts the rest of Peregrine derives from a
// row agree with Falco's event semantics.
func TestTableConsistent(t *testing.T) {
	names, nrs, ia32 := map[string]bool{}, map[int]string{}, map[int]string{}
	for i := range Table {
		s := &Table[i]
		if names[s.Name] {
			t.Errorf("%s: two rows", s.Name)
		}
		names[s.Name] = true
		if o, dup := nrs[s.Nr]; dup {
			t.Errorf("%s: number %d is %s's", s.Name, s.Nr, o)
		}
		nrs[s.Nr] = s.Name
		for _, n := range s.IA32 {
			if o, dup := ia32[n]; dup {
				t.Errorf("%s: ia32 number %d is %s's", s.Name, n, o)
			}
			ia32[n] = s.Name
		}
		l := s.Layout
		for i, a := range s.Args {
			if policy.LookupField("evt.arg") == nil || a.Name == "" {
				t.Errorf("%s: argument %d has no name", s.Name, i)
			}
			switch a.Kind {
			case Path, String, ExecPath:
				if a.Pos != l.Path0 && a.Pos != l.Path1 {
					t.Errorf("%s: %s (register %d) is not a string the capture reads (%d, %d)", s.Name, a.Name, a.Pos, l.Path0, l.Path1)
				}
			case OpenFlags:
				if a.Pos != l.FlagsArg {
					t.Errorf("%s: flags in register %d, the capture judges %d", s.Name, a.Pos, l.FlagsArg)
				}
			case Sockaddr:
				if l.Sockaddr != a.Pos || l.AddrOut {
					t.Errorf("%s: %s is not the address the entry reads", s.Name, a.Name)
				}
			}
			if a.Base >= 0 && (int(a.Base) >= len(s.Args) || s.Args[a.Base].Kind != DirFD) {
				t.Errorf("%s: %s is relative to argument %d, not a dirfd", s.Name, a.Name, a.Base)
			}
			if a.FSPath != "" && policy.LookupField("fs.path."+a.FSPath) == nil {
				t.Errorf("%s: %s fills fs.path.%s, not a field", s.Name, a.Name, a.FSPath)
			}
		}
		if s.EventFD != "" && s.EventFD != "res" {
			if a, ok := s.Arg(s.EventFD); !ok || (a.Kind != FD && a.Kind != DirFD) {
				t.Errorf("%s: the event's fd %q is not an fd argument", s.Name, s.EventFD)
			}
		}
		if got, want := s.OpenFlags(), policy.IsOpenEvent(s.Name); got != want {
			t.Errorf("%s: shows open flags %v, Falco's open events say %v", s.Name, got, want)
		}
		for f := range s.PathFields() {
			base, _, _ := strings.Cut(f, "[")
			if policy.LookupField(base) == nil {
				if df, _ := policy.SplitDottedArg(f); df == nil {
					t.Errorf("%s: path field %s is not in the catalog", s.Name, f)
				}
			}
		}
		if pf := s.PortFields(); pf != nil {
			for _, side := range pf {
				for _, f := range side {
					if policy.LookupField(f) == nil {
						t.Errorf("%s: port field %s is not in the catalog", s.Name, f)
					}
				}
			}
		}
	}
}

// TestIA32Numbers checks the ia32 numbers against the kernel's UAPI
// header, when the machine has it (Debian's linux-libc-dev).
func TestIA32Numbers(t *testing.T) {
	const header = "/usr/include/x86_64-linux-gnu/asm/unistd_32.h"
	f, err := os.Open(header)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is needed in CI (linux-libc-dev): %v", header, err)
		}
		t.Skipf("no %s: %v", header, err)
	}
	defer f.Close()
	nr := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "#define" && strings.HasPrefix(fields[1], "__NR_") {
			if n, err := strconv.Atoi(fields[2]); err == nil {
				nr[strings.TrimPrefix(fields[1], "__NR_")] = n
			}
		}
	}
	aliases := map[string][]string{"setuid": {"setuid", "setuid32"}}
	for _, s := range Table {
		want := aliases[s.Name]
		if want == nil {
			want = []string{s.Name}
		}
		var got []int
		missing := false
		for _, n := range want {
			if v, ok := nr[n]; ok {
				got = append(got, v)
			} else {
				missing = true
			}
		}
		if missing && len(got) == 0 && len(s.IA32) > 0 {
			continue // a syscall newer than the header
		}
		if !slices.Equal(got, s.IA32) {
			t.Errorf("%s: ia32 numbers %v, the header says %v", s.Name, s.IA32, got)
		}
	}
	if n := nr["socketcall"]; n != IA32Socketcall {
		t.Errorf("socketcall is %d, the header says %d", IA32Socketcall, n)
	}
}
