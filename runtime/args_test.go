package runtime

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/peregrine-sec/peregrine/bpf"
)

// syscallRecord is a record of syscall nr by this process with the given
// arguments, result and path blobs, as the kernel sends it.
func syscallRecord(nr int32, ret int64, args [6]uint64, blobs ...string) *bpf.Record {
	r := &bpf.Record{Kind: bpf.KindSyscall, Syscall: nr, Pid: uint32(os.Getpid()), Tid: uint32(os.Getpid()),
		Ppid: uint32(os.Getppid()), VPid: uint32(os.Getpid()), Ret: ret, LoginUID: ^uint32(0), Args: args}
	copy(r.Comm[:], "cat")
	for i, b := range blobs {
		r.Blobs[i] = append([]byte(b), 0)
	}
	for i := range r.Mask {
		r.Mask[i] = ^uint64(0)
	}
	return r
}

// TestRenderLiveArgs checks the arguments and fields userspace builds from
// records, named and rendered as Falco's exit events have them; "-" means
// the field must be missing.
func TestRenderLiveArgs(t *testing.T) {
	l := newTestLive(t)
	const fdcwd = uint64(0xffffff9c)
	cases := []struct {
		name string
		r    *bpf.Record
		want map[string]string
	}{
		{"creat has no flags", syscallRecord(unix.SYS_CREAT, 3, [6]uint64{0, 0o755}, "/tmp/x"), map[string]string{
			"evt.arg.flags": "-", "evt.arg.mode": "0755", "evt.arg.name": "/tmp/x", "fd.name": "/tmp/x",
			"evt.is_open_read": "false", "evt.is_open_write": "false", "evt.is_open_create": "false",
			"evt.is_open_exec": "true", "fs.path.name": "-", "evt.arg.fd": "<f>/tmp/x"}},
		{"openat read of an unnormalised path", syscallRecord(unix.SYS_OPENAT, 3, [6]uint64{fdcwd, 0, unix.O_RDONLY | unix.O_CLOEXEC, 0o644}, "/etc//shadow"), map[string]string{
			"evt.arg.flags": "O_RDONLY|O_CLOEXEC", "evt.arg.mode": "0", "evt.arg.name": "/etc//shadow",
			"fd.name": "/etc/shadow", "fs.path.name": "/etc/shadow", "evt.arg.dirfd": "AT_FDCWD",
			"evt.arg.fd": "<f>/etc/shadow", "evt.is_open_read": "true", "evt.is_open_create": "false"}},
		{"failed open", syscallRecord(unix.SYS_OPEN, -2, [6]uint64{0, unix.O_WRONLY | unix.O_CREAT, 0o600}, "/nope/x"), map[string]string{
			"evt.arg.flags": "O_CREAT|O_WRONLY", "evt.arg.mode": "0600", "evt.arg.fd": "ENOENT", "evt.res": "ENOENT",
			"fs.path.name": "/nope/x"}},
		{"chmod", syscallRecord(unix.SYS_CHMOD, 0, [6]uint64{0, 0o4755}, "/tmp/sh"), map[string]string{
			"evt.arg.mode": "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID", "evt.arg.filename": "/tmp/sh",
			"evt.arg.res": "0", "fd.name": "-", "fs.path.name": "/tmp/sh"}},
		{"failed mkdir", syscallRecord(unix.SYS_MKDIR, -17, [6]uint64{0, 0o755}, "/tmp"), map[string]string{
			"evt.arg.mode": "1ED", "evt.arg.path": "/tmp", "evt.arg.res": "EEXIST", "fs.path.name": "-", "fd.name": "-"}},
		{"unlinkat", syscallRecord(unix.SYS_UNLINKAT, 0, [6]uint64{fdcwd, 0, unix.AT_REMOVEDIR}, "/tmp/d"), map[string]string{
			"evt.arg.flags": "AT_REMOVEDIR", "evt.arg.name": "/tmp/d", "evt.arg.dirfd": "AT_FDCWD", "fd.name": ""}}, // Falco 0.44 shows an empty fd.name
		{"symlink", syscallRecord(unix.SYS_SYMLINK, 0, [6]uint64{}, "/etc/shadow", "/tmp/l"), map[string]string{
			"evt.arg.target": "/etc/shadow", "evt.arg.linkpath": "/tmp/l", "fs.path.source": "/tmp/l", "fs.path.target": "/etc/shadow"}},
		{"link", syscallRecord(unix.SYS_LINK, 0, [6]uint64{}, "/etc/shadow", "/tmp/h"), map[string]string{
			"evt.arg.oldpath": "/etc/shadow", "evt.arg.newpath": "/tmp/h", "fs.path.source": "/tmp/h", "fs.path.target": "/etc/shadow"}},
		{"mount", syscallRecord(unix.SYS_MOUNT, 0, [6]uint64{0, 0, 0, 0xc0ed0000 | unix.MS_BIND | unix.MS_REC}, "/dev/sda1", "/mnt"), map[string]string{
			"evt.arg.flags": "BIND|REC", "evt.arg.dev": "/dev/sda1", "evt.arg.dir": "/mnt", "fs.path.source": "/dev/sda1", "fs.path.target": "/mnt"}},
		{"unshare", syscallRecord(unix.SYS_UNSHARE, 0, [6]uint64{unix.CLONE_NEWUSER | unix.CLONE_NEWNS}), map[string]string{
			"evt.arg.flags": "CLONE_NEWNS|CLONE_NEWUSER", "evt.arg.res": "0"}},
		{"ptrace", syscallRecord(unix.SYS_PTRACE, -1, [6]uint64{unix.PTRACE_ATTACH, 999999}), map[string]string{
			"evt.arg.request": "PTRACE_ATTACH", "evt.arg.pid": "999999", "evt.arg.res": "EPERM"}},
		{"ptrace of a known process", syscallRecord(unix.SYS_PTRACE, 0, [6]uint64{unix.PTRACE_SEIZE, 1}), map[string]string{
			"evt.arg.pid": commOf(t, 1)}},
		{"bpf", syscallRecord(unix.SYS_BPF, 7, [6]uint64{unix.BPF_PROG_LOAD}), map[string]string{
			"evt.arg.cmd": "BPF_PROG_LOAD", "evt.arg.fd": "<b>", "evt.arg.res_or_fd": "-"}},
		{"userfaultfd", syscallRecord(unix.SYS_USERFAULTFD, 5, [6]uint64{unix.O_CLOEXEC | unix.O_NONBLOCK}), map[string]string{
			"evt.arg.flags": "O_LARGEFILE", "evt.arg.res": "5"}},
		{"memfd_create", syscallRecord(unix.SYS_MEMFD_CREATE, 4, [6]uint64{0, unix.MFD_CLOEXEC}, "x"), map[string]string{
			"evt.arg.flags": "MFD_CLOEXEC", "evt.arg.name": "x", "fd.name": "x", "evt.arg.fd": "<m>x"}},
		{"finit_module", syscallRecord(unix.SYS_FINIT_MODULE, -1, [6]uint64{99999, 0, 2}, ""), map[string]string{
			"evt.arg.flags": "MODULE_INIT_IGNORE_VERMAGIC", "evt.arg.fd": "99999", "evt.arg.res": "EPERM"}},
		{"init_module", syscallRecord(unix.SYS_INIT_MODULE, 0, [6]uint64{0, 4096}, ""), map[string]string{
			"evt.arg.length": "4096", "evt.arg.len": "-"}},
		{"setuid of an unknown uid", syscallRecord(unix.SYS_SETUID, 0, [6]uint64{4242424}), map[string]string{
			"evt.arg.uid": "<NA>"}},
		{"setuid(-1)", syscallRecord(unix.SYS_SETUID, -22, [6]uint64{0xffffffff}), map[string]string{
			"evt.arg.uid": "<NONE>", "evt.res": "EINVAL"}},
		{"socket", syscallRecord(unix.SYS_SOCKET, 3, [6]uint64{unix.AF_PACKET, unix.SOCK_RAW | unix.SOCK_CLOEXEC, 768}), map[string]string{
			"evt.arg.domain": "AF_PACKET", "evt.arg.type": "524291", "evt.arg.proto": "768", "evt.arg.flags": "O_CLOEXEC"}},
		{"socket unix", syscallRecord(unix.SYS_SOCKET, -97, [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM}), map[string]string{
			"evt.arg.domain": "AF_LOCAL|AF_UNIX", "evt.arg.type": "1", "evt.arg.flags": "O_NONE", "evt.arg.fd": "EAFNOSUPPORT"}},
		{"dup3", syscallRecord(unix.SYS_DUP3, -9, [6]uint64{50, 1, unix.O_CLOEXEC}), map[string]string{
			"evt.arg.flags": "O_CLOEXEC", "evt.arg.oldfd": "50", "evt.arg.newfd": "1", "evt.arg.res": "EBADF"}},
		{"execveat has no filename", syscallRecord(unix.SYS_EXECVEAT, -2, [6]uint64{fdcwd}, "/nope"), map[string]string{
			"evt.arg.filename": "-", "evt.arg.dirfd": "-", "evt.arg.res": "ENOENT"}},
		{"failed execve", syscallRecord(unix.SYS_EXECVE, -2, [6]uint64{}, "/nope"), map[string]string{
			"evt.arg.filename": "/nope", "evt.arg.res": "ENOENT", "evt.arg.flags": "-"}},
		{"user fields", syscallRecord(unix.SYS_UNSHARE, 0, [6]uint64{}), map[string]string{
			"user.loginuid": "-1", "user.loginname": "<NA>", "user.uid": "0", "user.name": "root",
			"container.id": "host", "container.name": "host", "container.image": "", "container.privileged": "false"}},
	}
	for _, c := range cases {
		ev := l.handle(c.r)
		if ev == nil {
			t.Fatalf("%s: no event", c.name)
		}
		for f, want := range c.want {
			v, ok := ev.Raw(f)
			got := fmt.Sprint(v)
			if want == "-" {
				if ok {
					t.Errorf("%s: %s = %q, want it missing", c.name, f, got)
				}
				continue
			}
			if !ok || got != want {
				t.Errorf("%s: %s = %q (%v), want %q", c.name, f, got, ok, want)
			}
		}
	}
}

// commOf returns the comm of a process as the process table has it.
func commOf(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		t.Skip(err)
	}
	return string(b[:len(b)-1])
}
