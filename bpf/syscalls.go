package bpf

import (
	"github.com/peregrine-sec/peregrine/compiler"
	"golang.org/x/sys/unix"
)

// argRet marks the return value as the fd to describe (ARG_RET in C);
// argCwd marks a path relative to the working directory (ARG_CWD);
// flagsCreat marks creat's implied open flags (FLAGS_CREAT).
const (
	argRet     = 6
	argCwd     = 7
	flagsCreat = 7
)

// Syscall says how the capture program records one system call: its
// numbers, and which arguments are user strings, socket addresses or file
// descriptors.
type Syscall struct {
	Name string
	Nr   int
	// IA32 are the syscall's numbers for 32-bit (ia32) tasks: the kernel
	// reports their syscalls under these, and the capture maps them back
	// to Nr. setuid has two (the 16-bit uid call and setuid32).
	IA32 []int
	// Path0 and Path1 are the arguments holding user strings, or -1.
	Path0, Path1 int8
	// Sockaddr and SockaddrLen are the arguments holding a struct sockaddr
	// pointer and its length, or -1.
	Sockaddr, SockaddrLen int8
	// AddrOut marks a socket address the kernel writes (accept, recvfrom,
	// recvmsg): it is read at the exit, and its length argument is a
	// socklen_t pointer. Others are inputs, read at the entry.
	AddrOut bool
	// FD is the argument holding a file descriptor to describe, argRet for
	// the returned one, or -1.
	FD int8
	// Msghdr is the argument holding a struct msghdr pointer, or -1.
	Msghdr int8
	// OpenHow is the argument holding a struct open_how pointer, or -1.
	OpenHow int8
	// DirFD is the argument holding the directory fd that path DirFDPath
	// (0 or 1) is relative to, argCwd for the working directory, or -1.
	// The kernel records that directory's path when the path is relative.
	DirFD     int8
	DirFDPath uint8
	// Pwd records the working directory after the call (chdir, fchdir).
	Pwd bool
	// FlagsArg is the argument holding open flags (flagsCreat for creat),
	// or -1.
	FlagsArg int8
	// Creds marks a syscall that changes the credentials: the filter
	// judges the uid at its exit, the uid it leaves.
	Creds bool
}

// sc builds a Syscall with no special arguments.
func sc(name string, nr int, ia32 ...int) Syscall {
	return Syscall{Name: name, Nr: nr, IA32: ia32, Path0: -1, Path1: -1, Sockaddr: -1, SockaddrLen: -1, FD: -1, Msghdr: -1, OpenHow: -1, DirFD: -1, FlagsArg: -1}
}

func (s Syscall) flags(a int8) Syscall { s.FlagsArg = a; return s }
func (s Syscall) creds() Syscall       { s.Creds = true; return s }

func (s Syscall) dirfd(a int8, path uint8) Syscall { s.DirFD, s.DirFDPath = a, path; return s }
func (s Syscall) pwd() Syscall                     { s.Pwd = true; return s }

func (s Syscall) paths(p0, p1 int8) Syscall { s.Path0, s.Path1 = p0, p1; return s }
func (s Syscall) fd(a int8) Syscall         { s.FD = a; return s }
func (s Syscall) sockaddr(a, l int8, out bool) Syscall {
	s.Sockaddr, s.SockaddrLen, s.AddrOut = a, l, out
	return s
}
func (s Syscall) msghdr(a int8, out bool) Syscall { s.Msghdr, s.AddrOut = a, out; return s }
func (s Syscall) openHow(a int8) Syscall          { s.OpenHow = a; return s }

// Syscalls is every system call Peregrine can capture, with the argument
// positions of the x86_64 ABI (man 2 of each call; the ia32 ABI passes the
// same arguments in the same order) and the numbers of
// arch/x86/entry/syscalls/syscall_{64,32}.tbl.
var Syscalls = []Syscall{
	sc("open", unix.SYS_OPEN, 5).paths(0, -1).fd(argRet).dirfd(argCwd, 0).flags(1),
	sc("openat", unix.SYS_OPENAT, 295).paths(1, -1).fd(argRet).dirfd(0, 0).flags(2),
	sc("openat2", unix.SYS_OPENAT2, 437).paths(1, -1).fd(argRet).openHow(2).dirfd(0, 0).flags(2),
	sc("creat", unix.SYS_CREAT, 8).paths(0, -1).fd(argRet).dirfd(argCwd, 0).flags(flagsCreat),
	sc("execve", unix.SYS_EXECVE, 11).paths(0, -1).dirfd(argCwd, 0),
	sc("execveat", unix.SYS_EXECVEAT, 358).paths(1, -1).dirfd(0, 0),
	sc("connect", unix.SYS_CONNECT, 362).sockaddr(1, 2, false).fd(0),
	sc("accept", unix.SYS_ACCEPT).sockaddr(1, 2, true).fd(argRet),
	sc("accept4", unix.SYS_ACCEPT4, 364).sockaddr(1, 2, true).fd(argRet),
	sc("bind", unix.SYS_BIND, 361).sockaddr(1, 2, false).fd(0),
	sc("listen", unix.SYS_LISTEN, 363).fd(0),
	sc("socket", unix.SYS_SOCKET, 359).fd(argRet),
	sc("sendto", unix.SYS_SENDTO, 369).sockaddr(4, 5, false).fd(0),
	sc("sendmsg", unix.SYS_SENDMSG, 370).msghdr(1, false).fd(0),
	sc("recvfrom", unix.SYS_RECVFROM, 371).sockaddr(4, 5, true).fd(0),
	sc("recvmsg", unix.SYS_RECVMSG, 372).msghdr(1, true).fd(0),
	sc("dup", unix.SYS_DUP, 41).fd(argRet),
	sc("dup2", unix.SYS_DUP2, 63).fd(argRet),
	sc("dup3", unix.SYS_DUP3, 330).fd(argRet),
	sc("symlink", unix.SYS_SYMLINK, 83).paths(0, 1).dirfd(argCwd, 1),
	sc("symlinkat", unix.SYS_SYMLINKAT, 304).paths(0, 2).dirfd(1, 1),
	sc("link", unix.SYS_LINK, 9).paths(0, 1).dirfd(argCwd, 0),
	sc("linkat", unix.SYS_LINKAT, 303).paths(1, 3).dirfd(0, 0),
	sc("unlink", unix.SYS_UNLINK, 10).paths(0, -1).dirfd(argCwd, 0),
	sc("unlinkat", unix.SYS_UNLINKAT, 301).paths(1, -1).dirfd(0, 0),
	sc("rename", unix.SYS_RENAME, 38).paths(0, 1).dirfd(argCwd, 0),
	sc("renameat", unix.SYS_RENAMEAT, 302).paths(1, 3).dirfd(0, 0),
	sc("renameat2", unix.SYS_RENAMEAT2, 353).paths(1, 3).dirfd(0, 0),
	sc("mkdir", unix.SYS_MKDIR, 39).paths(0, -1).dirfd(argCwd, 0),
	sc("mkdirat", unix.SYS_MKDIRAT, 296).paths(1, -1).dirfd(0, 0),
	sc("rmdir", unix.SYS_RMDIR, 40).paths(0, -1).dirfd(argCwd, 0),
	sc("chmod", unix.SYS_CHMOD, 15).paths(0, -1).dirfd(argCwd, 0),
	sc("fchmod", unix.SYS_FCHMOD, 94).fd(0),
	sc("fchmodat", unix.SYS_FCHMODAT, 306).paths(1, -1).dirfd(0, 0),
	sc("setuid", unix.SYS_SETUID, 23, 213).creds(),
	sc("setns", unix.SYS_SETNS, 346).fd(0),
	sc("unshare", unix.SYS_UNSHARE, 310),
	sc("ptrace", unix.SYS_PTRACE, 26),
	sc("bpf", unix.SYS_BPF, 357),
	sc("userfaultfd", unix.SYS_USERFAULTFD, 374),
	sc("init_module", unix.SYS_INIT_MODULE, 128).paths(2, -1),
	sc("finit_module", unix.SYS_FINIT_MODULE, 350).paths(1, -1).fd(0),
	sc("memfd_create", unix.SYS_MEMFD_CREATE, 356).paths(0, -1).fd(argRet),
	sc("mount", unix.SYS_MOUNT, 21).paths(0, 1),
	sc("clone", unix.SYS_CLONE, 120),
	sc("clone3", unix.SYS_CLONE3, 435),
	sc("fork", unix.SYS_FORK, 2),
	sc("vfork", unix.SYS_VFORK, 190),
	sc("close", unix.SYS_CLOSE, 6),
	sc("chdir", unix.SYS_CHDIR, 12).paths(0, -1).pwd(),
	sc("fchdir", unix.SYS_FCHDIR, 133).fd(0).pwd(),
}

// IA32Socketcall is the number of the ia32 socketcall(2) multiplexer.
const IA32Socketcall = 102

// Socketcalls maps socketcall's call numbers (SYS_SOCKET... in
// include/uapi/linux/net.h) to the syscall each multiplexes, with the
// number of 32-bit arguments the kernel reads from its args array
// (net/compat.c). send and recv are sendto and recvfrom without an
// address. Calls Peregrine does not capture are left out.
var Socketcalls = map[int]struct {
	Name  string
	NArgs int
}{
	1: {"socket", 3}, 2: {"bind", 3}, 3: {"connect", 3}, 4: {"listen", 2}, 5: {"accept", 3},
	9: {"sendto", 4}, 10: {"recvfrom", 4}, 11: {"sendto", 6}, 12: {"recvfrom", 6},
	16: {"sendmsg", 3}, 17: {"recvmsg", 3}, 18: {"accept4", 4},
}

var syscallByName = func() map[string]Syscall {
	m := make(map[string]Syscall, len(Syscalls))
	for _, s := range Syscalls {
		m[s.Name] = s
	}
	return m
}()

var syscallByNr = func() map[int]Syscall {
	m := make(map[int]Syscall, len(Syscalls))
	for _, s := range Syscalls {
		m[s.Nr] = s
	}
	return m
}()

// LookupSyscall returns the capture description of a syscall by name.
func LookupSyscall(name string) (Syscall, bool) {
	s, ok := syscallByName[name]
	return s, ok
}

// SyscallName returns the name of syscall number nr, or "" when
// Peregrine does not capture it.
func SyscallName(nr int) string { return syscallByNr[nr].Name }

func (s Syscall) desc(raw, state bool) captureSyscallDesc {
	d := captureSyscallDesc{
		Wanted: 1, Path0: s.Path0, Path1: s.Path1, Sockaddr: s.Sockaddr, SockaddrLen: s.SockaddrLen,
		Fd: s.FD, Msghdr: s.Msghdr, OpenHow: s.OpenHow,
	}
	if s.AddrOut {
		d.AddrOut = 1
	}
	if raw {
		d.Raw = 1
	}
	d.Dirfd, d.DirfdPath = s.DirFD, s.DirFDPath
	d.FlagsArg = s.FlagsArg
	if compiler.PathFields[s.Name] != nil && s.Path0 >= 0 {
		d.PathDim = 1
	}
	if state {
		d.State = 1
	}
	if s.Creds {
		d.Creds = 1
	}
	if s.Pwd {
		d.Pwd = 1
	}
	return d
}
