package runtime

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/peregrine-sec/peregrine/policy"
	"golang.org/x/sys/unix"
)

// The expected renderings below follow libsinsp 0.25's get_param_as_str
// and the driver's *_to_scap translations (see /tmp/falco-spec.md).

func TestRenderOpenFlags(t *testing.T) {
	cases := []struct {
		flags   uint64
		created bool
		want    string
	}{
		{unix.O_RDONLY, false, "O_RDONLY"},
		{unix.O_RDONLY | unix.O_CLOEXEC, false, "O_RDONLY|O_CLOEXEC"},
		{unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, false, "O_TRUNC|O_CREAT|O_WRONLY"},
		{unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, true, "O_TRUNC|O_CREAT|O_WRONLY|O_F_CREATED"},
		{unix.O_RDWR | unix.O_CREAT | unix.O_EXCL, false, "O_EXCL|O_CREAT|O_RDWR"},
		{unix.O_WRONLY | unix.O_APPEND | unix.O_NONBLOCK, false, "O_NONBLOCK|O_APPEND|O_WRONLY"},
		// The access mode 3 is O_RDONLY, as the driver maps every mode but 1 and 2.
		{3, false, "O_RDONLY"},
		// O_PATH has no driver bit: its access mode 0 makes it O_RDONLY.
		{unix.O_PATH, false, "O_RDONLY"},
		{unix.O_PATH | unix.O_CLOEXEC, false, "O_RDONLY|O_CLOEXEC"},
		// O_DIRECTORY is inside O_TMPFILE's mask, so it reports O_TMPFILE too.
		{unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, false, "O_DIRECTORY|O_RDONLY|O_CLOEXEC|O_TMPFILE"},
		{unix.O_RDWR | unix.O_TMPFILE, false, "O_DIRECTORY|O_RDWR|O_TMPFILE"},
		// O_DSYNC is inside O_SYNC's mask.
		{unix.O_WRONLY | unix.O_DSYNC, false, "O_SYNC|O_DSYNC|O_WRONLY"},
		{unix.O_WRONLY | unix.O_SYNC, false, "O_SYNC|O_DSYNC|O_WRONLY"},
		{unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NOATIME | unix.O_NOCTTY, false, "O_RDONLY"},
		{unix.O_RDONLY | 0o100000 | unix.O_DIRECT, false, "O_LARGEFILE|O_DIRECT|O_RDONLY"},
	}
	for _, c := range cases {
		if got := OpenFlags(c.flags, c.created); got != c.want {
			t.Errorf("OpenFlags(%#o, %v) = %q, want %q", c.flags, c.created, got, c.want)
		}
	}
}

func TestRenderFileFlags(t *testing.T) {
	cases := []struct {
		ppm  uint32
		want string
	}{
		{0, "O_NONE"},
		{PPMORdonly | PPMOCloexec | PPMFDLowerLayer, "O_RDONLY|O_CLOEXEC|FD_LOWER_LAYER"},
		{PPMOWronly | PPMFDUpperLayer, "O_WRONLY|FD_UPPER_LAYER"},
		{PPMORdwr, "O_RDWR"},
		{1 << 20, "1048576"}, // no name: the number
	}
	for _, c := range cases {
		if got := FileFlags(c.ppm); got != c.want {
			t.Errorf("FileFlags(%#x) = %q, want %q", c.ppm, got, c.want)
		}
	}
}

func TestRenderOpenMode(t *testing.T) {
	cases := []struct {
		flags, mode uint64
		want        string
	}{
		{unix.O_WRONLY | unix.O_CREAT, 0o644, "0644"},
		{unix.O_WRONLY | unix.O_CREAT, 0o100755, "0755"}, // type bits dropped
		{unix.O_RDONLY, 0o644, "0"},                      // no creation: 0
		{unix.O_RDWR | unix.O_TMPFILE, 0o600, "0600"},
		{unix.O_RDONLY | unix.O_DIRECTORY, 0o1777, "01777"}, // O_DIRECTORY is in O_TMPFILE's mask
		{unix.O_CREAT, 0, "0"},
	}
	for _, c := range cases {
		if got := OpenMode(c.flags, c.mode); got != c.want {
			t.Errorf("OpenMode(%#o, %#o) = %q, want %q", c.flags, c.mode, got, c.want)
		}
	}
	if got := CreatMode(0o755); got != "0755" {
		t.Errorf("CreatMode(0755) = %q", got)
	}
	for m, want := range map[uint64]string{0: "0", 0o755: "0755", 0o4755: "04755"} {
		if got := Mode(m); got != want {
			t.Errorf("Mode(%#o) = %q, want %q", m, got, want)
		}
	}
	for m, want := range map[uint64]string{0o755: "1ED", 0o777: "1FF", 0: "0", 0o1777: "3FF"} {
		if got := MkdirMode(m); got != want {
			t.Errorf("MkdirMode(%#o) = %q, want %q", m, got, want)
		}
	}
}

func TestRenderChmodMode(t *testing.T) {
	cases := []struct {
		mode uint64
		want string
	}{
		{0o755, "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR"},
		{0o644, "S_IROTH|S_IRGRP|S_IWUSR|S_IRUSR"},
		{0o4755, "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"},
		{0o2750, "S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISGID"},
		{0o1777, "S_IXOTH|S_IWOTH|S_IROTH|S_IXGRP|S_IWGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISVTX"},
		{0o4000, "S_ISUID"},
		{0o400, "S_IRUSR"},
		{0o6000, "S_ISGID|S_ISUID"},
		{0, "0"},
		{0o100644, "S_IROTH|S_IRGRP|S_IWUSR|S_IRUSR"},
	}
	for _, c := range cases {
		if got := ChmodMode(c.mode); got != c.want {
			t.Errorf("ChmodMode(%#o) = %q, want %q", c.mode, got, c.want)
		}
	}
}

func TestRenderAtFlags(t *testing.T) {
	cases := []struct {
		fn   func(uint64) string
		v    uint64
		want string
	}{
		{UnlinkatFlags, 0, "0"},
		{UnlinkatFlags, unix.AT_REMOVEDIR, "AT_REMOVEDIR"},
		{LinkatFlags, 0, "0"},
		{LinkatFlags, unix.AT_SYMLINK_FOLLOW | unix.AT_EMPTY_PATH, "AT_SYMLINK_FOLLOW|AT_EMPTY_PATH"},
		{Renameat2Flags, unix.RENAME_NOREPLACE, "RENAME_NOREPLACE"},
		{Renameat2Flags, unix.RENAME_EXCHANGE | unix.RENAME_WHITEOUT, "RENAME_EXCHANGE|RENAME_WHITEOUT"},
		{Renameat2Flags, 0, "0"},
		{FinitModuleFlags, 0, "0"},
		{FinitModuleFlags, 3, "MODULE_INIT_IGNORE_MODVERSIONS|MODULE_INIT_IGNORE_VERMAGIC"},
		{FinitModuleFlags, 4, "MODULE_INIT_COMPRESSED_FILE"},
		{MemfdFlags, 0, "0"},
		{MemfdFlags, unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING, "MFD_CLOEXEC|MFD_ALLOW_SEALING"},
		{MemfdFlags, unix.MFD_CLOEXEC | 0x8 | 0x10, "MFD_CLOEXEC"}, // MFD_NOEXEC_SEAL, MFD_EXEC unknown
		{MemfdFlags, unix.MFD_HUGETLB | unix.MFD_HUGE_2MB, "MFD_HUGETLB"},
		{Dup3Flags, unix.O_CLOEXEC, "O_CLOEXEC"},
		{Dup3Flags, 0, "O_NONE"},
		{SocketFlags, unix.SOCK_STREAM, "O_NONE"},
		{SocketFlags, unix.SOCK_STREAM | unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC, "O_NONBLOCK|O_CLOEXEC"},
		{UserfaultfdFlags, 0, "O_NONE"},
		{UserfaultfdFlags, unix.O_NONBLOCK, "O_LARGEFILE"},
		{UserfaultfdFlags, unix.O_CLOEXEC | unix.O_NONBLOCK, "O_LARGEFILE"},
		{UserfaultfdFlags, unix.O_CLOEXEC, "524288"},
		{UserfaultfdFlags, 1 | unix.O_NONBLOCK, "O_LARGEFILE|O_RDONLY"},
	}
	for _, c := range cases {
		if got := c.fn(c.v); got != c.want {
			t.Errorf("%#x: got %q, want %q", c.v, got, c.want)
		}
	}
}

func TestRenderMountFlags(t *testing.T) {
	cases := []struct {
		flags uint64
		want  string
	}{
		{0, "0"},
		{unix.MS_BIND | unix.MS_REC, "BIND|REC"},
		{unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "RDONLY|NOSUID|NODEV|NOEXEC"},
		{0xc0ed0000 | unix.MS_REMOUNT, "REMOUNT"}, // the magic number is removed
		{0xc0ed0000, "0"},
		{unix.MS_NOSYMFOLLOW, "256"}, // no name
		{unix.MS_PRIVATE | unix.MS_REC, "REC|PRIVATE"},
		{unix.MS_SHARED, "SHARED"},
	}
	for _, c := range cases {
		if got := MountFlags(c.flags); got != c.want {
			t.Errorf("MountFlags(%#x) = %q, want %q", c.flags, got, c.want)
		}
	}
}

func TestRenderCloneFlags(t *testing.T) {
	cases := []struct {
		flags uint64
		want  string
	}{
		{0, "0"},
		{unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
		{unix.CLONE_NEWUSER | unix.CLONE_NEWNS, "CLONE_NEWNS|CLONE_NEWUSER"},
		{unix.CLONE_NEWNET | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP,
			"CLONE_NEWIPC|CLONE_NEWNET|CLONE_NEWPID|CLONE_NEWUTS|CLONE_NEWCGROUP"},
		{unix.CLONE_NEWTIME, "0"}, // the driver does not know it
		{unix.CLONE_FILES | unix.CLONE_FS | unix.CLONE_SYSVSEM, "CLONE_FILES|CLONE_FS|CLONE_SYSVSEM"},
		{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
			unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID,
			"CLONE_FILES|CLONE_FS|CLONE_PARENT_SETTID|CLONE_SIGHAND|CLONE_SYSVSEM|CLONE_THREAD|CLONE_VM|CLONE_CHILD_CLEARTID|CLONE_SETTLS"},
	}
	for _, c := range cases {
		if got := CloneFlags(c.flags); got != c.want {
			t.Errorf("CloneFlags(%#x) = %q, want %q", c.flags, got, c.want)
		}
	}
}

func TestRenderExeFlags(t *testing.T) {
	cases := []struct {
		bits uint32
		want string
	}{
		{0, "0"},
		{ExeWritable, "EXE_WRITABLE"},
		{ExeWritable | ExeUpperLayer, "EXE_WRITABLE|EXE_UPPER_LAYER"},
		{ExeFromMemfd | ExeWritable, "EXE_WRITABLE|EXE_FROM_MEMFD"},
		{ExeLowerLayer, "EXE_LOWER_LAYER"},
		{ExeWritable | ExeUpperLayer | ExeFromMemfd | ExeLowerLayer, "EXE_WRITABLE|EXE_UPPER_LAYER|EXE_FROM_MEMFD|EXE_LOWER_LAYER"},
	}
	for _, c := range cases {
		if got := ExeFlags(c.bits); got != c.want {
			t.Errorf("ExeFlags(%#x) = %q, want %q", c.bits, got, c.want)
		}
	}
	ev := policy.NewEvent()
	SetExeFlagFields(ev, ExeWritable|ExeFromMemfd)
	for name, want := range map[string]bool{"proc.is_exe_writable": true, "proc.is_exe_upper_layer": false,
		"proc.is_exe_lower_layer": false, "proc.is_exe_from_memfd": true} {
		if policy.LookupField(name) == nil {
			t.Errorf("%s is not in the field catalog", name)
		}
		if v, ok := ev.Raw(name); !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", name, v, ok, want)
		}
	}
}

func TestRenderEnums(t *testing.T) {
	cases := []struct {
		fn   func(uint64) string
		v    uint64
		want string
	}{
		{PtraceRequest, unix.PTRACE_TRACEME, "PTRACE_TRACEME"},
		{PtraceRequest, unix.PTRACE_ATTACH, "PTRACE_ATTACH"},
		{PtraceRequest, unix.PTRACE_SEIZE, "PTRACE_SEIZE"},
		{PtraceRequest, unix.PTRACE_POKEUSR, "PTRACE_POKEUSR"},
		{PtraceRequest, unix.PTRACE_SINGLEBLOCK, "PTRACE_SINGLEBLOCK"},
		{PtraceRequest, 0x420a, "PTRACE_GETSIGMASK"},
		{PtraceRequest, 0x420e, "PTRACE_UNKNOWN"}, // PTRACE_GET_SYSCALL_INFO
		{BPFCommand, unix.BPF_PROG_LOAD, "BPF_PROG_LOAD"},
		{BPFCommand, unix.BPF_MAP_CREATE, "BPF_MAP_CREATE"},
		{BPFCommand, 10, "BPF_PROG_TEST_RUN|BPF_PROG_RUN"},
		{BPFCommand, 35, "BPF_PROG_BIND_MAP"},
		{BPFCommand, 36, "36"}, // BPF_TOKEN_CREATE has no name
		{SocketFamily, unix.AF_INET, "AF_INET"},
		{SocketFamily, unix.AF_INET6, "AF_INET6"},
		{SocketFamily, unix.AF_UNIX, "AF_LOCAL|AF_UNIX"},
		{SocketFamily, unix.AF_NETLINK, "AF_ROUTE|AF_NETLINK"},
		{SocketFamily, unix.AF_PACKET, "AF_PACKET"},
		{SocketFamily, unix.AF_VSOCK, "AF_UNSPEC"},
		{SocketFamily, unix.AF_XDP, "AF_UNSPEC"},
		{SocketFamily, unix.AF_UNSPEC, "AF_UNSPEC"},
		{SocketType, unix.SOCK_STREAM, "1"},
		{SocketType, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC, "524290"},
		{SocketType, unix.SOCK_RAW, "3"},
	}
	for _, c := range cases {
		if got := c.fn(c.v); got != c.want {
			t.Errorf("%d: got %q, want %q", c.v, got, c.want)
		}
	}
}

func TestRenderArgs(t *testing.T) {
	for res, want := range map[int64]string{0: "0", 3: "3", -2: "ENOENT", -1: "EPERM", -126: "-126", -115: "EINPROGRESS"} {
		if got := ErrnoArg(res); got != want {
			t.Errorf("ErrnoArg(%d) = %q, want %q", res, got, want)
		}
	}
	fds := []struct {
		fd                 int64
		typechar, l4, name string
		known              bool
		want               string
	}{
		{3, "f", "", "/etc/shadow", true, "<f>/etc/shadow"},
		{4, "4", "tcp", "10.0.0.1:3456->10.0.0.2:80", true, "<4t>10.0.0.1:3456->10.0.0.2:80"},
		{5, "6", "udp", "::1:53", true, "<6u>::1:53"},
		{6, "u", "", "/run/x.sock", true, "<u>/run/x.sock"},
		{7, "", "", "", false, "7"},
		{-100, "", "", "", false, "AT_FDCWD"},
		{-2, "", "", "", false, "ENOENT"},
		{-126, "", "", "", false, "-126"},
	}
	for _, c := range fds {
		if got := FDArg(c.fd, c.typechar, c.l4, c.name, c.known); got != c.want {
			t.Errorf("FDArg(%d) = %q, want %q", c.fd, got, c.want)
		}
	}
	if got := UIDArg(0, "root", true); got != "root" {
		t.Errorf("UIDArg(0) = %q", got)
	}
	if got := UIDArg(4242, "", false); got != "<NA>" {
		t.Errorf("UIDArg(unknown) = %q", got)
	}
	if got := UIDArg(^uint32(0), "", false); got != "<NONE>" {
		t.Errorf("UIDArg(-1) = %q", got)
	}
	if got := PIDArg(812, "sshd", true); got != "sshd" {
		t.Errorf("PIDArg(known) = %q", got)
	}
	if got := PIDArg(812, "", false); got != "812" {
		t.Errorf("PIDArg(unknown) = %q", got)
	}
}

func TestRenderSockaddr(t *testing.T) {
	in4 := make([]byte, 16)
	binary.NativeEndian.PutUint16(in4, unix.AF_INET)
	binary.BigEndian.PutUint16(in4[2:], 80)
	copy(in4[4:], []byte{10, 0, 0, 1})
	in6 := make([]byte, 28)
	binary.NativeEndian.PutUint16(in6, unix.AF_INET6)
	binary.BigEndian.PutUint16(in6[2:], 443)
	a := netip.MustParseAddr("::ffff:10.0.0.2").As16()
	copy(in6[8:], a[:])
	lo6 := append([]byte(nil), in6...)
	l := netip.IPv6Loopback().As16()
	copy(lo6[8:], l[:])
	un := append([]byte{0, 0}, "/run/docker.sock\x00junk"...)
	binary.NativeEndian.PutUint16(un, unix.AF_UNIX)
	abstract := append([]byte{0, 0, 0}, "dbus-abc\x00"...)
	binary.NativeEndian.PutUint16(abstract, unix.AF_UNIX)
	nl := make([]byte, 12)
	binary.NativeEndian.PutUint16(nl, unix.AF_NETLINK)
	cases := []struct {
		b    []byte
		want string
	}{
		{in4, "10.0.0.1:80"},
		{in6, "::ffff:10.0.0.2:443"},
		{lo6, "::1:443"},
		{un, "/run/docker.sock"},
		{abstract, "dbus-abc"},
		{nl, "<NA>"},
		{nil, "<NA>"},
	}
	for _, c := range cases {
		if got := SockaddrArg(c.b); got != c.want {
			t.Errorf("SockaddrArg(%x) = %q, want %q", c.b, got, c.want)
		}
	}
}
