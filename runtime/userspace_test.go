package runtime

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/peregrine-sec/peregrine/bpf"
	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/container"
	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/rules"
	"github.com/peregrine-sec/peregrine/runtime/proctable"
)

// newTestLive is a Live without a probe: what userspace does with a record
// once the ring buffer hands it over, with the default rules.
func newTestLive(b testing.TB) *Live {
	b.Helper()
	name, src := rules.Default()
	ld := falcocompat.NewLoader()
	ld.AddFile(name, src)
	return newTestLiveWith(b, ld.Compile())
}

func newTestLiveWith(b testing.TB, res *falcocompat.Result) *Live {
	b.Helper()
	if err := res.Err(); err != nil {
		b.Fatal(err)
	}
	l := &Live{
		table:        proctable.New("/proc"),
		users:        proctable.NewUsers("/etc/passwd", "/etc/group"),
		proc:         "/proc",
		syscalls:     SyscallsFor(res.Ruleset),
		execFilename: map[int32]string{},
		pipe:         PlanPipeline(nil, MatchFirst),
		classes:      newCgroupClasses(nil),
	}
	plan, err := compiler.Compile(res.Ruleset, compiler.Options{Syscalls: l.syscalls})
	if err != nil {
		b.Fatal(err)
	}
	np := &numberedPlan{plan: plan}
	l.plans[0].Store(np)
	l.current.Store(np)
	if err := l.table.Bootstrap(); err != nil {
		b.Fatal(err)
	}
	return l
}

// openRecord is the record of an openat of path by this process, as the
// kernel sends it: comm cat, parent bash, the fd's regular file, every
// filter class admitted.
func openRecord(path string) *bpf.Record {
	r := &bpf.Record{Kind: bpf.KindSyscall, Syscall: unix.SYS_OPENAT, Pid: uint32(os.Getpid()), Tid: uint32(os.Getpid()),
		Ppid: uint32(os.Getppid()), VPid: uint32(os.Getpid()), Ret: 3, LoginUID: ^uint32(0),
		CapEffective: 1<<41 - 1, CapPermitted: 1<<41 - 1, Flags: bpf.FlagHasFile,
		File: bpf.FileInfo{Ino: 42, Dev: 8, Mode: unix.S_IFREG | 0o640, FFlags: unix.O_RDONLY}}
	r.Args = [6]uint64{uint64(0xffffff9c), 0, unix.O_RDONLY, 0}
	copy(r.Comm[:], "cat")
	copy(r.PComm[:], "bash")
	r.Blobs[0] = append([]byte(path), 0)
	for i := range r.Mask {
		r.Mask[i] = ^uint64(0)
	}
	return r
}

// BenchmarkUserspaceRecord measures userspace's cost per syscall record
// that reaches it: building the event (Falco's fields from the record,
// the process table and the users, as the rules read them) and evaluating
// the rules the record's mask admits, for an open that alerts and one
// that does not, with the default rules and with the upstream stable
// rules (when ../shared holds them).
func BenchmarkUserspaceRecord(b *testing.B) {
	rulesets := []struct {
		name string
		live func(testing.TB) *Live
	}{{"default", newTestLive}, {"default-containers", func(tb testing.TB) *Live {
		// With container metadata on, as run has it: the pipeline holds
		// (an emit set, as inside Run) and a resolver (here with no
		// engine) is asked about containers; the record's process is on
		// the host, the common case this measures.
		l := newTestLive(tb)
		l.containers = container.NewResolver(container.Options{Sockets: []container.Socket{}})
		l.pipe.Hold(l, DefaultContainerDeadline)
		l.pipe.emit = func(Alert) error { return nil }
		return l
	}}, {"upstream", func(tb testing.TB) *Live {
		if _, err := os.Stat(upstreamRules); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatalf("upstream rules needed in CI: %v", err)
			}
			tb.Skipf("upstream rules absent: %v", err)
		}
		return newTestLiveWith(tb, falcocompat.LoadPaths(upstreamRules))
	}}}
	for _, rs := range rulesets {
		b.Run(rs.name, func(b *testing.B) {
			l := rs.live(b)
			for _, tc := range []struct{ name, path string }{{"alert", "/etc/shadow"}, {"no-alert", "/tmp/peregrine-bench"}} {
				b.Run(tc.name, func(b *testing.B) {
					r := openRecord(tc.path)
					var alerts []Alert
					b.ReportAllocs()
					n := 0
					for b.Loop() {
						ev := l.handle(r)
						alerts = l.evaluate(r, ev, alerts[:0])
						n += len(alerts)
					}
					if (n > 0) != (tc.name == "alert") {
						b.Fatalf("%d alerts in %d loops", n, b.N)
					}
				})
			}
		})
	}
}

// upstreamRules is Falco's stable rules file, test data kept outside the
// repository.
const upstreamRules = "../../shared/falco/falco_rules.yaml"

// TestProcessFieldsFollowTable checks that the fields remembered per
// process follow the process table: an exec's new arguments, a parent's
// exec and exit.
func TestProcessFieldsFollowTable(t *testing.T) {
	l := newTestLive(t)
	pid, ppid := int32(os.Getpid()), int32(os.Getppid())
	r := openRecord("/tmp/x")
	get := func(name string) string {
		t.Helper()
		ev := l.handle(r)
		v, _ := ev.Raw(name)
		return fmt.Sprint(v)
	}
	l.table.Exec(pid, "prog", []string{"one", "two"}, "/usr/bin/prog", "prog")
	if got := get("proc.args"); got != "one two" {
		t.Errorf("proc.args after exec: %q", got)
	}
	l.table.Exec(pid, "prog", []string{"three"}, "/usr/bin/prog", "prog")
	if got := get("proc.args"); got != "three" {
		t.Errorf("proc.args after a second exec: %q", got)
	}
	l.table.Exec(ppid, "parent", nil, "/usr/bin/parent", "parent")
	if got := get("proc.aexepath"); !strings.HasPrefix(got, "[/usr/bin/prog /usr/bin/parent") {
		t.Errorf("proc.aexepath after the parent's exec: %q", got)
	}
	l.table.Exit(ppid)
	if got := get("proc.aexepath"); got != "[/usr/bin/prog]" {
		t.Errorf("proc.aexepath after the parent's exit: %q", got)
	}
	if got := get("proc.aname"); got != "[cat bash]" {
		t.Errorf("proc.aname after the parent's exit: %q (the record's comms)", got)
	}
}

// TestUserspaceRecordAllocs checks that an open record no rule matches
// costs userspace at most one allocation (none, once the event's tables
// have grown), with the default rules and the upstream ones: the event
// reads only the fields the rules test.
func TestUserspaceRecordAllocs(t *testing.T) {
	lives := map[string]*Live{"default": newTestLive(t)}
	if _, err := os.Stat(upstreamRules); err == nil {
		lives["upstream"] = newTestLiveWith(t, falcocompat.LoadPaths(upstreamRules))
	} else if os.Getenv("CI") != "" {
		t.Fatalf("upstream rules needed in CI: %v", err)
	}
	r := openRecord("/tmp/peregrine-bench")
	for name, l := range lives {
		var alerts []Alert
		n := testing.AllocsPerRun(100, func() {
			alerts = l.evaluate(r, l.handle(r), alerts[:0])
		})
		if len(alerts) != 0 {
			t.Fatalf("%s: %d alerts for an open of /tmp", name, len(alerts))
		}
		if n > 1 {
			t.Errorf("%s rules: %v allocations per record, want at most 1", name, n)
		}
	}
}
