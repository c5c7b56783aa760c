package runtime

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/peregrine-sec/peregrine/bpf"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/syscalls"
	"golang.org/x/sys/unix"
)

// The fields a syscall's arguments fill, decoded by the syscall's row of
// the table: evt.arg.NAME, the arguments its exit event shows, named and
// rendered as Falco's are (flags.go, args.go); fd.*, the fd the event is
// about; fs.path.*, the files its paths name. Each is decoded when asked.

// reg is register i's value as the syscall's int argument (fds, dirfds).
func (s *liveEvent) reg(i int8) int64 { return int64(int32(s.r.Args[i])) }

// str is the user string the capture read for register pos.
func (s *liveEvent) str(pos int8) (string, bool) {
	switch pos {
	case s.row.Layout.Path0:
		return s.r.StrView(0)
	case s.row.Layout.Path1:
		return s.r.StrView(1)
	}
	return "", false
}

// which is the capture's index (0 or 1) of the user string in register
// pos, for resolve.
func (s *liveEvent) which(pos int8) int {
	if pos == s.row.Layout.Path1 {
		return 1
	}
	return 0
}

// base is the dirfd a Path or String argument is relative to.
func (s *liveEvent) base(a *syscalls.Arg) int64 {
	if a.Base >= 0 {
		return s.reg(s.row.Args[a.Base].Pos)
	}
	return atFDCWD
}

// path returns a Path argument as given and made absolute (resolve), once
// per event.
func (s *liveEvent) path(a *syscalls.Arg) (raw, abs string, ok bool) {
	u := &s.paths[s.which(a.Pos)]
	if !u.read {
		u.read = true
		if u.raw, u.ok = s.str(a.Pos); u.ok {
			u.abs = s.l.resolve(s.r, s.p, s.base(a), u.raw, s.which(a.Pos))
		}
	}
	return u.raw, u.abs, u.ok
}

// fdPath returns the FDName Path argument (an open's), if the row has one.
func (s *liveEvent) fdNamePath() *syscalls.Arg {
	for i := range s.row.Args {
		if a := &s.row.Args[i]; a.FDName && a.Kind == syscalls.Path {
			return a
		}
	}
	return nil
}

// fdNamer is the String argument that names the event's fd (a memfd's
// name), or nil.
func (s *liveEvent) fdNamer() *syscalls.Arg {
	for i := range s.row.Args {
		if a := &s.row.Args[i]; a.FDName && a.Kind == syscalls.String {
			return a
		}
	}
	return nil
}

func (s *liveEvent) argNamed(name string) *syscalls.Arg {
	a, ok := s.row.Arg(name)
	if !ok {
		panic("syscalls: row " + s.row.Name + " names no argument " + name)
	}
	return a
}

// fdField reads one of the fd.* fields.
func (s *liveEvent) fdField(_ *policy.Event, k policy.Key) (policy.Value, bool) {
	for _, kv := range s.fdFields() {
		if kv.k == k {
			return kv.v, true
		}
	}
	return policy.Value{}, false
}

// fdFields returns the fields of the fd the event is about, decoded once
// per event: the returned one, the socket, or an fd or dirfd argument; an
// open's named by its path.
func (s *liveEvent) fdFields() []keyValue {
	if s.fdRead {
		return s.fd
	}
	s.fdRead = true
	s.eventFD()
	if a := s.fdNamePath(); a != nil {
		if raw, abs, ok := s.path(a); ok {
			s.setFD(keyFdName, policy.Text(resolvedPath(raw, abs)))
			s.setFD(keyFdNameraw, policy.Text(raw))
		}
	}
	return s.fd
}

// setFD sets an fd field, replacing its value.
func (s *liveEvent) setFD(k policy.Key, v policy.Value) {
	for i := range s.fd {
		if s.fd[i].k == k {
			s.fd[i].v = v
			return
		}
	}
	s.fd = append(s.fd, keyValue{k, v})
}

func (s *liveEvent) setFDName(name string, v policy.Value) { s.setFD(policy.MustKey(name), v) }

var (
	keyFdIno = policy.MustKey("fd.ino")
	keyFdDev = policy.MustKey("fd.dev")
)

func (s *liveEvent) eventFD() {
	row, r := s.row, s.r
	switch {
	case row.EventFD == "":
		return
	case row.Opens():
		// The file an open returned: a directory when O_DIRECTORY or the
		// inode says so.
		s.setFD(keyFdNum, policy.Int(fdNum(r.Ret)))
		typ := "file"
		if (r.Ret >= 0 && r.File.Mode&unix.S_IFMT == unix.S_IFDIR) || s.openFlags()&unix.O_DIRECTORY != 0 {
			typ = "directory"
		}
		s.setFD(keyFdType, policy.Text(typ))
		if r.Ret >= 0 {
			s.setFD(keyFdIno, policy.Uint(r.File.Ino))
			s.setFD(keyFdDev, policy.Uint(uint64(r.File.Dev)))
		}
		return
	case row.Role != syscalls.NoSocket:
		fd := fdNum(r.Ret)
		if row.EventFD != "res" {
			fd = s.reg(s.argNamed(row.EventFD).Pos)
		}
		s.setFD(keyFdNum, policy.Int(fd))
		if r.Flags&bpf.FlagHasSock != 0 {
			s.sockFields(row.Server())
		}
		return
	case row.EventFD == "res":
		s.setFD(keyFdNum, policy.Int(fdNum(r.Ret)))
		if a := s.fdNamer(); a != nil {
			// A memfd: named by the name given, as libsinsp names it.
			s.setFD(keyFdType, policy.Text("memfd"))
			if name, ok := s.str(a.Pos); ok {
				s.setFD(keyFdName, policy.Text(name))
			}
		} else if row.Result.Kind == syscalls.ResultFD && row.Layout.FD == syscalls.RetFD {
			s.fdByKernel(r.Ret)
		}
		return
	}
	a := s.argNamed(row.EventFD)
	fd := s.reg(a.Pos)
	if a.Kind == syscalls.DirFD {
		// The event's fd is the dirfd: its name when it is one, and an
		// empty name (not none) for AT_FDCWD, as libsinsp has it.
		s.setFD(keyFdNum, policy.Int(fd))
		name := ""
		if fd >= 0 {
			if dir, err := s.l.fdPath(s.pid, fd); err == nil {
				s.setFD(keyFdType, policy.Text("directory"))
				name = dir
			}
		}
		s.setFD(keyFdName, policy.Text(name))
		return
	}
	s.fdByKernel(fd)
}

// fdByKernel sets the fd fields of an fd the kernel described, naming it
// from /proc when it is not a socket.
func (s *liveEvent) fdByKernel(fd int64) {
	r := s.r
	if fd < 0 {
		return
	}
	s.setFD(keyFdNum, policy.Int(fd))
	if r.Flags&bpf.FlagHasSock != 0 {
		s.sockFields(false)
		return
	}
	if r.Flags&bpf.FlagHasFile != 0 {
		s.setFD(keyFdType, policy.Text(fileType(r.File.Mode)))
	}
	if path, err := s.l.fdPath(s.pid, fd); err == nil {
		s.setFD(keyFdName, policy.Text(path))
	}
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "pipe"
	case unix.S_IFSOCK:
		return "unix"
	}
	return "file"
}

// sockFields sets fd.* from the kernel's view of the socket. server says
// whether this process is the server end (accept, bind, listen).
func (s *liveEvent) sockFields(server bool) {
	sk := s.r.Sock
	set := s.setFDName
	switch sk.Family {
	case unix.AF_INET, unix.AF_INET6:
		typ := "ipv4"
		if sk.Family == unix.AF_INET6 && !sk.LocalAddr.Is4() {
			typ = "ipv6"
		}
		set("fd.type", policy.Text(typ))
		set("fd.sockfamily", policy.Text("ip"))
		proto := "raw"
		switch {
		case sk.Type == unix.SOCK_STREAM:
			proto = "tcp"
		case sk.Type == unix.SOCK_DGRAM && sk.Protocol == unix.IPPROTO_ICMP:
			proto = "icmp"
		case sk.Type == unix.SOCK_DGRAM:
			proto = "udp"
		}
		set("fd.l4proto", policy.Text(proto))
		local, remote := sk.LocalAddr, sk.RemoteAddr
		set("fd.lip", policy.Text(local.String()))
		set("fd.lport", policy.Uint(uint64(sk.LocalPort)))
		connected := remote.IsValid() && !remote.IsUnspecified() && sk.RemotePort != 0
		set("fd.connected", policy.Bool(connected))
		if connected {
			set("fd.rip", policy.Text(remote.String()))
			set("fd.rport", policy.Uint(uint64(sk.RemotePort)))
		}
		cip, cport, sip, sport := local, sk.LocalPort, remote, sk.RemotePort
		if server {
			cip, cport, sip, sport = remote, sk.RemotePort, local, sk.LocalPort
		}
		set("fd.is_server", policy.Bool(server))
		if sip.IsValid() && (server || connected) {
			set("fd.sip", policy.Text(sip.String()))
			set("fd.sport", policy.Uint(uint64(sport)))
		}
		if cip.IsValid() && (!server || connected) {
			set("fd.cip", policy.Text(cip.String()))
			set("fd.cport", policy.Uint(uint64(cport)))
		}
		if connected {
			set("fd.name", policy.Text(fmt.Sprintf("%s:%d->%s:%d", cip, cport, sip, sport)))
		} else {
			set("fd.name", policy.Text(fmt.Sprintf("%s:%d", local, sk.LocalPort)))
		}
	case unix.AF_UNIX:
		set("fd.type", policy.Text("unix"))
		set("fd.sockfamily", policy.Text("unix"))
		if _, _, _, path, ok := Sockaddr(s.r.Blobs[2]); ok && path != "" {
			set("fd.name", policy.Text(path))
		}
	case unix.AF_NETLINK:
		set("fd.type", policy.Text("netlink"))
	default:
		set("fd.type", policy.Text(familyName(uint64(sk.Family))))
	}
}

// openFlags are an open's flags (creat's implied ones).
func (s *liveEvent) openFlags() uint64 {
	if s.row.Layout.FlagsArg == syscalls.CreatFlags {
		return unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC
	}
	return s.r.Args[s.row.Layout.FlagsArg]
}

// fsPath reads fs.path.NAME or fs.path.NAMEraw: the file an argument
// names, on a result for which Falco fills them.
func (s *liveEvent) fsPath(e *policy.Event, k policy.Key) (policy.Value, bool) {
	if !s.row.FSPaths(s.r.Ret) {
		return policy.Value{}, false
	}
	name := strings.TrimPrefix(k.Field().Name, "fs.path.")
	name, raw := strings.CutSuffix(name, "raw")
	var v policy.Value
	found := false
	for i := range s.row.Args {
		a := &s.row.Args[i]
		if a.FSPath != name {
			continue
		}
		var given, resolved string
		switch a.Kind {
		case syscalls.Path:
			r, abs, ok := s.path(a)
			if !ok {
				continue
			}
			given, resolved = r, resolvedPath(r, abs)
			if a.FDName && a.Base >= 0 && !filepath.IsAbs(r) && s.r.Ret < 0 {
				resolved = unknownDir // libsinsp takes a relative *at open's from its fd
			}
		case syscalls.String:
			str, ok := s.str(a.Pos)
			if !ok || str == "" {
				continue
			}
			given = str
			switch {
			case filepath.IsAbs(str):
				resolved = filepath.Clean(str)
			case a.Base == syscalls.Unresolved:
				resolved = unknownDir + str
			default:
				resolved = resolvedPath(str, s.l.resolve(s.r, s.p, atFDCWD, str, -1))
			}
		case syscalls.FD:
			// The file is the fd (fchmod).
			if s.row.EventFD != a.Name {
				continue
			}
			fd, ok := e.Get(keyFdName)
			if !ok {
				continue
			}
			given, _ = fd.Text()
			resolved = given
		default:
			continue
		}
		v, found = policy.Text(resolved), true
		if raw {
			v = policy.Text(given)
		}
	}
	return v, found
}

// argValue reads evt.arg.NAME: the argument of that name, or the result.
func (s *liveEvent) argValue(e *policy.Event, name string) (policy.Value, bool) {
	if name == s.row.Result.Name {
		return s.result(e)
	}
	a, ok := s.row.Arg(name)
	if !ok {
		return policy.Value{}, false
	}
	if a.Kind == syscalls.Uint && a.Pos >= 0 {
		return policy.Uint(s.r.Args[a.Pos]), true
	}
	t, ok := s.arg(e, a)
	return policy.Text(t), ok
}

// arg renders one argument as evt.arg shows it.
func (s *liveEvent) arg(e *policy.Event, a *syscalls.Arg) (string, bool) {
	l, r := s.l, s.r
	var v uint64
	if a.Pos >= 0 {
		v = r.Args[a.Pos]
	}
	flags := func(f func(uint64) string) (string, bool) { return l.render(a.Kind, v, f), true }
	switch a.Kind {
	case syscalls.Path:
		raw, abs, ok := s.path(a)
		return argPath(raw, abs), ok
	case syscalls.String:
		return s.str(a.Pos)
	case syscalls.DirFD:
		return l.dirfdArg(s.pid, s.reg(a.Pos)), true
	case syscalls.FD:
		return fdArgOf(e, s.reg(a.Pos)), true
	case syscalls.OpenFlags:
		created := r.Ret >= 0 && r.File.FMode&bpf.FModeCreated != 0
		if created {
			v |= 1 << 63
		}
		return flags(func(v uint64) string { return OpenFlags(v&^(1<<63), v&(1<<63) != 0) })
	case syscalls.OpenMode:
		if s.openFlags()&(unix.O_CREAT|linuxOTmpfile) == 0 {
			v = 0 // only a creating open has a mode (OpenModeToPPM)
		}
		return l.render(a.Kind, v, func(v uint64) string { return OpenMode(unix.O_CREAT, v) }), true
	case syscalls.CreatMode:
		return flags(CreatMode)
	case syscalls.MkdirMode:
		return flags(MkdirMode)
	case syscalls.ChmodMode:
		return flags(ChmodMode)
	case syscalls.CloneFlags:
		return flags(CloneFlags)
	case syscalls.UnlinkatFlags:
		return flags(UnlinkatFlags)
	case syscalls.LinkatFlags:
		return flags(LinkatFlags)
	case syscalls.Renameat2Flags:
		return flags(Renameat2Flags)
	case syscalls.Dup3Flags:
		return flags(Dup3Flags)
	case syscalls.MemfdFlags:
		return flags(MemfdFlags)
	case syscalls.MountFlags:
		return flags(MountFlags)
	case syscalls.FinitModuleFlags:
		return flags(FinitModuleFlags)
	case syscalls.UserfaultfdFlags:
		return flags(UserfaultfdFlags)
	case syscalls.SockFamily:
		return flags(SocketFamily)
	case syscalls.SockType:
		return flags(SocketType)
	case syscalls.SockFlags:
		return flags(SocketFlags)
	case syscalls.Sockaddr:
		return SockaddrArg(r.Blobs[2]), true
	case syscalls.Request:
		return flags(PtraceRequest)
	case syscalls.BPFCmd:
		return flags(BPFCommand)
	case syscalls.PID:
		target := s.reg(a.Pos)
		tp, known := l.table.Get(int32(target))
		comm := ""
		if known {
			comm = tp.Comm
		}
		return PIDArg(target, comm, known), true
	case syscalls.UID:
		uid := uint32(v)
		if r.Flags&bpf.FlagCompat != 0 && r.AbiNr == ia32Setuid16 {
			// ia32's setuid takes a 16-bit uid, 0xffff for -1 (low2highuid).
			uid = uint32(uint16(v))
			if uid == 0xffff {
				uid = ^uint32(0)
			}
		}
		uname, known := l.users.UserName(uid)
		return UIDArg(uid, uname, known), true
	case syscalls.ExecPath:
		// A successful exec replaced the memory the file name was in:
		// the exec record that came first carried it.
		fn, ok := s.execFilename, s.hasExecFilename
		if r.Ret < 0 {
			fn, ok = s.str(a.Pos)
		}
		if !ok {
			return "", false
		}
		return argPath(fn, l.resolve(r, s.p, atFDCWD, fn, -1)), true
	case syscalls.ExeFlags:
		if r.Ret >= 0 && s.p != nil && s.p.ExeFlagsKnown {
			return ExeFlags(exeBits(s.p)), true
		}
	}
	return "", false
}

// result renders the argument holding the return value.
func (s *liveEvent) result(e *policy.Event) (policy.Value, bool) {
	r := s.r
	switch s.row.Result.Kind {
	case syscalls.Errno:
		return policy.Text(ErrnoArg(r.Ret)), true
	case syscalls.ResultPID:
		child, known := s.l.table.Get(int32(r.Ret))
		comm := ""
		if known && r.Ret > 0 {
			comm = child.Comm
		}
		return policy.Text(PIDArg(r.Ret, comm, known && r.Ret > 0)), true
	case syscalls.ResultFD:
		switch {
		case s.row.Opens():
			tc, _ := e.Text(keyFdTypechar)
			if a := s.fdNamePath(); a != nil {
				if raw, abs, ok := s.path(a); ok {
					return policy.Text(FDArg(r.Ret, tc, "", resolvedPath(raw, abs), true)), true
				}
			}
			return policy.Text(FDArg(r.Ret, tc, "", "", false)), true
		case s.row.EventFD == "":
			// libsinsp records any result >= 0 as an fd of the
			// syscall's own type without a name (bpf).
			return policy.Text(FDArg(r.Ret, "b", "", "", r.Ret >= 0)), true
		default:
			return policy.Text(fdArgOf(e, r.Ret)), true
		}
	}
	return policy.Value{}, false
}
