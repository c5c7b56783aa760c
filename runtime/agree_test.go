package runtime

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peregrine-sec/peregrine/bpf"
	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/rules"
	"github.com/peregrine-sec/peregrine/syscalls"
	"golang.org/x/sys/unix"
)

// The kernel filter judges the record; userspace judges the event it
// builds from the same record. Both must see the same values for every
// field a kernel dimension checks, or the kernel drops events a rule
// matches. These tests synthesise records for every row of the syscall
// table, take the kernel's view of each (bpf.Record.View, which
// TestKernelMatchesEmulator ties to the real kernel), and check that no
// rule the reference evaluator matches on the userspace event is dropped
// by the emulated filter.

// choices are the values records are made of: the names, paths, flags,
// results and sockets rules care about, and their near misses.
var choices = struct {
	comms []string
	uids  []uint32
	paths []string
	rets  []int64
	ports []uint16
	addrs []netip.Addr
}{
	comms: []string{"cat", "sshd", "bash", "sh", "nginx", "httpd", "dpkg", "sudo", "runc:[2:INIT]", "", "a-long-name-15c",
		"gdb", "node", "python3", "systemd"},
	uids: []uint32{0, 1000, 65534},
	paths: []string{"/etc/shadow", "/etc/passwd", "/etc/sudoers.d/x", "/etc/pam.d/sshd", "/var/log/syslog", "/var/log/a/b",
		"/tmp/x", "/tmp/.x", "/dev/shm/x", "/root/.ssh/id_rsa", "/home/u/.ssh/id_ed25519", "/home/u/.ssh/id_rsa.pub",
		"/usr/bin/x", "/bin/sh", "/proc/1/environ", "x", "etc/shadow", "../etc/shadow", "/etc/../etc/shadow",
		"/etc//shadow", "/etc/", "/", "/etc/ld.so.preload", "/etc/crontab", "/var/run/docker.sock", ""},
	rets:  []int64{3, 0, -1, -2, -13, -115},
	ports: []uint16{0, 22, 80, 443, 2222, 6443, 8080},
	addrs: []netip.Addr{netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.1.2.3"),
		netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("::1"), netip.MustParseAddr("2001:db8::1")},
}

// cgroupChoices are the cgroups records are made in, as the kernel names
// them (a pair of ids) and walks them: on the host, in a Podman container
// on a hybrid host (v1), in a Kubernetes pod on a v2 host; the first three
// classified (classifyChoices), the last not.
var cgroupChoices = []struct {
	pair   bpf.CgroupPair
	v2, v1 string
}{
	{bpf.CgroupPair{V2: 1, V1: 101}, "/", "/user.slice/user-0.slice"},
	{bpf.CgroupPair{V2: 1, V1: 102}, "/", "/machine.slice/libpod-" + strings.Repeat("ab", 32) + ".scope"},
	{bpf.CgroupPair{V2: 7, V1: 0}, "/kubepods/besteffort/pod1234/" + strings.Repeat("cd", 32), ""},
	{bpf.CgroupPair{V2: 1, V1: 103}, "/", "/system.slice/docker-" + strings.Repeat("ef", 32) + ".scope"},
}

// walked is a path as the kernel walks it: components leaf first.
func walked(path string) []byte {
	var b []byte
	comps := strings.Split(strings.Trim(path, "/"), "/")
	for i := len(comps) - 1; i >= 0; i-- {
		if comps[i] != "" {
			b = append(append(b, comps[i]...), 0)
		}
	}
	return b
}

// withCgroups puts r in one of cgroupChoices, the record carrying the
// walk when the kernel did not know them (as report_cgroups does), and
// sets what the kernel filter knew: the class userspace gave it, unless
// the plan did not check (or the walk is about to classify them).
func withCgroups(l *Live, r *bpf.Record, pick picker) {
	c := cgroupChoices[pick(len(cgroupChoices))]
	r.CgroupID, r.CgroupV1ID = c.pair.V2, c.pair.V1
	cg, known := l.classes.of(r)
	if !known || pick(4) == 0 {
		r.Flags |= bpf.FlagCgroups
		r.Blobs[4], r.Blobs[5] = walked(c.v2), nil
		if c.v1 != "" {
			r.Blobs[5] = walked(c.v1)
		}
	}
	if known && pick(3) > 0 {
		r.Flags |= bpf.FlagContainerKnown
		if !isHost(cg.ContainerID) {
			r.Flags |= bpf.FlagInContainer
		}
	}
	if pick(6) == 0 {
		r.Pid, r.Tid = 1<<30, 1<<30 // gone before userspace could read it
	}
}

// classifyChoices classifies the first three cgroupChoices, as exec
// records in them would.
func classifyChoices(t testing.TB, l *Live) {
	t.Helper()
	for _, c := range cgroupChoices[:3] {
		r := &bpf.Record{Kind: bpf.KindExec, CgroupID: c.pair.V2, CgroupV1ID: c.pair.V1, Flags: bpf.FlagCgroups}
		r.Blobs[4] = walked(c.v2)
		if c.v1 != "" {
			r.Blobs[5] = walked(c.v1)
		}
		if _, ok := l.classes.learn(r); !ok {
			t.Fatalf("cgroups %v not classified", c.pair)
		}
	}
}

var openFlagBits = []uint64{unix.O_CREAT, unix.O_TRUNC, unix.O_APPEND, unix.O_EXCL, unix.O_DIRECTORY, unix.O_CLOEXEC, unix.O_PATH}

// picker draws choices from a source of numbers: a seeded generator for
// the tests, the fuzzer's bytes for the fuzz target.
type picker func(n int) int

// synthRecord makes a record of row as the capture would send it, from
// pick's choices.
func synthRecord(row *syscalls.Syscall, pick picker) *bpf.Record {
	one := func(n int) int {
		if n <= 0 {
			return 0
		}
		return pick(n)
	}
	str := func(l []string) string { return l[one(len(l))] }
	r := syscallRecord(int32(row.Nr), choices.rets[one(len(choices.rets))], [6]uint64{})
	copy(r.Comm[:], str(choices.comms))
	r.PComm = [16]byte{}
	copy(r.PComm[:], str(choices.comms))
	r.EUID = choices.uids[one(len(choices.uids))]
	for i := range r.Args {
		r.Args[i] = uint64(one(1 << 16))
	}
	if row.Layout.DirFD >= 0 && row.Layout.DirFD < 6 && one(2) == 0 {
		r.Args[row.Layout.DirFD] = uint64(0xffffff9c) // AT_FDCWD
	}
	// The user strings, sometimes unreadable or cut short.
	for i, pos := range []int8{row.Layout.Path0, row.Layout.Path1} {
		if pos < 0 {
			continue
		}
		switch one(10) {
		case 0:
			r.Flags |= bpf.FlagBlob0Failed << i
		case 1:
			r.Blobs[i] = append([]byte("/"+strings.Repeat("d/", 150)+"x"), 0)
		default:
			r.Blobs[i] = append([]byte(str(choices.paths)), 0)
		}
	}
	// The directory a relative path is relative to, when walked.
	if row.Layout.DirFD >= 0 && one(3) > 0 {
		r.Flags |= bpf.FlagDir
		dirs := [][]byte{nil, []byte("etc\x00"), []byte("x\x00tmp\x00"), []byte("log\x00var\x00")}
		r.Blobs[3] = dirs[one(len(dirs))]
		if one(8) == 0 {
			r.Flags |= bpf.FlagCwdIncomplete
		}
	}
	if f := row.Layout.FlagsArg; f >= 0 && f < 6 {
		flags := uint64(one(4)) // access mode, 3 included
		for _, b := range openFlagBits {
			if one(3) == 0 {
				flags |= b
			}
		}
		r.Args[f] = flags
	}
	// The file behind the fd, and its socket.
	if row.Layout.FD >= 0 && (row.Layout.FD != syscalls.RetFD || r.Ret >= 0) {
		r.Flags |= bpf.FlagHasFile
		modes := []uint32{unix.S_IFREG | 0o644, unix.S_IFDIR | 0o755, unix.S_IFSOCK | 0o777, unix.S_IFIFO | 0o600}
		r.File.Mode = modes[one(len(modes))]
		if one(2) == 0 {
			r.File.FMode = bpf.FModeCreated
		}
		r.File.Ino, r.File.Dev = 42, 8
		if row.Role != syscalls.NoSocket || r.File.Mode&unix.S_IFMT == unix.S_IFSOCK {
			r.File.Mode = unix.S_IFSOCK | 0o777
			r.Flags |= bpf.FlagHasSock
			fams := []uint16{unix.AF_INET, unix.AF_INET6, unix.AF_UNIX}
			r.Sock.Family = fams[one(len(fams))]
			r.Sock.Type = []uint16{unix.SOCK_STREAM, unix.SOCK_DGRAM}[one(2)]
			r.Sock.LocalPort = choices.ports[one(len(choices.ports))]
			r.Sock.RemotePort = choices.ports[one(len(choices.ports))]
			addrs := choices.addrs
			if r.Sock.Family == unix.AF_INET {
				addrs = addrs[:4] // the IPv4 ones
			}
			local, remote := addrs[one(len(addrs))], addrs[one(len(addrs))]
			if r.Sock.Family != unix.AF_UNIX {
				r.Sock.LocalAddr, r.Sock.RemoteAddr = local, remote
			}
		}
	}
	// The socket address passed, for connect and bind.
	if row.Layout.Sockaddr >= 0 && !row.Layout.AddrOut {
		sa := make([]byte, 16)
		binary.LittleEndian.PutUint16(sa, unix.AF_INET)
		binary.BigEndian.PutUint16(sa[2:], choices.ports[one(len(choices.ports))])
		a := choices.addrs[one(3)].As4()
		copy(sa[4:], a[:])
		r.Blobs[2] = sa
	}
	return r
}

// atomRules are one rule per comparison a kernel dimension can check,
// each on its own and negated: a field and a literal the records take.
func atomRules(t testing.TB) *policy.Ruleset {
	t.Helper()
	var b strings.Builder
	n := 0
	add := func(cond string) {
		fmt.Fprintf(&b, "- rule: atom %d\n  desc: d\n  condition: %s\n  output: o\n  priority: info\n", n, cond)
		n++
		fmt.Fprintf(&b, "- rule: atom %d\n  desc: d\n  condition: not (%s)\n  output: o\n  priority: info\n", n, cond)
		n++
	}
	for _, c := range []string{"cat", "sshd", "", "runc:[2:INIT]"} {
		add(fmt.Sprintf("proc.name = %q", c))
		add(fmt.Sprintf("proc.pname = %q", c))
		add(fmt.Sprintf("proc.aname[1] = %q", c))
	}
	for _, u := range []string{"0", "1000"} {
		add("user.uid = " + u)
		add("user.uid < " + u)
	}
	fields := map[string]bool{}
	for _, s := range syscalls.Table {
		for f := range s.PathFields() {
			fields[f] = true
		}
		if pf := s.PortFields(); pf != nil {
			for _, side := range pf {
				for _, f := range side {
					for _, p := range []string{"22", "80", "8080"} {
						add(fmt.Sprintf("evt.type = %s and %s = %s", s.Name, f, p))
					}
				}
			}
		}
	}
	fields["fd.directory"], fields["fd.filename"] = true, true
	for f := range fields {
		for _, p := range []string{"/etc/shadow", "/etc", "/tmp/x", "/var/log/"} {
			add(fmt.Sprintf("%s = %s", f, p))
			add(fmt.Sprintf("%s startswith %s", f, p))
			add(fmt.Sprintf("%s endswith %s", f, filepath.Base(p)))
		}
	}
	for _, f := range []string{"evt.is_open_read", "evt.is_open_write", "evt.failed"} {
		add(f + " = true")
	}
	for _, fl := range []string{"O_TRUNC", "O_CREAT", "O_APPEND", "O_EXCL", "O_F_CREATED", "O_RDONLY", "O_WRONLY", "O_RDWR"} {
		add("evt.arg.flags contains " + fl)
	}
	for _, c := range []string{"container.id = host", "container.id != host", "container.id = " + strings.Repeat("ab", 6),
		"container.id in (host, " + strings.Repeat("cd", 6) + ")"} {
		add(c)
	}
	for _, c := range []string{"fd.typechar = f", "fd.typechar = d", "fd.nameraw contains ../", "evt.res = SUCCESS",
		"evt.res = ENOENT", "evt.rawres >= 0", "evt.rawres = 3", "fd.num >= 0", "fd.num = 3"} {
		add(c)
	}
	l := falcocompat.NewLoader()
	l.AddFile("atoms.yaml", []byte(b.String()))
	res := l.Compile()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return res.Ruleset
}

// agreement is a plan and its reference evaluator, for one ruleset.
type agreement struct {
	name string
	plan *compiler.Plan
	ref  *policy.Evaluator
}

func agreements(t testing.TB) []agreement {
	t.Helper()
	name, src := rules.Default()
	l := falcocompat.NewLoader()
	l.AddFile(name, src)
	res := l.Compile()
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	sets := []struct {
		name string
		rs   *policy.Ruleset
	}{{"atoms", atomRules(t)}, {"default", res.Ruleset}}
	dir := filepath.Join("..", "..", "shared", "falco")
	if _, err := os.Stat(filepath.Join(dir, "falco_rules.yaml")); err == nil {
		up := falcocompat.LoadPaths(filepath.Join(dir, "falco_rules.yaml"), filepath.Join(dir, "falco-incubating_rules.yaml"))
		if err := up.Err(); err != nil {
			t.Fatal(err)
		}
		sets = append(sets, struct {
			name string
			rs   *policy.Ruleset
		}{"upstream", up.Ruleset})
	} else if os.Getenv("CI") != "" {
		t.Fatalf("upstream rules needed in CI: %v", err)
	}
	var out []agreement
	for _, s := range sets {
		plan, err := compiler.Compile(s.rs, compiler.Options{Syscalls: syscalls.Names()})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := policy.NewEvaluator(s.rs)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, agreement{s.name, plan, ref})
	}
	return out
}

// check reports a rule the reference evaluator matches on the userspace
// event of r whose class the emulated kernel filter, judging the kernel's
// view of r, does not pass.
func (a *agreement) check(l *Live, r *bpf.Record) error {
	v, ok := r.View()
	if !ok {
		return nil
	}
	ev := l.event(r)
	if ev == nil {
		return fmt.Errorf("no event for a %s record", v.Syscall)
	}
	mask := a.plan.Encoding.Emulate(v)
	for i, rule := range a.plan.Rules {
		if rule.EventTypes != nil && !contains(rule.EventTypes, v.Syscall) {
			continue
		}
		if !a.ref.Match(rule, ev) {
			continue
		}
		class := -1
		for _, sp := range a.plan.Preds[i] {
			if sp.Syscall == v.Syscall {
				class = sp.Class
			}
		}
		if class < 0 || !mask.Has(class) {
			raw, _ := ev.MarshalJSON()
			pred := "none"
			if class >= 0 {
				pred = a.plan.Classes[class].Pred.String()
			}
			return fmt.Errorf("%s rules: %q matches the userspace event but the kernel's view fails its predicate\nview  %+v\nclass %d: %s\nevent %s",
				a.name, rule.Name, v, class, pred, raw)
		}
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestKernelAndUserspaceAgree synthesises records of every row of the
// syscall table and checks, for the atom, default and upstream rules, that
// the kernel filter passes every event a rule matches in userspace.
func TestKernelAndUserspaceAgree(t *testing.T) {
	l := newTestLive(t)
	classifyChoices(t, l)
	as := agreements(t)
	rng := rand.New(rand.NewSource(1))
	n := 400
	if testing.Short() {
		n = 50
	}
	for i := range syscalls.Table {
		row := &syscalls.Table[i]
		failed := 0
		for k := 0; k < n && failed < 3; k++ {
			r := synthRecord(row, rng.Intn)
			withCgroups(l, r, rng.Intn)
			for j := range as {
				if err := as[j].check(l, r); err != nil {
					t.Errorf("%s: %v", row.Name, err)
					failed++
				}
			}
		}
	}
}

// FuzzKernelAndUserspaceAgree is the record-level differential target: the
// fuzzer's bytes choose a syscall and the values of its record.
func FuzzKernelAndUserspaceAgree(f *testing.F) {
	for _, seed := range []string{"\x00", "\x01\x02\x03", "\x05\x00\x01\x09\x02", "\x2a\x07\x07\x07\x07\x07\x07\x07"} {
		f.Add([]byte(seed))
	}
	l := newTestLive(f)
	classifyChoices(f, l)
	as := agreements(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		i := 0
		pick := func(n int) int {
			if i >= len(data) {
				return 0
			}
			v := int(data[i]) % n
			i++
			return v
		}
		row := &syscalls.Table[pick(len(syscalls.Table))]
		r := synthRecord(row, pick)
		withCgroups(l, r, pick)
		for j := range as {
			if err := as[j].check(l, r); err != nil {
				t.Fatal(err)
			}
		}
	})
}
