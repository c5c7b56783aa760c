package runtime

import (
	"path/filepath"

	"github.com/peregrine-sec/peregrine/bpf"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime/proctable"
	"github.com/peregrine-sec/peregrine/syscalls"
	"golang.org/x/sys/unix"
)

// A decoder fills an event's evt.arg.*, fd.* and fs.path.* fields from a
// syscall record, by the syscall's row of the table: the arguments its
// exit event shows, named and rendered as Falco's are (flags.go, args.go),
// the fd the event is about and the fs.path fields its paths fill.
type decoder struct {
	l   *Live
	ev  *policy.Event
	r   *bpf.Record
	row *syscalls.Syscall
	p   *proctable.Process
	pid int32
	// fsOK says whether Falco fills fs.path.* for this result.
	fsOK bool
}

// setArgs sets evt.arg.*, fd.* and fs.path.* for the syscall of row.
func (l *Live) setArgs(ev *policy.Event, r *bpf.Record, row *syscalls.Syscall, p *proctable.Process) {
	d := decoder{l: l, ev: ev, r: r, row: row, p: p, pid: int32(r.Pid), fsOK: row.FSPaths(r.Ret)}
	d.eventFD()
	for i := range row.Args {
		d.arg(&row.Args[i])
	}
	d.result()
}

// reg is register i's value as the syscall's int argument (fds, dirfds).
func (d *decoder) reg(i int8) int64 { return int64(int32(d.r.Args[i])) }

// str is the user string the capture read for register pos.
func (d *decoder) str(pos int8) (string, bool) {
	switch pos {
	case d.row.Layout.Path0:
		return d.r.Str(0)
	case d.row.Layout.Path1:
		return d.r.Str(1)
	}
	return "", false
}

// which is the capture's index (0 or 1) of the user string in register
// pos, for resolve.
func (d *decoder) which(pos int8) int {
	if pos == d.row.Layout.Path1 {
		return 1
	}
	return 0
}

// base is the dirfd a Path or String argument is relative to.
func (d *decoder) base(a *syscalls.Arg) int64 {
	if a.Base >= 0 {
		return d.reg(d.row.Args[a.Base].Pos)
	}
	return atFDCWD
}

// eventFD fills fd.* for the fd the event is about: the returned one,
// the socket, or an fd or dirfd argument.
func (d *decoder) eventFD() {
	row, r, ev := d.row, d.r, d.ev
	switch {
	case row.EventFD == "":
		return
	case row.Opens():
		d.openedFD()
		return
	case row.Role != syscalls.NoSocket:
		fd := r.Ret
		if row.EventFD != "res" {
			fd = d.reg(d.argNamed(row.EventFD).Pos)
		} else {
			fd = fdNum(r.Ret)
		}
		ev.Set("fd.num", fd)
		if r.Flags&bpf.FlagHasSock != 0 {
			d.l.setSockFields(ev, r, row.Server())
		}
		return
	case row.EventFD == "res":
		ev.Set("fd.num", fdNum(r.Ret))
		if a := d.fdNamer(); a != nil {
			// A memfd: named by the name given, as libsinsp names it.
			ev.Set("fd.type", "memfd")
			if s, ok := d.str(a.Pos); ok {
				ev.Set("fd.name", s)
			}
		} else if row.Result.Kind == syscalls.ResultFD && row.Layout.FD == syscalls.RetFD {
			d.l.setFdByKernel(ev, r, d.pid, r.Ret)
		}
		return
	}
	a := d.argNamed(row.EventFD)
	fd := d.reg(a.Pos)
	if a.Kind == syscalls.DirFD {
		// The event's fd is the dirfd: its name when it is one, and an
		// empty name (not none) for AT_FDCWD, as libsinsp has it.
		ev.Set("fd.num", fd)
		name := ""
		if fd >= 0 {
			if dir, err := d.l.fdPath(d.pid, fd); err == nil {
				ev.Set("fd.type", "directory")
				name = dir
			}
		}
		ev.Set("fd.name", name)
		return
	}
	d.l.setFdByKernel(ev, r, d.pid, fd)
	if v, ok := ev.Raw("fd.name"); ok && d.fsOK && a.FSPath != "" {
		// The file is the fd (fchmod).
		ev.Set("fs.path."+a.FSPath, v)
		ev.Set("fs.path."+a.FSPath+"raw", v)
	}
}

// fdNamer is the String argument that names the event's fd (a memfd's
// name), or nil.
func (d *decoder) fdNamer() *syscalls.Arg {
	for i := range d.row.Args {
		if a := &d.row.Args[i]; a.FDName && a.Kind == syscalls.String {
			return a
		}
	}
	return nil
}

// openedFD fills fd.* for the file an open returned: named by the path
// opened, a directory when O_DIRECTORY or the inode says so.
func (d *decoder) openedFD() {
	r, ev := d.r, d.ev
	ev.Set("fd.num", fdNum(r.Ret))
	typ := "file"
	if (r.Ret >= 0 && r.File.Mode&unix.S_IFMT == unix.S_IFDIR) || d.openFlags()&unix.O_DIRECTORY != 0 {
		typ = "directory"
	}
	ev.Set("fd.type", typ)
	if r.Ret >= 0 {
		ev.Set("fd.ino", r.File.Ino)
		ev.Set("fd.dev", r.File.Dev)
	}
}

// openFlags are an open's flags (creat's implied ones).
func (d *decoder) openFlags() uint64 {
	if d.row.Layout.FlagsArg == syscalls.CreatFlags {
		return unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC
	}
	return d.r.Args[d.row.Layout.FlagsArg]
}

func (d *decoder) argNamed(name string) *syscalls.Arg {
	a, ok := d.row.Arg(name)
	if !ok {
		panic("syscalls: row " + d.row.Name + " names no argument " + name)
	}
	return a
}

// arg sets evt.arg.NAME, and the fields it fills.
func (d *decoder) arg(a *syscalls.Arg) {
	l, r, ev := d.l, d.r, d.ev
	set := func(v any) { ev.Set("evt.arg."+a.Name, v) }
	var v uint64
	if a.Pos >= 0 {
		v = r.Args[a.Pos]
	}
	switch a.Kind {
	case syscalls.Path:
		d.path(a)
	case syscalls.String:
		d.string(a)
	case syscalls.DirFD:
		set(l.dirfdArg(d.pid, d.reg(a.Pos)))
	case syscalls.FD:
		set(fdArgOf(ev, d.reg(a.Pos)))
	case syscalls.OpenFlags:
		set(OpenFlags(v, r.Ret >= 0 && r.File.FMode&bpf.FModeCreated != 0))
	case syscalls.OpenMode:
		set(OpenMode(d.openFlags(), v))
	case syscalls.CreatMode:
		set(CreatMode(v))
	case syscalls.MkdirMode:
		set(MkdirMode(v))
	case syscalls.ChmodMode:
		set(ChmodMode(v))
	case syscalls.CloneFlags:
		set(CloneFlags(v))
	case syscalls.UnlinkatFlags:
		set(UnlinkatFlags(v))
	case syscalls.LinkatFlags:
		set(LinkatFlags(v))
	case syscalls.Renameat2Flags:
		set(Renameat2Flags(v))
	case syscalls.Dup3Flags:
		set(Dup3Flags(v))
	case syscalls.MemfdFlags:
		set(MemfdFlags(v))
	case syscalls.MountFlags:
		set(MountFlags(v))
	case syscalls.FinitModuleFlags:
		set(FinitModuleFlags(v))
	case syscalls.UserfaultfdFlags:
		set(UserfaultfdFlags(v))
	case syscalls.SockFamily:
		set(SocketFamily(v))
	case syscalls.SockType:
		set(SocketType(v))
	case syscalls.SockFlags:
		set(SocketFlags(v))
	case syscalls.Sockaddr:
		set(SockaddrArg(r.Blobs[2]))
	case syscalls.Uint:
		set(v)
	case syscalls.Request:
		set(PtraceRequest(v))
	case syscalls.BPFCmd:
		set(BPFCommand(v))
	case syscalls.PID:
		target := d.reg(a.Pos)
		tp, known := l.table.Get(int32(target))
		comm := ""
		if known {
			comm = tp.Comm
		}
		set(PIDArg(target, comm, known))
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
		set(UIDArg(uid, uname, known))
	case syscalls.ExecPath:
		// A successful exec replaced the memory the file name was in:
		// the exec record that came first carried it.
		fn, ok := "", false
		if r.Ret >= 0 {
			fn, ok = l.execFilename[d.pid]
			delete(l.execFilename, d.pid)
		} else {
			fn, ok = d.str(a.Pos)
		}
		if ok {
			set(argPath(fn, l.resolve(r, d.p, atFDCWD, fn, -1)))
		}
	case syscalls.ExeFlags:
		if r.Ret >= 0 && d.p != nil && d.p.ExeFlagsKnown {
			set(ExeFlags(exeBits(d.p)))
		}
	}
}

// path sets a Path argument: evt.arg.NAME as Falco shows it, fd.name when
// it names the event's fd, and on success its fs.path field.
func (d *decoder) path(a *syscalls.Arg) {
	raw, ok := d.str(a.Pos)
	if !ok {
		return
	}
	abs := d.l.resolve(d.r, d.p, d.base(a), raw, d.which(a.Pos))
	d.ev.Set("evt.arg."+a.Name, argPath(raw, abs))
	resolved := resolvedPath(raw, abs)
	if a.FDName {
		d.ev.Set("fd.name", resolved)
		d.ev.Set("fd.nameraw", raw)
		d.ev.Set("evt.arg.fd", FDArg(d.r.Ret, d.fdTypeChar(), "", resolved, true))
	}
	if d.fsOK && a.FSPath != "" {
		fs := resolved
		if a.FDName && a.Base >= 0 && !filepath.IsAbs(raw) && d.r.Ret < 0 {
			fs = unknownDir // libsinsp takes a relative *at open's from its fd
		}
		d.ev.Set("fs.path."+a.FSPath, fs)
		d.ev.Set("fs.path."+a.FSPath+"raw", raw)
	}
}

// fdTypeChar is the type character of the event's fd, from fd.type.
func (d *decoder) fdTypeChar() string {
	if v, ok := d.ev.Raw("fd.type"); ok {
		if typ, ok := v.(string); ok {
			tc, _ := policy.FDTypeChar(typ)
			return tc
		}
	}
	return ""
}

// string sets a String argument as given, and on success its fs.path
// field: a path made absolute against the cwd, or left unresolved
// ("<UNKNOWN>" and the text) where Falco does not resolve it.
func (d *decoder) string(a *syscalls.Arg) {
	s, ok := d.str(a.Pos)
	if !ok {
		return
	}
	d.ev.Set("evt.arg."+a.Name, s)
	if !d.fsOK || a.FSPath == "" || s == "" {
		return
	}
	abs := s
	switch {
	case filepath.IsAbs(s):
		abs = filepath.Clean(s)
	case a.Base == syscalls.Unresolved:
		abs = unknownDir + s
	default:
		abs = resolvedPath(s, d.l.resolve(d.r, d.p, atFDCWD, s, -1))
	}
	d.ev.Set("fs.path."+a.FSPath, abs)
	d.ev.Set("fs.path."+a.FSPath+"raw", s)
}

// result sets the argument holding the return value.
func (d *decoder) result() {
	res, r, ev := &d.row.Result, d.r, d.ev
	set := func(v any) { ev.Set("evt.arg."+res.Name, v) }
	switch res.Kind {
	case syscalls.Errno:
		set(ErrnoArg(r.Ret))
	case syscalls.ResultPID:
		child, known := d.l.table.Get(int32(r.Ret))
		comm := ""
		if known && r.Ret > 0 {
			comm = child.Comm
		}
		set(PIDArg(r.Ret, comm, known && r.Ret > 0))
	case syscalls.ResultFD:
		switch {
		case d.row.Opens():
			if _, ok := ev.Raw("evt.arg.fd"); !ok { // the path was unreadable
				set(FDArg(r.Ret, d.fdTypeChar(), "", "", false))
			}
		case d.row.EventFD == "":
			// libsinsp records any result >= 0 as an fd of the
			// syscall's own type without a name (bpf).
			set(FDArg(r.Ret, "b", "", "", r.Ret >= 0))
		default:
			set(fdArgOf(ev, r.Ret))
		}
	}
}
