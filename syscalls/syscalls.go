// Package syscalls is Peregrine's table of the system calls it captures:
// one row per syscall with its numbers (x86_64 and ia32), where the
// capture program finds its arguments, the arguments Falco names on its
// exit event (how each is rendered and which fields it fills), the kernel
// filter's dimensions that can check them, and the socket role.
//
// Every other place derives from this table: the capture program's
// per-syscall description (package bpf), the compiler's path, port and
// open-flag projections, the userspace decoders (package runtime) and the
// set of syscalls a ruleset needs. Nothing else lists syscall facts.
package syscalls

import (
	"sort"

	"github.com/peregrine-sec/peregrine/policy"
	"golang.org/x/sys/unix"
)

// Kind says what an argument is, and so how userspace renders it.
type Kind uint8

// Argument kinds.
const (
	// Path is a path the syscall resolves, relative to its Base argument
	// (a DirFD) or to the working directory. It is read from user memory
	// at the syscall's entry.
	Path Kind = iota + 1
	// String is a user string shown as given (a symlink's target, a memfd's
	// name, init_module's arguments, a mount's device, chdir's path).
	String
	DirFD      // a directory fd a Path is relative to
	FD         // a file descriptor, shown with what it refers to (the event's fd)
	OpenFlags  // open(2) flags (O_*)
	OpenMode   // open's mode: shown when the flags create
	CreatMode  // creat's mode
	MkdirMode  // mkdir's mode, in hex as Falco prints it
	ChmodMode  // chmod's mode, by permission bit
	CloneFlags // clone/unshare/setns flags (CLONE_*)
	UID        // a user id, by name
	PID        // a process id, by the process's name
	Request    // ptrace's request
	BPFCmd     // bpf's command
	Uint       // a number
	// Flags kinds with a table of their own.
	UnlinkatFlags
	LinkatFlags
	Renameat2Flags
	Dup3Flags
	MemfdFlags
	MountFlags
	FinitModuleFlags
	UserfaultfdFlags
	SockFamily // a socket's address family (AF_*)
	SockType   // a socket's type, as the number Falco prints
	SockFlags  // the O_* flags a socket's type carries
	// Sockaddr is the socket address the syscall passes (connect, bind),
	// as the capture read it.
	Sockaddr
	// ExecPath is exec's file name: on success, as the exec record
	// carried it (the memory it was in is gone by the exit).
	ExecPath
	ExeFlags // exec's flags: what the kernel found about the executable (EXE_*)
	// Results, for Syscall.Result: the return value as an errno, an fd
	// (the event's fd) or a pid.
	Errno
	ResultFD
	ResultPID
)

// Arg is one argument of a syscall's exit event as Falco names it.
type Arg struct {
	// Name is Falco's parameter name: the field is evt.arg.NAME.
	Name string
	// Pos is the register the argument is in (0 to 5).
	Pos  int8
	Kind Kind
	// Base, for a Path or String, is the index in Args of the DirFD it
	// is relative to, CwdArg for the working directory, or Unresolved
	// when Falco shows it as given (a symlinkat's target).
	Base int8
	// FSPath, for a Path or String, is the fs.path field (name, source,
	// target) that holds it on success, or ""; for the event's FD, the
	// field that holds the fd's name.
	FSPath string
	// FDName marks the path that is also the event's fd.name (the opens).
	FDName bool
}

// Arg.Base marks.
const (
	CwdArg     = -1 // relative to the working directory
	Unresolved = -2 // not resolved: "<UNKNOWN>" and the text, as Falco shows it
)

// Role says which end of a socket a syscall's process is.
type Role uint8

// Socket roles.
const (
	NoSocket Role = iota
	Client        // connect, send, receive, socket: the local end is the client
	Server        // accept, bind, listen: the local end is the server
)

// Layout says where the capture program finds what it records.
type Layout struct {
	// Path0 and Path1 are the registers of the user strings read at the
	// entry, or -1.
	Path0, Path1 int8
	// Sockaddr and SockaddrLen hold a struct sockaddr pointer and its
	// length, or -1; AddrOut marks an address the kernel writes (its
	// length argument a socklen_t pointer), read at the exit.
	Sockaddr, SockaddrLen int8
	AddrOut               bool
	// Msghdr holds a struct msghdr pointer, or -1.
	Msghdr int8
	// FD holds an fd to describe, RetFD for the returned one, or -1.
	FD int8
	// OpenHow holds a struct open_how pointer (openat2), or -1.
	OpenHow int8
	// DirFD holds the directory fd that user string DirFDPath (0 or 1) is
	// relative to, CwdBase for the working directory, or -1.
	DirFD     int8
	DirFDPath uint8
	// FlagsArg holds open flags, CreatFlags for creat, or -1: the
	// features dimension's open bits come from them.
	FlagsArg int8
	// Pwd records the working directory after the call.
	Pwd bool
}

// Register marks of Layout (RET_FD, ARG_CWD and FLAGS_CREAT in the C).
const (
	RetFD      = 6 // the returned fd
	CwdBase    = 7 // a path relative to the working directory
	CreatFlags = 7 // creat's implied flags, O_CREAT|O_WRONLY|O_TRUNC
)

// Syscall is one row of the table.
type Syscall struct {
	Name string
	Nr   int // x86_64
	// IA32 are its numbers for 32-bit tasks (setuid has two: the 16-bit
	// uid call and setuid32).
	IA32 []int
	// Args are the arguments its exit event shows, in Falco's order;
	// Result is the one that is its return value (res or fd).
	Args   []Arg
	Result Arg
	// EventFD is the fd the event is about (Falco's fd.*): "res" for the
	// returned one, the name of an FD or DirFD argument, or "".
	EventFD string
	Layout  Layout
	Role    Role
	// Creds marks a syscall that changes the credentials: the filter
	// judges the uid at its exit.
	Creds bool
	// State marks a syscall the process table needs every record of:
	// never filtered (chdir).
	State bool
	// JudgeExit marks exec: the filter judges the names and the uid the
	// syscall leaves, at its exit.
	JudgeExit bool
}

// Table is every system call Peregrine captures.
var Table = []Syscall{
	open("open", unix.SYS_OPEN, []int{5}, -1, 0, 1, 2),
	open("openat", unix.SYS_OPENAT, []int{295}, 0, 1, 2, 3),
	open("openat2", unix.SYS_OPENAT2, []int{437}, 0, 1, 2, 3).layout(func(l *Layout) { l.OpenHow = 2 }),
	row("creat", unix.SYS_CREAT, []int{8}, Arg{Name: "name", Pos: 0, Kind: Path, Base: CwdArg, FDName: true}, arg("mode", 1, CreatMode)).
		result("fd", ResultFD).fd("res").layout(func(l *Layout) { l.Path0, l.FD, l.DirFD, l.FlagsArg = 0, RetFD, CwdBase, CreatFlags }),
	row("execve", unix.SYS_EXECVE, []int{11}, arg("filename", 0, ExecPath), arg("flags", -1, ExeFlags)).judgeExit().
		layout(func(l *Layout) { l.Path0, l.DirFD = 0, CwdBase }),
	row("execveat", unix.SYS_EXECVEAT, []int{358}, arg("flags", -1, ExeFlags)).judgeExit().
		layout(func(l *Layout) { l.Path0, l.DirFD = 1, 0 }),
	socket("connect", unix.SYS_CONNECT, []int{362}, Client, func(l *Layout) { l.Sockaddr, l.SockaddrLen, l.FD = 1, 2, 0 }, arg("fd", 0, FD), arg("addr", 1, Sockaddr)),
	socket("accept", unix.SYS_ACCEPT, nil, Server, func(l *Layout) { l.Sockaddr, l.SockaddrLen, l.AddrOut, l.FD = 1, 2, true, RetFD }).result("fd", ResultFD),
	socket("accept4", unix.SYS_ACCEPT4, []int{364}, Server, func(l *Layout) { l.Sockaddr, l.SockaddrLen, l.AddrOut, l.FD = 1, 2, true, RetFD }).result("fd", ResultFD),
	socket("bind", unix.SYS_BIND, []int{361}, Server, func(l *Layout) { l.Sockaddr, l.SockaddrLen, l.FD = 1, 2, 0 }, arg("addr", 1, Sockaddr), arg("fd", 0, FD)),
	socket("listen", unix.SYS_LISTEN, []int{363}, Server, func(l *Layout) { l.FD = 0 }, arg("fd", 0, FD)),
	socket("socket", unix.SYS_SOCKET, []int{359}, Client, func(l *Layout) { l.FD = RetFD },
		arg("domain", 0, SockFamily), arg("type", 1, SockType), arg("proto", 2, Uint), arg("flags", 1, SockFlags)).result("fd", ResultFD),
	socket("sendto", unix.SYS_SENDTO, []int{369}, Client, func(l *Layout) { l.Sockaddr, l.SockaddrLen, l.FD = 4, 5, 0 }, arg("fd", 0, FD)),
	socket("sendmsg", unix.SYS_SENDMSG, []int{370}, Client, func(l *Layout) { l.Msghdr, l.FD = 1, 0 }, arg("fd", 0, FD)),
	socket("recvfrom", unix.SYS_RECVFROM, []int{371}, Client, func(l *Layout) { l.Sockaddr, l.SockaddrLen, l.AddrOut, l.FD = 4, 5, true, 0 }, arg("fd", 0, FD)),
	socket("recvmsg", unix.SYS_RECVMSG, []int{372}, Client, func(l *Layout) { l.Msghdr, l.AddrOut, l.FD = 1, true, 0 }, arg("fd", 0, FD)),
	row("dup", unix.SYS_DUP, []int{41}, arg("oldfd", 0, FD)).result("res", ResultFD).fd("res").layout(retFD),
	row("dup2", unix.SYS_DUP2, []int{63}, arg("oldfd", 0, FD), arg("newfd", 1, FD)).result("res", ResultFD).fd("res").layout(retFD),
	row("dup3", unix.SYS_DUP3, []int{330}, arg("oldfd", 0, FD), arg("newfd", 1, FD), arg("flags", 2, Dup3Flags)).result("res", ResultFD).fd("res").layout(retFD),
	// A symlink's target is what the link points to, kept as given; its
	// link path is the new file (fs.path.source).
	row("symlink", unix.SYS_SYMLINK, []int{83}, Arg{Name: "target", Pos: 0, Kind: String, Base: CwdArg, FSPath: "target"}, path("linkpath", 1, CwdArg, "source")).
		layout(func(l *Layout) { l.Path0, l.Path1, l.DirFD, l.DirFDPath = 0, 1, CwdBase, 1 }),
	row("symlinkat", unix.SYS_SYMLINKAT, []int{304}, Arg{Name: "target", Pos: 0, Kind: String, Base: Unresolved, FSPath: "target"}, arg("linkdirfd", 1, DirFD), path("linkpath", 2, 1, "source")).
		layout(func(l *Layout) { l.Path0, l.Path1, l.DirFD, l.DirFDPath = 0, 2, 1, 1 }),
	// A hard link's source is the new name, its target the file linked to.
	row("link", unix.SYS_LINK, []int{9}, path("oldpath", 0, CwdArg, "target"), path("newpath", 1, CwdArg, "source")).
		layout(func(l *Layout) { l.Path0, l.Path1, l.DirFD = 0, 1, CwdBase }),
	row("linkat", unix.SYS_LINKAT, []int{303}, arg("olddir", 0, DirFD), path("oldpath", 1, 0, "target"), arg("newdir", 2, DirFD), path("newpath", 3, 2, "source"), arg("flags", 4, LinkatFlags)).
		layout(func(l *Layout) { l.Path0, l.Path1, l.DirFD = 1, 3, 0 }),
	row("unlink", unix.SYS_UNLINK, []int{10}, path("path", 0, CwdArg, "name")).layout(cwdPath),
	row("unlinkat", unix.SYS_UNLINKAT, []int{301}, arg("dirfd", 0, DirFD), path("name", 1, 0, "name"), arg("flags", 2, UnlinkatFlags)).fd("dirfd").layout(atPath),
	row("rename", unix.SYS_RENAME, []int{38}, path("oldpath", 0, CwdArg, "source"), path("newpath", 1, CwdArg, "target")).
		layout(func(l *Layout) { l.Path0, l.Path1, l.DirFD = 0, 1, CwdBase }),
	row("renameat", unix.SYS_RENAMEAT, []int{302}, arg("olddirfd", 0, DirFD), path("oldpath", 1, 0, "source"), arg("newdirfd", 2, DirFD), path("newpath", 3, 2, "target")).
		layout(func(l *Layout) { l.Path0, l.Path1, l.DirFD = 1, 3, 0 }),
	row("renameat2", unix.SYS_RENAMEAT2, []int{353}, arg("olddirfd", 0, DirFD), path("oldpath", 1, 0, "source"), arg("newdirfd", 2, DirFD), path("newpath", 3, 2, "target"), arg("flags", 4, Renameat2Flags)).
		layout(func(l *Layout) { l.Path0, l.Path1, l.DirFD = 1, 3, 0 }),
	row("mkdir", unix.SYS_MKDIR, []int{39}, path("path", 0, CwdArg, "name"), arg("mode", 1, MkdirMode)).layout(cwdPath),
	row("mkdirat", unix.SYS_MKDIRAT, []int{296}, arg("dirfd", 0, DirFD), path("path", 1, 0, "name"), arg("mode", 2, MkdirMode)).fd("dirfd").layout(atPath),
	row("rmdir", unix.SYS_RMDIR, []int{40}, path("path", 0, CwdArg, "name")).layout(cwdPath),
	row("chmod", unix.SYS_CHMOD, []int{15}, path("filename", 0, CwdArg, "name"), arg("mode", 1, ChmodMode)).layout(cwdPath),
	// fchmod's file is its fd: fs.path.name is the fd's name.
	row("fchmod", unix.SYS_FCHMOD, []int{94}, Arg{Name: "fd", Pos: 0, Kind: FD, Base: CwdArg, FSPath: "name"}, arg("mode", 1, ChmodMode)).fd("fd").layout(func(l *Layout) { l.FD = 0 }),
	row("fchmodat", unix.SYS_FCHMODAT, []int{306}, arg("dirfd", 0, DirFD), path("filename", 1, 0, "name"), arg("mode", 2, ChmodMode)).fd("dirfd").layout(atPath),
	row("setuid", unix.SYS_SETUID, []int{23, 213}, arg("uid", 0, UID)).creds(),
	row("setns", unix.SYS_SETNS, []int{346}, arg("fd", 0, FD), arg("nstype", 1, CloneFlags)).fd("fd").layout(func(l *Layout) { l.FD = 0 }),
	row("unshare", unix.SYS_UNSHARE, []int{310}, arg("flags", 0, CloneFlags)),
	row("ptrace", unix.SYS_PTRACE, []int{26}, arg("request", 0, Request), arg("pid", 1, PID)),
	// bpf's result is a bpf fd (libsinsp gives it no name).
	row("bpf", unix.SYS_BPF, []int{357}, arg("cmd", 0, BPFCmd)).result("fd", ResultFD),
	row("userfaultfd", unix.SYS_USERFAULTFD, []int{374}, arg("flags", 0, UserfaultfdFlags)).fd("res"),
	row("init_module", unix.SYS_INIT_MODULE, []int{128}, arg("length", 1, Uint), arg("uargs", 2, String)).
		layout(func(l *Layout) { l.Path0 = 2 }),
	row("finit_module", unix.SYS_FINIT_MODULE, []int{350}, arg("fd", 0, FD), arg("uargs", 1, String), arg("flags", 2, FinitModuleFlags)).
		fd("fd").layout(func(l *Layout) { l.Path0, l.FD = 1, 0 }),
	// A memfd is named by the name given (fd.name), its type memfd.
	row("memfd_create", unix.SYS_MEMFD_CREATE, []int{356}, Arg{Name: "name", Pos: 0, Kind: String, Base: CwdArg, FDName: true}, arg("flags", 1, MemfdFlags)).
		result("fd", ResultFD).fd("res").layout(func(l *Layout) { l.Path0, l.FD = 0, RetFD }),
	// A mount's device is a path to libsinsp too ("proc" is $CWD/proc).
	row("mount", unix.SYS_MOUNT, []int{21}, Arg{Name: "dev", Pos: 0, Kind: String, Base: CwdArg, FSPath: "source"}, path("dir", 1, CwdArg, "target"), arg("flags", 3, MountFlags)).
		layout(func(l *Layout) { l.Path0, l.Path1 = 0, 1 }),
	row("clone", unix.SYS_CLONE, []int{120}).result("res", ResultPID),
	row("clone3", unix.SYS_CLONE3, []int{435}).result("res", ResultPID),
	row("fork", unix.SYS_FORK, []int{2}).result("res", ResultPID),
	row("vfork", unix.SYS_VFORK, []int{190}).result("res", ResultPID),
	row("close", unix.SYS_CLOSE, []int{6}, arg("fd", 0, FD)),
	row("chdir", unix.SYS_CHDIR, []int{12}, arg("path", 0, String)).state().
		layout(func(l *Layout) { l.Path0, l.Pwd = 0, true }),
	row("fchdir", unix.SYS_FCHDIR, []int{133}, arg("fd", 0, FD)).state().
		layout(func(l *Layout) { l.FD, l.Pwd = 0, true }),
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

// none is a Layout with nothing to record.
var none = Layout{Path0: -1, Path1: -1, Sockaddr: -1, SockaddrLen: -1, Msghdr: -1, FD: -1, OpenHow: -1, DirFD: -1, FlagsArg: -1}

func row(name string, nr int, ia32 []int, args ...Arg) Syscall {
	return Syscall{Name: name, Nr: nr, IA32: ia32, Args: args, Result: Arg{Name: "res", Pos: -1, Kind: Errno}, Layout: none}
}

func (s Syscall) layout(set func(*Layout)) Syscall { set(&s.Layout); return s }
func (s Syscall) fd(name string) Syscall           { s.EventFD = name; return s }
func (s Syscall) result(name string, k Kind) Syscall {
	s.Result = Arg{Name: name, Pos: -1, Kind: k}
	return s
}
func (s Syscall) state() Syscall     { s.State = true; return s }
func (s Syscall) judgeExit() Syscall { s.JudgeExit = true; return s }
func (s Syscall) creds() Syscall     { s.Creds = true; return s }

func arg(name string, pos int8, k Kind) Arg { return Arg{Name: name, Pos: pos, Kind: k, Base: CwdArg} }

// path is a Path argument relative to Args[base] (-1: the cwd), held on
// success in fs.path.FS.
func path(name string, pos, base int8, fs string) Arg {
	return Arg{Name: name, Pos: pos, Kind: Path, Base: base, FSPath: fs}
}

// fdNamePath is an open's path: also its fd.name and fs.path.name.
func fdNamePath(name string, pos, base int8) Arg {
	a := path(name, pos, base, "name")
	a.FDName = true
	return a
}

// open is a row of the opens: dirfd (or -1), name, flags, mode; the
// event's fd is the one returned.
func open(name string, nr int, ia32 []int, dirfd, p, flags, mode int8) Syscall {
	var args []Arg
	base := int8(CwdArg)
	if dirfd >= 0 {
		args, base = append(args, arg("dirfd", dirfd, DirFD)), 0
	}
	args = append(args, fdNamePath("name", p, base), arg("flags", flags, OpenFlags), arg("mode", mode, OpenMode))
	s := row(name, nr, ia32, args...).result("fd", ResultFD).fd("res")
	return s.layout(func(l *Layout) {
		l.Path0, l.FD, l.FlagsArg = p, RetFD, flags
		l.DirFD = CwdBase
		if dirfd >= 0 {
			l.DirFD = dirfd
		}
	})
}

// socket is a row of a socket syscall: its arguments are the socket's
// (fd.*) and the address its layout records; the event's fd is the
// socket.
func socket(name string, nr int, ia32 []int, role Role, set func(*Layout), args ...Arg) Syscall {
	s := row(name, nr, ia32, args...).layout(set)
	s.Role = role
	s.EventFD = "fd"
	if s.Layout.FD == RetFD {
		s.EventFD = "res"
	}
	return s
}

// cwdPath and atPath are the layouts of a path syscall and its *at twin;
// retFD that of a syscall returning an fd the capture describes.
func cwdPath(l *Layout) { l.Path0, l.DirFD = 0, CwdBase }
func atPath(l *Layout)  { l.Path0, l.DirFD = 1, 0 }
func retFD(l *Layout)   { l.FD = RetFD }

var byName, byNr = func() (map[string]*Syscall, map[int]*Syscall) {
	n, r := map[string]*Syscall{}, map[int]*Syscall{}
	for i := range Table {
		n[Table[i].Name], r[Table[i].Nr] = &Table[i], &Table[i]
	}
	return n, r
}()

// Lookup returns the row of syscall name.
func Lookup(name string) (*Syscall, bool) { s, ok := byName[name]; return s, ok }

// ByNr returns the row of x86_64 syscall number nr.
func ByNr(nr int) (*Syscall, bool) { s, ok := byNr[nr]; return s, ok }

// Names returns the names of the rows, sorted.
func Names() []string {
	out := make([]string, 0, len(Table))
	for _, s := range Table {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

// Arg returns the argument named name.
func (s *Syscall) Arg(name string) (*Arg, bool) {
	for i := range s.Args {
		if s.Args[i].Name == name {
			return &s.Args[i], true
		}
	}
	return nil, false
}

// OpenFlags reports whether the syscall's exit event shows open flags:
// evt.arg.flags and evt.is_open_* derive from them (Falco's open events;
// creat has none).
func (s *Syscall) OpenFlags() bool {
	for _, a := range s.Args {
		if a.Kind == OpenFlags {
			return true
		}
	}
	return false
}

// Opens reports whether the syscall opens a file by path with open flags
// the kernel judges (the features dimension's open bits): the opens and
// creat.
func (s *Syscall) Opens() bool { return s.Layout.FlagsArg >= 0 }

// PathArg returns the argument the kernel's path dimension checks: the
// Path read into the capture's first user string, when it is one.
func (s *Syscall) PathArg() (*Arg, bool) {
	if s.Layout.Path0 < 0 {
		return nil, false
	}
	for i := range s.Args {
		a := &s.Args[i]
		if a.Pos == s.Layout.Path0 && (a.Kind == Path || a.FSPath != "") {
			return a, true
		}
	}
	return nil, false
}

// PathFields returns the fields that hold, made absolute, the path the
// kernel's path dimension checks, in their one spelling: evt.arg.NAME,
// its fs.path field, fd.name when it is the event's fd. Nil when the
// dimension does not apply.
func (s *Syscall) PathFields() map[string]bool {
	a, ok := s.PathArg()
	if !ok || a.Kind != Path && a.Kind != String {
		return nil
	}
	set := map[string]bool{"evt.arg." + a.Name: true}
	if a.FSPath != "" && s.fsPaths() {
		set["fs.path."+a.FSPath] = true
	}
	if a.FDName {
		set["fd.name"] = true
	}
	return set
}

// fsPaths reports whether Falco fills fs.path.* for the syscall (creat
// has none).
func (s *Syscall) fsPaths() bool { return s.Name != "creat" }

// FSPaths reports whether Falco fills the syscall's fs.path.* fields when
// it returns ret: a file descriptor other than -1 for the opens, 0 for the
// others.
func (s *Syscall) FSPaths(ret int64) bool {
	switch {
	case !s.fsPaths():
		return false
	case s.OpenFlags():
		return ret != -1
	}
	return ret == 0
}

// PortFields returns the fields holding the local port ([0]) and the
// remote port ([1]) of a socket syscall's socket, by its role: the
// client's ports for connect and the like, the server's for accept, bind
// and listen. fd.port and fd.proto, which match either side, are not
// among them. Nil for other syscalls.
func (s *Syscall) PortFields() *[2][]string {
	switch s.Role {
	case Client:
		return &[2][]string{{"fd.lport", "fd.cport"}, {"fd.rport", "fd.sport"}}
	case Server:
		return &[2][]string{{"fd.lport", "fd.sport"}, {"fd.rport", "fd.cport"}}
	}
	return nil
}

// Server reports whether the process is the server end of the syscall's
// socket.
func (s *Syscall) Server() bool { return s.Role == Server }

// Fields returns the evt.arg fields the syscall's event can fill, by
// Falco's name.
func (s *Syscall) Fields() []string {
	var out []string
	for _, a := range s.Args {
		out = append(out, "evt.arg."+a.Name)
	}
	return out
}

// IsOpenEvent reports whether event type typ opens by flags, as Falco
// derives evt.is_open_* (policy.IsOpenEvent, for rows and for types the
// table does not capture).
func IsOpenEvent(typ string) bool { return policy.IsOpenEvent(typ) }
