package proctable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	hexA = "3f4e9d1c2b7a8e6f5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e"
	hexB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func TestParseContainerID(t *testing.T) {
	tests := []struct {
		name, path, id, runtime string
	}{
		{"docker v1 cgroupfs", "/docker/" + hexA, "3f4e9d1c2b7a", "docker"},
		{"docker v1 nested init", "/docker/" + hexA + "/init.scope", "3f4e9d1c2b7a", "docker"},
		{"docker systemd scope", "/system.slice/docker-" + hexA + ".scope", "3f4e9d1c2b7a", "docker"},
		{"docker scope bare", "docker-" + hexB + ".scope", "0123456789ab", "docker"},
		{"containerd systemd k8s", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c0e.slice/cri-containerd-" + hexA + ".scope", "3f4e9d1c2b7a", "containerd"},
		{"containerd scope bare", "cri-containerd-" + hexB + ".scope", "0123456789ab", "containerd"},
		{"kubepods v1 cgroupfs", "/kubepods/besteffort/pod8b5d2f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b/" + hexA, "3f4e9d1c2b7a", "containerd"},
		{"kubepods guaranteed", "/kubepods/pod8b5d2f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b/" + hexB, "0123456789ab", "containerd"},
		{"cri-o systemd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod11.slice/crio-" + hexA + ".scope", "3f4e9d1c2b7a", "cri-o"},
		{"cri-o conmon is host", "/system.slice/crio-conmon-" + hexA + ".scope", "host", "host"},
		{"podman rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + hexA + ".scope", "3f4e9d1c2b7a", "podman"},
		{"podman cgroupfs", "/libpod_parent/libpod-" + hexB, "0123456789ab", "podman"},
		{"podman conmon is host", "/machine.slice/libpod-conmon-" + hexA + ".scope", "host", "host"},
		{"innermost wins", "/docker/" + hexA + "/docker/" + hexB, "0123456789ab", "docker"},
		{"empty", "", "host", "host"},
		{"root", "/", "host", "host"},
		{"v2 session", "/user.slice/user-1000.slice/session-3.scope", "host", "host"},
		{"docker daemon", "/system.slice/docker.service", "host", "host"},
		{"init scope", "/init.scope", "host", "host"},
		{"32 hex", "/process_api/62b90392a418a9f6b27cdd035769691c", "host", "host"},
		{"63 hex", "/docker/" + hexA[:63], "host", "host"},
		{"uppercase hex", "/docker/" + strings.ToUpper(hexA), "host", "host"},
		{"bare id, unknown parent", "/lxc/" + hexA, "host", "host"},
		{"scope with short id", "/system.slice/docker-abc.scope", "host", "host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, rt := ParseContainerID(tc.path)
			if id != tc.id || rt != tc.runtime {
				t.Errorf("ParseContainerID(%q) = %q, %q; want %q, %q", tc.path, id, rt, tc.id, tc.runtime)
			}
		})
	}
}

func TestCapNames(t *testing.T) {
	all := strings.Join(capNames[:], " ")
	tests := []struct {
		mask uint64
		want string
	}{
		{0, ""},
		{1, "CAP_CHOWN"},
		{3, "CAP_CHOWN CAP_DAC_OVERRIDE"},
		{1<<21 | 1<<12, "CAP_NET_ADMIN CAP_SYS_ADMIN"},
		{1 << 40, "CAP_CHECKPOINT_RESTORE"},
		{1<<39 | 1<<38, "CAP_PERFMON CAP_BPF"},
		{1 << 41, ""},
		{1<<63 | 1<<7, "CAP_SETUID"},
		{1<<41 - 1, all},
		{^uint64(0), all},
		// Docker's default set.
		{0x00000000a80425fb, "CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_CHROOT CAP_MKNOD CAP_AUDIT_WRITE CAP_SETFCAP"},
	}
	for _, tc := range tests {
		if got := CapNames(tc.mask); got != tc.want {
			t.Errorf("CapNames(%#x) = %q, want %q", tc.mask, got, tc.want)
		}
	}
	if len(capNames) != 41 || capNames[0] != "CAP_CHOWN" || capNames[21] != "CAP_SYS_ADMIN" || capNames[40] != "CAP_CHECKPOINT_RESTORE" {
		t.Errorf("capNames table is wrong: %d entries", len(capNames))
	}
}

// statTail is fields 3..52 of a real /proc/PID/stat line after the ids,
// split so tests can vary ppid, pgrp, session, tty_nr and starttime.
func statLine(pid int32, comm string, ppid, pgrp, sid int32, tty int64, start uint64) string {
	return fmt.Sprintf("%d (%s) S %d %d %d %d -1 4194560 1253 0 0 0 3 1 0 0 20 0 1 0 %d 10874880 1372 18446744073709551615 1 1 0 0 0 0 65536 3686404 1266761467 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0",
		pid, comm, ppid, pgrp, sid, tty, start)
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    stat
		wantErr bool
	}{
		{"plain", statLine(42, "bash", 1, 42, 42, 34816, 12345), stat{42, "bash", 'S', 1, 42, 42, 34816, 12345}, false},
		{"spaces", statLine(7, "Web Content", 6, 5, 4, 0, 9), stat{7, "Web Content", 'S', 6, 5, 4, 0, 9}, false},
		{"close paren", statLine(7, "a) S 1 2 3", 6, 5, 4, 0, 9), stat{7, "a) S 1 2 3", 'S', 6, 5, 4, 0, 9}, false},
		{"only parens", statLine(7, ")()(", 6, 5, 4, 0, 9), stat{7, ")()(", 'S', 6, 5, 4, 0, 9}, false},
		{"empty comm", statLine(7, "", 0, 0, 0, 0, 0), stat{7, "", 'S', 0, 0, 0, 0, 0}, false},
		{"kworker", statLine(9, "kworker/0:1H-kblockd", 2, 0, 0, 0, 31), stat{9, "kworker/0:1H-kblockd", 'S', 2, 0, 0, 0, 31}, false},
		{"newline in comm", statLine(7, "a\nb", 6, 5, 4, 0, 9), stat{7, "a\nb", 'S', 6, 5, 4, 0, 9}, false},
		{"large starttime", statLine(7, "x", 6, 5, 4, 0, 1<<62), stat{7, "x", 'S', 6, 5, 4, 0, 1 << 62}, false},
		{"negative tty", statLine(7, "x", 6, 5, 4, -1, 9), stat{7, "x", 'S', 6, 5, 4, 0xffffffff, 9}, false},
		{"exactly 22 fields", "1 (init) S 0 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 77", stat{1, "init", 'S', 0, 1, 1, 0, 77}, false},
		{"no parens", "1 init S 0 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 77", stat{}, true},
		{"no pid", "(init) S 0 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 77", stat{}, true},
		{"bad pid", "x1 (init) S 0 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 77", stat{}, true},
		{"too few fields", "1 (init) S 0 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0", stat{}, true},
		{"bad ppid", "1 (init) S x 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 77", stat{}, true},
		{"bad state", "1 (init) SS 0 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 77", stat{}, true},
		{"bad starttime", "1 (init) S 0 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 -77", stat{}, true},
		{"reversed parens", "1 )init( S 0 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 77", stat{}, true},
		{"empty", "", stat{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat(tc.line)
			if tc.wantErr {
				if err == nil || !errors.Is(err, ErrMalformed) {
					t.Fatalf("parseStat(%q) err = %v, want ErrMalformed", tc.line, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseStat(%q): %v", tc.line, err)
			}
			if got != tc.want {
				t.Errorf("parseStat(%q) = %+v, want %+v", tc.line, got, tc.want)
			}
		})
	}
}

func TestTicksToNs(t *testing.T) {
	for _, tc := range []struct{ ticks, ns uint64 }{
		{0, 0}, {1, 10_000_000}, {100, 1e9}, {12345, 123_450_000_000},
		{1 << 40, (1 << 40) * 10_000_000}, // would overflow as ticks*1e9
	} {
		if got := ticksToNs(tc.ticks); got != tc.ns {
			t.Errorf("ticksToNs(%d) = %d, want %d", tc.ticks, got, tc.ns)
		}
	}
}

func TestParseStatus(t *testing.T) {
	full := "Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\nPid:\t4243\nPPid:\t1\n" +
		"Uid:\t1000\t0\t0\t0\nGid:\t100\t27\t27\t27\nNStgid:\t4242\t7\nNSpid:\t4243\t8\nNSpgid:\t4000\t1\nNSsid:\t4000\t1\n" +
		"CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t00000000a80425fb\nCapBnd:\t000001ffffffffff\n"
	tests := []struct {
		name    string
		data    string
		want    status
		wantErr bool
	}{
		{"full", full, status{Tgid: 4242, RUID: 1000, EUID: 0, RGID: 100, EGID: 27, NStgid: 7, NSpgid: 1, NSpid: 8,
			CapPrm: 0x1ffffffffff, CapEff: 0xa80425fb, haveUID: true, haveGID: true}, false},
		{"old kernel, no NS lines", "Tgid:\t5\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n",
			status{Tgid: 5, NStgid: -1, NSpid: -1, NSpgid: -1, haveUID: true, haveGID: true}, false},
		{"no trailing newline", "Uid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8",
			status{RUID: 1, EUID: 2, RGID: 5, EGID: 6, NStgid: -1, NSpid: -1, NSpgid: -1, haveUID: true, haveGID: true}, false},
		{"missing Gid", "Uid:\t0\t0\t0\t0\n", status{}, true},
		{"short Uid", "Uid:\t0\nGid:\t0\t0\t0\t0\n", status{}, true},
		{"bad cap", "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\tzz\n", status{}, true},
		{"bad NSpid", "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nNSpid:\t\n", status{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tc.data))
			if tc.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		data string
		want []string
	}{
		{"", nil},
		{"bash\x00", []string{"bash"}},
		{"/usr/bin/python3\x00-c\x00print(1)\x00", []string{"/usr/bin/python3", "-c", "print(1)"}},
		{"a\x00\x00b\x00", []string{"a", "", "b"}},
		{"nginx: worker process", []string{"nginx: worker process"}},
		{"x\x00y", []string{"x", "y"}},
		{"\x00", []string{""}},
	}
	for _, tc := range tests {
		if got := parseCmdline([]byte(tc.data)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseCmdline(%q) = %q, want %q", tc.data, got, tc.want)
		}
	}
}

func TestParseEnviron(t *testing.T) {
	long := strings.Repeat("x", EnvMax-4) // "A=" + long + NUL leaves room for one byte of "B=1"
	tests := []struct {
		data string
		want []string
	}{
		{"", nil},
		{"HOME=/root\x00PATH=/bin\x00", []string{"HOME=/root", "PATH=/bin"}},
		{"A=" + long + "\x00B=1\x00", []string{"A=" + long, "B"}},
	}
	for _, tc := range tests {
		if got := parseEnviron([]byte(tc.data)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseEnviron(%.20q...) = %.40q, want %.40q", tc.data, got, tc.want)
		}
	}
}

func TestParseLoginUID(t *testing.T) {
	tests := []struct {
		data    string
		want    int64
		wantErr bool
	}{
		{"4294967295", -1, false},
		{"1000", 1000, false},
		{"0\n", 0, false},
		{"", -1, true},
		{"-1", -1, true},
		{"4294967296", -1, true},
	}
	for _, tc := range tests {
		got, err := parseLoginUID([]byte(tc.data))
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("parseLoginUID(%q) = %d, %v; want %d, err %v", tc.data, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseCgroup(t *testing.T) {
	tests := []struct {
		name, data, path, id, runtime string
	}{
		{"v2 host", "0::/user.slice/user-1000.slice/session-2.scope\n", "/user.slice/user-1000.slice/session-2.scope", "host", "host"},
		{"v2 docker", "0::/system.slice/docker-" + hexA + ".scope\n", "/system.slice/docker-" + hexA + ".scope", "3f4e9d1c2b7a", "docker"},
		{"v2 inside container namespace", "0::/\n", "/", "host", "host"},
		{"v1 docker", "12:pids:/docker/" + hexA + "\n11:memory:/docker/" + hexA + "\n1:name=systemd:/docker/" + hexA + "\n",
			"/docker/" + hexA, "3f4e9d1c2b7a", "docker"},
		{"hybrid, v2 root", "4:memory:/process_api/62b90392a418a9f6b27cdd035769691c\n3:cpuset:/\n0::/\n",
			"/process_api/62b90392a418a9f6b27cdd035769691c", "host", "host"},
		{"hybrid, container in v1 only", "5:cpu,cpuacct:/kubepods/burstable/pod1/" + hexB + "\n1:name=systemd:/\n0::/\n",
			"/kubepods/burstable/pod1/" + hexB, "0123456789ab", "containerd"},
		{"v1 all root", "2:cpu:/\n1:name=systemd:/\n", "/", "host", "host"},
		{"colon in path", "0::/a:b\n", "/a:b", "host", "host"},
		{"empty", "", "", "host", "host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, id, rt := parseCgroup([]byte(tc.data))
			if path != tc.path || id != tc.id || rt != tc.runtime {
				t.Errorf("parseCgroup = %q, %q, %q; want %q, %q, %q", path, id, rt, tc.path, tc.id, tc.runtime)
			}
		})
	}
}

func TestParseNSLink(t *testing.T) {
	for _, tc := range []struct {
		target string
		want   uint64
		ok     bool
	}{
		{"pid:[4026531836]", 4026531836, true},
		{"mnt:[4026531841]", 4026531841, true},
		{"pid:[]", 0, false},
		{"pid:4026531836", 0, false},
		{"pid:[x]", 0, false},
	} {
		got, err := parseNSLink(tc.target)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("parseNSLink(%q) = %d, %v", tc.target, got, err)
		}
	}
}

// fakeProc describes one process directory of a fake proc root.
type fakeProc struct {
	pid, ppid, pgrp, sid int32
	comm                 string
	tty                  int64
	start                uint64 // clock ticks
	tgid                 int32  // 0: pid
	uid, gid             [2]uint32
	nsLines              string // NStgid/NSpid/NSpgid lines, "" for a pre-4.1 kernel
	capInh, capPrm       uint64
	capEff               uint64
	cmdline              string
	cgroup               string
	loginuid             string // "" leaves the file out
	exe, cwd             string // "" leaves the link out
	pidNS, mntNS         uint64 // 0 leaves the link out
}

func writeFake(t testing.TB, root string, p fakeProc) {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprint(p.pid))
	if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	tgid := p.tgid
	if tgid == 0 {
		tgid = p.pid
	}
	files := map[string]string{
		"stat": statLine(p.pid, p.comm, p.ppid, p.pgrp, p.sid, p.tty, p.start) + "\n",
		"status": fmt.Sprintf("Name:\t%s\nTgid:\t%d\nPid:\t%d\nPPid:\t%d\nUid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\n%sCapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t000001ffffffffff\n",
			p.comm, tgid, p.pid, p.ppid, p.uid[0], p.uid[1], p.uid[1], p.uid[1], p.gid[0], p.gid[1], p.gid[1], p.gid[1],
			p.nsLines, p.capInh, p.capPrm, p.capEff),
		"cmdline": p.cmdline,
		"cgroup":  p.cgroup,
	}
	if p.loginuid != "" {
		files["loginuid"] = p.loginuid
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{}
	if p.exe != "" {
		links["exe"] = p.exe
	}
	if p.cwd != "" {
		links["cwd"] = p.cwd
	}
	if p.pidNS != 0 {
		links["ns/pid"] = fmt.Sprintf("pid:[%d]", p.pidNS)
	}
	if p.mntNS != 0 {
		links["ns/mnt"] = fmt.Sprintf("mnt:[%d]", p.mntNS)
	}
	for name, target := range links {
		path := filepath.Join(dir, name)
		os.Remove(path)
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	hostPidNS = 4026531836
	hostMntNS = 4026531841
)

// fakeTree is: kthreadd(2); systemd(1) -> sshd(100) -> bash(200) -> a
// containerised payload(300) running from a memfd.
var fakeTree = []fakeProc{
	{pid: 1, ppid: 0, pgrp: 1, sid: 1, comm: "systemd", start: 1, uid: [2]uint32{0, 0},
		nsLines: "NStgid:\t1\nNSpid:\t1\nNSpgid:\t1\n", capPrm: 1<<41 - 1, capEff: 1<<41 - 1,
		cmdline: "/sbin/init\x00splash\x00", cgroup: "0::/init.scope\n", loginuid: "4294967295",
		exe: "/usr/lib/systemd/systemd", cwd: "/", pidNS: hostPidNS, mntNS: hostMntNS},
	{pid: 2, ppid: 0, pgrp: 0, sid: 0, comm: "kthreadd", start: 1, capPrm: 1<<41 - 1, capEff: 1<<41 - 1,
		cgroup: "0::/\n", loginuid: "4294967295"},
	{pid: 100, ppid: 1, pgrp: 100, sid: 100, comm: "sshd", start: 500,
		nsLines: "NStgid:\t100\nNSpid:\t100\nNSpgid:\t100\n", capPrm: 1<<41 - 1, capEff: 1<<41 - 1,
		cmdline: "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", cgroup: "0::/system.slice/ssh.service\n",
		loginuid: "4294967295", exe: "/usr/sbin/sshd", cwd: "/", pidNS: hostPidNS, mntNS: hostMntNS},
	{pid: 200, ppid: 100, pgrp: 200, sid: 200, comm: "bash", tty: 34816, start: 12345,
		uid: [2]uint32{1000, 1000}, gid: [2]uint32{1000, 1000},
		nsLines: "NStgid:\t200\nNSpid:\t200\nNSpgid:\t200\n",
		cmdline: "-bash\x00", cgroup: "0::/user.slice/user-1000.slice/session-3.scope\n", loginuid: "1000",
		exe: "/usr/bin/bash", cwd: "/home/alice", pidNS: hostPidNS, mntNS: hostMntNS},
	{pid: 300, ppid: 200, pgrp: 300, sid: 200, comm: "a) b (c", tty: 34816, start: 20000,
		uid: [2]uint32{1000, 0}, gid: [2]uint32{1000, 0},
		nsLines: "NStgid:\t300\t1\nNSpid:\t300\t1\nNSpgid:\t300\t1\n", capEff: 0xa80425fb, capPrm: 0xa80425fb,
		cmdline: "./payload\x00--flag\x00\x00two words\x00", cgroup: "0::/system.slice/docker-" + hexA + ".scope\n",
		loginuid: "1000", exe: "/memfd:payload (deleted)", cwd: "/tmp", pidNS: 4026532500, mntNS: 4026532501},
}

func newFakeTable(t testing.TB) (*Table, string) {
	t.Helper()
	root := t.TempDir()
	for _, p := range fakeTree {
		writeFake(t, root, p)
	}
	// Entries Bootstrap must ignore: non-pid names and a process whose
	// directory is there but whose files vanished.
	for _, d := range []string{"self", "sys", "0123", "400"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "uptime"), []byte("1.0 1.0\n"), 0o644)
	tab := New(root)
	tab.now = func() uint64 { return 999_000_000_000 }
	if err := tab.Bootstrap(); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	return tab, root
}

func TestBootstrapFake(t *testing.T) {
	tab, _ := newFakeTable(t)
	if tab.Len() != len(fakeTree) {
		t.Fatalf("Len = %d, want %d", tab.Len(), len(fakeTree))
	}
	want := map[int32]Process{
		1: {Pid: 1, Tid: 1, Ppid: 0, Comm: "systemd", Exe: "/sbin/init", ExePath: "/usr/lib/systemd/systemd",
			Args: []string{"splash"}, Cwd: "/", Sid: 1, Pgid: 1, VPid: 1, VPgid: 1, LoginUID: -1,
			CapEffective: 1<<41 - 1, CapPermitted: 1<<41 - 1, StartTime: 10_000_000,
			CgroupPath: "/init.scope", ContainerID: "host", ContainerRuntime: "host", PidNS: hostPidNS, MntNS: hostMntNS},
		2: {Pid: 2, Tid: 2, Comm: "kthreadd", Exe: "kthreadd", Args: []string{}, VPid: 2, LoginUID: -1,
			CapEffective: 1<<41 - 1, CapPermitted: 1<<41 - 1, StartTime: 10_000_000,
			CgroupPath: "/", ContainerID: "host", ContainerRuntime: "host"},
		100: {Pid: 100, Tid: 100, Ppid: 1, Comm: "sshd", Exe: "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",
			ExePath: "/usr/sbin/sshd", Args: []string{}, Cwd: "/", Sid: 100, Pgid: 100, VPid: 100, VPgid: 100, LoginUID: -1,
			CapEffective: 1<<41 - 1, CapPermitted: 1<<41 - 1, StartTime: 5_000_000_000,
			CgroupPath: "/system.slice/ssh.service", ContainerID: "host", ContainerRuntime: "host", PidNS: hostPidNS, MntNS: hostMntNS},
		200: {Pid: 200, Tid: 200, Ppid: 100, Comm: "bash", Exe: "-bash", ExePath: "/usr/bin/bash", Args: []string{},
			Cwd: "/home/alice/", Tty: 34816, Sid: 200, Pgid: 200, VPid: 200, VPgid: 200,
			UID: 1000, GID: 1000, RealUID: 1000, RealGID: 1000, LoginUID: 1000, StartTime: 123_450_000_000,
			CgroupPath: "/user.slice/user-1000.slice/session-3.scope", ContainerID: "host", ContainerRuntime: "host",
			PidNS: hostPidNS, MntNS: hostMntNS},
		300: {Pid: 300, Tid: 300, Ppid: 200, Comm: "a) b (c", Exe: "./payload", ExePath: "/memfd:payload",
			Args: []string{"--flag", "", "two words"}, Cwd: "/tmp/", Tty: 34816, Sid: 200, Pgid: 300, VPid: 1, VPgid: 1,
			UID: 0, GID: 0, RealUID: 1000, RealGID: 1000, LoginUID: 1000,
			CapEffective: 0xa80425fb, CapPermitted: 0xa80425fb, StartTime: 200_000_000_000,
			CgroupPath: "/system.slice/docker-" + hexA + ".scope", ContainerID: "3f4e9d1c2b7a", ContainerRuntime: "docker",
			ExeFromMemfd: true, PidNS: 4026532500, MntNS: 4026532501},
	}
	for pid, w := range want {
		got, ok := tab.Get(pid)
		if !ok {
			t.Errorf("Get(%d): missing", pid)
			continue
		}
		if !reflect.DeepEqual(*got, w) {
			t.Errorf("Get(%d):\n got %+v\nwant %+v", pid, *got, w)
		}
	}
	if _, ok := tab.Get(400); ok {
		t.Error("vanished pid 400 is in the table")
	}
}

func TestBootstrapErrors(t *testing.T) {
	if err := New(filepath.Join(t.TempDir(), "nope")).Bootstrap(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing root: err = %v, want ErrNotExist", err)
	}

	tab, root := newFakeTable(t)
	os.WriteFile(filepath.Join(root, "300", "stat"), []byte("300 payload S 1\n"), 0o644)
	os.Remove(filepath.Join(root, "100", "status")) // vanished mid-read
	err := tab.Bootstrap()
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "pid 300") {
		t.Errorf("malformed stat: err = %v, want ErrMalformed for pid 300", err)
	}
	if tab.Len() != len(fakeTree)-2 {
		t.Errorf("Len = %d, want %d", tab.Len(), len(fakeTree)-2)
	}
	if _, ok := tab.Get(1); !ok {
		t.Error("pid 1 missing after partial bootstrap")
	}
}

func pids(ps []*Process) []int32 {
	out := []int32{}
	for _, p := range ps {
		out = append(out, p.Pid)
	}
	return out
}

func TestAncestors(t *testing.T) {
	tab, _ := newFakeTable(t)
	tests := []struct {
		pid  int32
		max  int
		want []int32
	}{
		{300, 10, []int32{300, 200, 100, 1}},
		{300, 0, []int32{300, 200, 100, 1}},
		{300, -1, []int32{300, 200, 100, 1}},
		{300, 1, []int32{300}},
		{300, 2, []int32{300, 200}},
		{300, 4, []int32{300, 200, 100, 1}},
		{1, 5, []int32{1}},
		{2, 5, []int32{2}},
		{100, 5, []int32{100, 1}},
		{999, 5, []int32{}},
	}
	for _, tc := range tests {
		if got := pids(tab.Ancestors(tc.pid, tc.max)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Ancestors(%d, %d) = %v, want %v", tc.pid, tc.max, got, tc.want)
		}
	}

	tab.Exit(100)
	if got := pids(tab.Ancestors(300, 10)); !reflect.DeepEqual(got, []int32{300, 200}) {
		t.Errorf("after Exit(100): Ancestors(300) = %v, want [300 200]", got)
	}

	// A cycle (impossible in the kernel, possible with lost events) ends.
	tab.Fork(300, 500, 500)
	tab.Fork(500, 501, 501)
	tab.mu.Lock()
	c := tab.procs[500].clone()
	c.Ppid = 501
	tab.procs[500] = c
	tab.mu.Unlock()
	if got := pids(tab.Ancestors(501, 0)); !reflect.DeepEqual(got, []int32{501, 500}) {
		t.Errorf("cycle: Ancestors(501) = %v, want [501 500]", got)
	}
}

func TestForkExecExit(t *testing.T) {
	tab, root := newFakeTable(t)
	parent, _ := tab.Get(200)

	child := tab.Fork(200, 201, 201)
	want := *parent
	want.Pid, want.Tid, want.Ppid, want.VPid, want.StartTime = 201, 201, 200, 201, 999_000_000_000
	if !reflect.DeepEqual(*child, want) {
		t.Errorf("Fork:\n got %+v\nwant %+v", *child, want)
	}
	if got, _ := tab.Get(201); got != child {
		t.Error("Get(201) is not the forked entry")
	}
	if tab.Len() != len(fakeTree)+1 {
		t.Errorf("Len = %d after fork", tab.Len())
	}

	// New thread in an existing process: nothing changes.
	if th := tab.Fork(200, 200, 205); th != parent || tab.Len() != len(fakeTree)+1 {
		t.Errorf("thread clone changed the table: %+v", th)
	}

	// Fork inside a container: the namespaced pid is unknown.
	cc := tab.Fork(300, 301, 301)
	if cc.VPid != 0 || cc.VPgid != 1 || cc.ContainerID != "3f4e9d1c2b7a" || cc.Ppid != 300 {
		t.Errorf("container fork: %+v", cc)
	}

	// Unknown parent: the child is read from the proc root when it is there...
	writeFake(t, root, fakeProc{pid: 600, ppid: 77, pgrp: 600, sid: 600, comm: "late", start: 3,
		cmdline: "late\x00-x\x00", cgroup: "0::/\n"})
	late := tab.Fork(77, 600, 600)
	if late.Comm != "late" || late.Ppid != 77 || !reflect.DeepEqual(late.Args, []string{"-x"}) || late.StartTime != 30_000_000 {
		t.Errorf("fork with unknown parent, child in /proc: %+v", late)
	}
	// ... and minimal otherwise.
	ghost := tab.Fork(78, 700, 700)
	wantGhost := Process{Pid: 700, Tid: 700, Ppid: 78, LoginUID: -1, ContainerID: "host", ContainerRuntime: "host", StartTime: 999_000_000_000}
	if !reflect.DeepEqual(*ghost, wantGhost) {
		t.Errorf("fork with nothing known: %+v", *ghost)
	}

	// Exec replaces the image fields and leaves the old snapshot alone.
	args := []string{"-c", "id"}
	ex := tab.Exec(201, "sh", args, "/usr/bin/dash", "sh")
	args[0] = "mutated"
	if ex.Exe != "sh" || ex.ExePath != "/usr/bin/dash" || ex.Comm != "sh" || !reflect.DeepEqual(ex.Args, []string{"-c", "id"}) ||
		ex.ExeFromMemfd || ex.Ppid != 200 || ex.UID != 1000 || ex.Cwd != "/home/alice/" || ex.StartTime != 999_000_000_000 {
		t.Errorf("Exec: %+v", ex)
	}
	if child.Comm != "bash" || child.Exe != "-bash" {
		t.Errorf("Exec modified the earlier snapshot: %+v", child)
	}
	if p, _ := tab.Get(200); p.Comm != "bash" {
		t.Errorf("Exec of the child changed the parent: %+v", p)
	}
	// Exec from a non-leader thread: the thread becomes the leader.
	tab.Fork(200, 202, 202)
	tab.mu.Lock()
	tab.procs[202].Tid = 203
	tab.mu.Unlock()
	// The exec of a memfd: Falco's driver records the bare dentry name.
	if ex := tab.Exec(202, "x", nil, "/memfd:x", "x"); ex.Tid != 202 || !ex.ExeFromMemfd || len(ex.Args) != 0 || ex.ExePath != "memfd:x" {
		t.Errorf("Exec from thread: %+v", ex)
	}
	// Exec of an unknown pid that is in the proc root.
	tab.Exit(600)
	if ex := tab.Exec(600, "late2", []string{"a"}, "/bin/late2", "late2"); ex.Ppid != 77 || ex.Comm != "late2" || ex.StartTime != 30_000_000 {
		t.Errorf("Exec of unknown pid from /proc: %+v", ex)
	}
	// Exec of a pid known nowhere.
	if ex := tab.Exec(800, "x", []string{"y"}, "/x", "x"); ex.Pid != 800 || ex.Ppid != 0 || ex.ContainerID != "host" || ex.Exe != "x" {
		t.Errorf("Exec of unknown pid: %+v", ex)
	}

	n := tab.Len()
	tab.Exit(201)
	if _, ok := tab.Get(201); ok || tab.Len() != n-1 {
		t.Errorf("Exit(201) left the entry, Len %d", tab.Len())
	}
	tab.Exit(201) // no-op
	tab.Exit(12345)
	if tab.Len() != n-1 {
		t.Errorf("Exit of unknown pid changed Len to %d", tab.Len())
	}
	// Children of an exited process keep their Ppid.
	tab.Exit(300)
	if c, _ := tab.Get(301); c.Ppid != 300 {
		t.Errorf("orphan Ppid = %d, want 300", c.Ppid)
	}
}

func TestRefresh(t *testing.T) {
	tab, root := newFakeTable(t)
	p := fakeTree[3] // bash, 200
	p.uid = [2]uint32{1000, 0}
	p.capEff = 1 << 21
	p.cmdline = "/usr/bin/sudo\x00-i\x00"
	p.exe = "/usr/bin/sudo"
	writeFake(t, root, p)
	got, err := tab.Refresh(200)
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != 0 || got.RealUID != 1000 || got.CapEffective != 1<<21 || got.Exe != "/usr/bin/sudo" ||
		got.ExePath != "/usr/bin/sudo" || !reflect.DeepEqual(got.Args, []string{"-i"}) {
		t.Errorf("Refresh: %+v", got)
	}
	if g, _ := tab.Get(200); g != got {
		t.Error("Refresh did not store the entry")
	}

	// A thread id refreshes its thread group's entry.
	writeFake(t, root, fakeProc{pid: 207, tgid: 200, ppid: 100, pgrp: 200, sid: 200, comm: "bash-worker",
		nsLines: "NStgid:\t200\nNSpid:\t207\nNSpgid:\t200\n", cgroup: "0::/\n"})
	th, err := tab.Refresh(207)
	if err != nil {
		t.Fatal(err)
	}
	if th.Pid != 200 || th.Tid != 207 || th.VPid != 200 || th.Comm != "bash-worker" {
		t.Errorf("thread Refresh: %+v", th)
	}
	if _, ok := tab.Get(207); ok {
		t.Error("thread stored under its tid")
	}

	// Gone and malformed processes leave the table alone.
	n := tab.Len()
	if _, err := tab.Refresh(4242); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Refresh(4242) err = %v, want ErrNotExist", err)
	}
	os.WriteFile(filepath.Join(root, "100", "status"), []byte("Uid:\tx\n"), 0o644)
	if _, err := tab.Refresh(100); !errors.Is(err, ErrMalformed) {
		t.Errorf("Refresh(100) err = %v, want ErrMalformed", err)
	}
	if p, ok := tab.Get(100); !ok || p.Comm != "sshd" || tab.Len() != n {
		t.Error("failed Refresh changed the table")
	}
}

func TestDuration(t *testing.T) {
	p := &Process{StartTime: 5e9}
	for _, tc := range []struct {
		now  uint64
		want time.Duration
	}{{5e9, 0}, {6e9, time.Second}, {4e9, 0}, {5e9 + 1, 1}} {
		if got := p.Duration(tc.now); got != tc.want {
			t.Errorf("Duration(%d) = %v, want %v", tc.now, got, tc.want)
		}
	}
	if d := (&Process{}).Duration(1e9); d != 0 {
		t.Errorf("unknown start: Duration = %v", d)
	}
	now, err := BoottimeNow()
	if err != nil || now == 0 {
		t.Fatalf("BoottimeNow = %d, %v", now, err)
	}
}

func TestConcurrent(t *testing.T) {
	tab, _ := newFakeTable(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				pid := int32(10_000 + g*1000 + i)
				tab.Fork(200, pid, pid)
				tab.Exec(pid, "x", []string{"y"}, "/x", "x")
				tab.Ancestors(pid, 0)
				if p, ok := tab.Get(pid); !ok || p.Comm != "x" {
					t.Errorf("Get(%d) = %v, %v", pid, p, ok)
				}
				tab.Exit(pid)
				tab.Len()
			}
		}()
	}
	wg.Wait()
	if tab.Len() != len(fakeTree) {
		t.Errorf("Len = %d", tab.Len())
	}
}

func TestRealProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	tab := New("/proc")
	if err := tab.Bootstrap(); err != nil {
		t.Fatalf("Bootstrap(/proc): %v", err)
	}
	self, ok := tab.Get(int32(os.Getpid()))
	if !ok {
		t.Fatal("test process not in the table")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	comm := filepath.Base(exe)
	if len(comm) > 15 {
		comm = comm[:15]
	}
	if self.Comm != comm {
		t.Errorf("Comm = %q, want %q", self.Comm, comm)
	}
	if self.ExePath != exe {
		t.Errorf("ExePath = %q, want %q", self.ExePath, exe)
	}
	if self.Ppid != int32(os.Getppid()) {
		t.Errorf("Ppid = %d, want %d", self.Ppid, os.Getppid())
	}
	if self.UID != uint32(os.Geteuid()) || self.RealUID != uint32(os.Getuid()) || self.GID != uint32(os.Getegid()) {
		t.Errorf("ids = %d/%d/%d", self.UID, self.RealUID, self.GID)
	}
	if wd, _ := os.Getwd(); self.Cwd != wd+"/" {
		t.Errorf("Cwd = %q, want %q", self.Cwd, wd)
	}
	if len(os.Args) > 0 && (self.Exe != os.Args[0] || !reflect.DeepEqual(self.Args, os.Args[1:])) {
		t.Errorf("Exe/Args = %q %q, want %q", self.Exe, self.Args, os.Args)
	}
	now, _ := BoottimeNow()
	if self.StartTime == 0 || self.StartTime > now {
		t.Errorf("StartTime = %d, now %d", self.StartTime, now)
	}

	chain := tab.Ancestors(self.Pid, 0)
	if len(chain) == 0 || chain[0] != self {
		t.Fatalf("Ancestors(self) = %v", pids(chain))
	}
	last := chain[len(chain)-1]
	if last.Pid != 1 {
		if _, ok := tab.Get(last.Ppid); ok && last.Ppid != 0 {
			t.Errorf("Ancestors stopped at %d whose parent %d is in the table", last.Pid, last.Ppid)
		}
	}
	if len(chain) > 1 && chain[1].Pid != self.Ppid {
		t.Errorf("Ancestors[1] = %d, want %d", chain[1].Pid, self.Ppid)
	}

	r, err := tab.Refresh(self.Pid)
	if err != nil || r.ExePath != exe {
		t.Errorf("Refresh(self) = %+v, %v", r, err)
	}
	t.Logf("self: %d %q, %d processes, ancestors %v, cgroup %q container %s/%s",
		self.Pid, self.Comm, tab.Len(), pids(chain), self.CgroupPath, self.ContainerRuntime, self.ContainerID)
}

func writeFile(t *testing.T, path, data string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestUsers(t *testing.T) {
	dir := t.TempDir()
	passwd, group := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	t0 := time.Unix(1_700_000_000, 0)
	writeFile(t, passwd, "root:x:0:0:root:/root:/bin/bash\n"+
		"# comment\n\n"+
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"+
		"alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh\n"+
		"dup:x:1000:1000::/home/dup:/bin/sh\n"+
		"broken:x:notanumber:1::/:/bin/sh\n"+
		"short:x:5\n"+
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin", t0)
	writeFile(t, group, "root:x:0:\nadm:x:4:syslog,alice\nalice:x:1000:\nbad:x:zz:\n+::::\nnogroup:x:65534:\n", t0)

	u := NewUsers(passwd, group)
	u.checkInterval = 0
	type lookup struct {
		id         uint32
		name, home string
		shell      string
		ok         bool
	}
	for _, tc := range []lookup{
		{0, "root", "/root", "/bin/bash", true},
		{1, "daemon", "/usr/sbin", "/usr/sbin/nologin", true},
		{1000, "alice", "/home/alice", "/bin/zsh", true},
		{65534, "nobody", "/nonexistent", "/usr/sbin/nologin", true},
		{5, "", "", "", false},
		{4242, "", "", "", false},
	} {
		name, ok1 := u.UserName(tc.id)
		home, ok2 := u.HomeDir(tc.id)
		shell, ok3 := u.Shell(tc.id)
		if name != tc.name || home != tc.home || shell != tc.shell || ok1 != tc.ok || ok2 != tc.ok || ok3 != tc.ok {
			t.Errorf("uid %d: %q %q %q %v %v %v, want %+v", tc.id, name, home, shell, ok1, ok2, ok3, tc)
		}
	}
	for _, tc := range []struct {
		gid  uint32
		name string
		ok   bool
	}{{0, "root", true}, {4, "adm", true}, {1000, "alice", true}, {65534, "nogroup", true}, {27, "", false}} {
		if name, ok := u.GroupName(tc.gid); name != tc.name || ok != tc.ok {
			t.Errorf("GroupName(%d) = %q, %v", tc.gid, name, ok)
		}
	}

	// A change on disk is picked up.
	writeFile(t, passwd, "root:x:0:0:root:/root:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/bash\n", t0.Add(time.Second))
	if sh, _ := u.Shell(0); sh != "/bin/sh" {
		t.Errorf("after rewrite: Shell(0) = %q", sh)
	}
	if name, ok := u.UserName(1001); name != "bob" || !ok {
		t.Errorf("after rewrite: UserName(1001) = %q, %v", name, ok)
	}
	if _, ok := u.UserName(1000); ok {
		t.Error("after rewrite: alice still known")
	}

	// Within the check interval the cache is used without a stat.
	u.checkInterval = time.Hour
	writeFile(t, passwd, "carol:x:1002:1002::/home/carol:/bin/bash\n", t0.Add(2*time.Second))
	if _, ok := u.UserName(1002); ok {
		t.Error("file re-read inside the check interval")
	}

	// Missing files behave as empty ones.
	m := NewUsers(filepath.Join(dir, "none"), filepath.Join(dir, "none2"))
	if _, ok := m.UserName(0); ok {
		t.Error("missing passwd: uid 0 found")
	}
	if _, ok := m.GroupName(0); ok {
		t.Error("missing group: gid 0 found")
	}
	// A file that appears later is read.
	m.checkInterval = 0
	writeFile(t, filepath.Join(dir, "none"), "root:x:0:0::/root:/bin/bash\n", t0)
	if name, ok := m.UserName(0); name != "root" || !ok {
		t.Errorf("appearing passwd: UserName(0) = %q, %v", name, ok)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add(statLine(1, "systemd", 0, 1, 1, 0, 5))
	f.Add(statLine(7, "a) b (c", 6, 5, 4, 34816, 9))
	f.Add("1 (init) S 0 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 77")
	f.Add("1 ()) S")
	f.Add("")
	f.Fuzz(func(t *testing.T, line string) {
		s, err := parseStat(line)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// comm is exactly what lies between the first '(' and the last ')'.
		open, closing := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
		if s.Comm != line[open+1:closing] {
			t.Fatalf("comm %q, line %q", s.Comm, line)
		}
		// Re-serialising the parsed fields parses back to the same values.
		again, err := parseStat(statLine(s.Pid, s.Comm, s.Ppid, s.Pgrp, s.Session, int64(int32(s.TtyNr)), s.StartTime))
		if err != nil || again.Pid != s.Pid || again.Comm != s.Comm || again.Ppid != s.Ppid ||
			again.StartTime != s.StartTime || again.TtyNr != s.TtyNr {
			t.Fatalf("round trip: %+v -> %+v, %v", s, again, err)
		}
	})
}

func BenchmarkBootstrap(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("no /proc")
	}
	tab := New("/proc")
	b.ReportAllocs()
	for b.Loop() {
		if err := tab.Bootstrap(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tab.Len()), "procs")
}

func TestFalcoForms(t *testing.T) {
	for in, want := range map[string]string{"": "", "/": "/", "/tmp": "/tmp/", "/tmp/": "/tmp/", "/home/a b": "/home/a b/"} {
		if got := FalcoCwd(in); got != want {
			t.Errorf("FalcoCwd(%q) = %q, want %q", in, got, want)
		}
	}
	cases := []struct {
		walked string
		memfd  bool
		want   string
	}{
		{"/usr/bin/ls", false, "/usr/bin/ls"},
		{"/tmp/x (deleted)", false, "/tmp/x"},
		{"/memfd:payload", true, "memfd:payload"},
		{"/memfd:payload (deleted)", true, "memfd:payload"},
		{"memfd:payload", true, "memfd:payload"},
	}
	for _, c := range cases {
		if got := ExecPath(c.walked, c.memfd); got != c.want {
			t.Errorf("ExecPath(%q, %v) = %q, want %q", c.walked, c.memfd, got, c.want)
		}
	}
}

func TestSetExeFlags(t *testing.T) {
	tab := New(t.TempDir())
	tab.Exec(10, "x", nil, "/usr/bin/x", "x")
	tab.SetExeFlags(10, true, false, true, false)
	p, _ := tab.Get(10)
	if !p.ExeFlagsKnown || !p.ExeWritable || p.ExeUpperLayer || !p.ExeLowerLayer || p.ExeFromMemfd || p.ExePath != "/usr/bin/x" {
		t.Errorf("SetExeFlags: %+v", p)
	}
	child := tab.Fork(10, 11, 11)
	if !child.ExeFlagsKnown || !child.ExeWritable || !child.ExeLowerLayer {
		t.Errorf("a child inherits the exe flags: %+v", child)
	}
	if ex := tab.Exec(11, "y", nil, "/memfd:y", "y"); ex.ExeFlagsKnown || ex.ExePath != "memfd:y" {
		t.Errorf("exec forgets the old exe flags: %+v", ex)
	}
	tab.SetExeFlags(11, true, false, false, true)
	if p, _ := tab.Get(11); !p.ExeFromMemfd || p.ExePath != "memfd:y" {
		t.Errorf("memfd exe: %+v", p)
	}
	tab.SetExeFlags(99, true, true, true, true) // unknown: ignored
	if _, ok := tab.Get(99); ok {
		t.Error("SetExeFlags created an entry")
	}
}

func TestFalcoUserFields(t *testing.T) {
	dir := t.TempDir()
	passwd, group := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	t0 := time.Unix(1_700_000_000, 0)
	writeFile(t, passwd, "alice:x:1000:1000::/home/alice:/bin/zsh\n", t0)
	writeFile(t, group, "alice:x:1000:\n", t0)
	u := NewUsers(passwd, group)
	u.checkInterval = 0
	cases := []struct {
		uid               uint32
		name, home, shell string
	}{
		{1000, "alice", "/home/alice", "/bin/zsh"},
		{0, "root", "/root", "<NA>"}, // no passwd entry for 0
		{4242, "<NA>", "<NA>", "<NA>"},
	}
	for _, c := range cases {
		if n, h, s := u.FalcoUser(c.uid); n != c.name || h != c.home || s != c.shell {
			t.Errorf("FalcoUser(%d) = %q %q %q, want %+v", c.uid, n, h, s, c)
		}
	}
	for loginuid, want := range map[int64]string{-1: "<NA>", 4294967295: "<NA>", 0: "root", 1000: "alice", 7: "<NA>"} {
		if got := u.FalcoLoginName(loginuid); got != want {
			t.Errorf("FalcoLoginName(%d) = %q, want %q", loginuid, got, want)
		}
	}
	for gid, want := range map[uint32]string{1000: "alice", 0: "root", 5: "<NA>"} {
		if got := u.FalcoGroup(gid); got != want {
			t.Errorf("FalcoGroup(%d) = %q, want %q", gid, got, want)
		}
	}
}

func TestBootTimeEpoch(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "stat"), "cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 42\n", time.Now())
	if got, err := BootTimeEpoch(dir); err != nil || got != 1_700_000_000_000_000_000 {
		t.Errorf("BootTimeEpoch = %d, %v", got, err)
	}
	writeFile(t, filepath.Join(dir, "stat"), "cpu 1\n", time.Now())
	if _, err := BootTimeEpoch(dir); err == nil {
		t.Error("no btime: want an error")
	}
}

// TestExitAt: an exit removes the process that started when it says, and
// leaves a later process with the same pid; a start known to the clock
// tick (read from /proc) matches any start in that tick.
func TestExitAt(t *testing.T) {
	tab := New(t.TempDir())
	tab.ForkAt(1, 50, 50, 7_000_000_123)
	cases := []struct {
		pid     int32
		start   uint64
		removed bool
	}{
		{51, 7_000_000_123, false}, // no such pid
		{50, 6_000_000_000, false}, // an earlier process with pid 50
		{50, 7_020_000_000, false}, // a later one (two ticks on)
		{50, 7_000_000_123, true},  // this one
		{50, 7_000_000_123, false}, // already gone
	}
	for i, c := range cases {
		if got := tab.ExitAt(c.pid, c.start); got != c.removed {
			t.Errorf("case %d: ExitAt(%d, %d) = %v, want %v", i, c.pid, c.start, got, c.removed)
		}
	}
	tab.ForkAt(1, 60, 60, 9_000_000_000) // as read from /proc: a whole tick
	if !tab.ExitAt(60, 9_004_321_000) {
		t.Error("a start in the entry's clock tick did not match")
	}
	if _, ok := tab.Get(60); ok {
		t.Error("ExitAt left pid 60")
	}
}
