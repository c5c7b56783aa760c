package runtime

import (
	"encoding/binary"
	"github.com/peregrine-sec/peregrine/bpf"
	"net/netip"
	"strconv"
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
	"golang.org/x/sys/unix"
)

// This file renders syscall arguments as Falco 0.44 (libsinsp 0.25, driver
// 10.2.0) shows them in evt.arg.NAME. The driver first translates most
// Linux values into its own portable bit layout (the PPM values below);
// libsinsp then names them from a table, in the table's order:
//
//   - bit flags (renderFlags): every entry whose bits are all still set in
//     the value is named and its bits are cleared, so a multi-bit entry
//     (O_RDWR) hides the single bits after it; an entry of value 0 is named
//     only when the whole value is 0; the walk stops at an entry equal to
//     the whole value. Names are joined by "|"; bits no entry names are
//     dropped, and when nothing is named the argument is the value in
//     decimal.
//   - enumerations (renderEnum): every entry equal to the value is named,
//     so an enumeration with aliases yields several names (AF_LOCAL|AF_UNIX).
//   - file modes (renderMode, PT_MODE): as bit flags, without the value-0
//     rule, but an entry equal to the whole value ends the walk and is
//     named; when nothing is named the argument is the value in octal.
//
// See /tmp/falco-spec.md (section A) for the sources.

// flagName pairs a value of the driver's layout with its name.
type flagName struct {
	value uint32
	name  string
}

// renderFlags names the bits of v from table as libsinsp does for
// PT_FLAGS* parameters; it returns "" when no entry matches.
func renderFlags(v uint32, table []flagName) string {
	var b strings.Builder
	rest := v
	for _, f := range table {
		match := (f.value == 0 && v == 0) || (f.value != 0 && rest != 0 && rest&f.value == f.value)
		if !match {
			continue
		}
		rest &^= f.value
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(f.name)
		if f.value == v {
			break
		}
	}
	return b.String()
}

// renderEnum names v from table as libsinsp does for PT_ENUMFLAGS*
// parameters: every entry equal to v, in table order; "" when none is.
func renderEnum(v uint32, table []flagName) string {
	var b strings.Builder
	for _, f := range table {
		if f.value != v {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(f.name)
	}
	return b.String()
}

// flagsArg is a PT_FLAGS* argument as evt.arg shows it: the names, or the
// value in decimal when none matches.
func flagsArg(v uint32, table []flagName) string {
	if s := renderFlags(v, table); s != "" {
		return s
	}
	return strconv.FormatUint(uint64(v), 10)
}

// enumArg is a PT_ENUMFLAGS* argument as evt.arg shows it.
func enumArg(v uint32, table []flagName) string {
	if s := renderEnum(v, table); s != "" {
		return s
	}
	return strconv.FormatUint(uint64(v), 10)
}

// octal formats v as C's "%#o" does: "0" for zero, a leading 0 otherwise.
func octal(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "0" + strconv.FormatUint(v, 8)
}

// The driver's open flags (PPM_O_*), which evt.arg.flags of open, openat,
// openat2, dup3, socket and userfaultfd are named from.
const (
	PPMORdonly      = 1 << 0
	PPMOWronly      = 1 << 1
	PPMORdwr        = PPMORdonly | PPMOWronly
	PPMOCreat       = 1 << 2
	PPMOAppend      = 1 << 3
	PPMODsync       = 1 << 4
	PPMOExcl        = 1 << 5
	PPMONonblock    = 1 << 6
	PPMOSync        = 1 << 7
	PPMOTrunc       = 1 << 8
	PPMODirect      = 1 << 9
	PPMODirectory   = 1 << 10
	PPMOLargefile   = 1 << 11
	PPMOCloexec     = 1 << 12
	PPMOTmpfile     = 1 << 13
	PPMOFCreated    = 1 << 14 // the open created the file (FMODE_CREATED)
	PPMFDUpperLayer = 1 << 15 // the file is in an overlayfs upper layer
	PPMFDLowerLayer = 1 << 16 // ... in a lower layer
)

// fileFlagNames is libsinsp's file_flags table, in its order.
var fileFlagNames = []flagName{
	{PPMOLargefile, "O_LARGEFILE"}, {PPMODirectory, "O_DIRECTORY"}, {PPMODirect, "O_DIRECT"},
	{PPMOTrunc, "O_TRUNC"}, {PPMOSync, "O_SYNC"}, {PPMONonblock, "O_NONBLOCK"}, {PPMOExcl, "O_EXCL"},
	{PPMODsync, "O_DSYNC"}, {PPMOAppend, "O_APPEND"}, {PPMOCreat, "O_CREAT"}, {PPMORdwr, "O_RDWR"},
	{PPMOWronly, "O_WRONLY"}, {PPMORdonly, "O_RDONLY"}, {PPMOCloexec, "O_CLOEXEC"}, {0, "O_NONE"},
	{PPMOTmpfile, "O_TMPFILE"}, {PPMOFCreated, "O_F_CREATED"}, {PPMFDUpperLayer, "FD_UPPER_LAYER"},
	{PPMFDLowerLayer, "FD_LOWER_LAYER"},
}

// Linux open flags as the kernel's x86-64 ABI defines them. O_LARGEFILE is
// the kernel's value (golang.org/x/sys has 0, the libc value on amd64).
const (
	linuxOLargefile = 0o100000
	linuxOTmpfile   = 0o20000000 | unix.O_DIRECTORY // O_TMPFILE includes O_DIRECTORY
	linuxOSync      = 0o4000000 | unix.O_DSYNC      // O_SYNC includes O_DSYNC
)

// OpenFlagsToPPM translates Linux open(2) flags into the driver's layout,
// as the driver does for open, openat and openat2. The access mode 0 and 3
// both give O_RDONLY; O_PATH, O_NOFOLLOW, O_NOATIME, O_NOCTTY, O_ASYNC
// have no driver bit and vanish. O_TMPFILE and O_SYNC are tested with
// their whole kernel masks, which include O_DIRECTORY and O_DSYNC: a plain
// O_DIRECTORY open also reports O_TMPFILE, and O_DSYNC also O_SYNC.
func OpenFlagsToPPM(flags uint64) uint32 {
	var r uint32
	switch flags & unix.O_ACCMODE {
	case unix.O_WRONLY:
		r |= PPMOWronly
	case unix.O_RDWR:
		r |= PPMORdwr
	default:
		r |= PPMORdonly
	}
	for _, m := range []struct {
		linux uint64
		ppm   uint32
	}{
		{unix.O_CREAT, PPMOCreat}, {linuxOTmpfile, PPMOTmpfile}, {unix.O_APPEND, PPMOAppend},
		{unix.O_DSYNC, PPMODsync}, {unix.O_EXCL, PPMOExcl}, {unix.O_NONBLOCK, PPMONonblock},
		{linuxOSync, PPMOSync}, {unix.O_TRUNC, PPMOTrunc}, {unix.O_DIRECT, PPMODirect},
		{unix.O_DIRECTORY, PPMODirectory}, {linuxOLargefile, PPMOLargefile}, {unix.O_CLOEXEC, PPMOCloexec},
	} {
		if flags&m.linux != 0 {
			r |= m.ppm
		}
	}
	return r
}

// FileFlags renders flags in the driver's layout (PPM_O_*) as evt.arg.flags
// shows them: "O_TRUNC|O_CREAT|O_WRONLY|O_F_CREATED".
func FileFlags(ppm uint32) string { return flagsArg(ppm, fileFlagNames) }

// OpenFlags renders Linux open flags as Falco's evt.arg.flags of open,
// openat and openat2: "O_TRUNC|O_CREAT|O_WRONLY". created adds
// O_F_CREATED, which the driver sets when the open created the file.
// (creat has no flags argument in Falco.)
func OpenFlags(flags uint64, created bool) string {
	ppm := OpenFlagsToPPM(flags)
	if created {
		ppm |= PPMOFCreated
	}
	return FileFlags(ppm)
}

// OpenModeToPPM is the mode argument of open, openat, openat2 and creat
// as the driver records it: the permission and set-id bits when the
// flags ask for a creation (O_CREAT, or a bit of O_TMPFILE's mask, so
// O_DIRECTORY too), 0 otherwise. creat always creates.
func OpenModeToPPM(flags, mode uint64) uint32 {
	if flags&(unix.O_CREAT|linuxOTmpfile) == 0 {
		return 0
	}
	return uint32(mode & 0o7777)
}

// OpenMode renders the mode argument of an open as evt.arg.mode shows it:
// octal as C's "%#o" ("0644", "0" when the open creates nothing).
func OpenMode(flags, mode uint64) string { return octal(uint64(OpenModeToPPM(flags, mode))) }

// CreatMode renders creat's mode argument (evt.arg.mode).
func CreatMode(mode uint64) string { return OpenMode(unix.O_CREAT, mode) }

// Mode renders an octal (PF_OCT) numeric argument as C's "%#o": "0755",
// and "0" for zero.
func Mode(m uint64) string { return octal(m) }

// MkdirMode renders the mode of mkdir and mkdirat, which the driver
// records raw and libsinsp prints in upper-case hexadecimal without a
// prefix (PF_HEX): 0755 is "1ED".
func MkdirMode(m uint64) string { return strings.ToUpper(strconv.FormatUint(uint64(uint32(m)), 16)) }

// chmodModeNames is libsinsp's chmod_mode table, in its order. The
// driver's bits are the Linux ones.
var chmodModeNames = []flagName{
	{unix.S_IXOTH, "S_IXOTH"}, {unix.S_IWOTH, "S_IWOTH"}, {unix.S_IROTH, "S_IROTH"},
	{unix.S_IXGRP, "S_IXGRP"}, {unix.S_IWGRP, "S_IWGRP"}, {unix.S_IRGRP, "S_IRGRP"},
	{unix.S_IXUSR, "S_IXUSR"}, {unix.S_IWUSR, "S_IWUSR"}, {unix.S_IRUSR, "S_IRUSR"},
	{unix.S_ISVTX, "S_ISVTX"}, {unix.S_ISGID, "S_ISGID"}, {unix.S_ISUID, "S_ISUID"},
}

// renderMode names the bits of v as libsinsp does for PT_MODE; "" when
// none matches.
func renderMode(v uint32, table []flagName) string {
	var b strings.Builder
	rest := v
	add := func(name string) {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(name)
	}
	for _, f := range table {
		if f.value == v {
			add(f.name)
			break
		}
		if (f.value == 0 && v == 0) || (f.value != 0 && rest != 0 && rest&f.value == f.value) {
			add(f.name)
			rest &^= f.value
		}
	}
	return b.String()
}

// ChmodMode renders the mode of chmod, fchmod and fchmodat (PT_MODE) as
// evt.arg.mode shows it: the permission bits named from the lowest,
// "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR" for 0755, with
// S_ISVTX, S_ISGID and S_ISUID last; the file type bits are dropped; "0"
// for a mode without any permission bit.
func ChmodMode(m uint64) string {
	v := uint32(m & 0o7777)
	if s := renderMode(v, chmodModeNames); s != "" {
		return s
	}
	return octal(uint64(v))
}

// UnlinkatFlags renders unlinkat's flags: "AT_REMOVEDIR", or "0".
func UnlinkatFlags(flags uint64) string {
	var v uint32
	if flags&unix.AT_REMOVEDIR != 0 {
		v = unix.AT_REMOVEDIR
	}
	return flagsArg(v, []flagName{{unix.AT_REMOVEDIR, "AT_REMOVEDIR"}})
}

// LinkatFlags renders linkat's flags (AT_SYMLINK_FOLLOW, AT_EMPTY_PATH).
func LinkatFlags(flags uint64) string {
	var v uint32
	for _, b := range []uint32{unix.AT_SYMLINK_FOLLOW, unix.AT_EMPTY_PATH} {
		if uint32(flags)&b != 0 {
			v |= b
		}
	}
	return flagsArg(v, []flagName{{unix.AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW"}, {unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"}})
}

// Renameat2Flags renders renameat2's flags; the driver's bits are the
// Linux ones.
func Renameat2Flags(flags uint64) string {
	return flagsArg(uint32(flags)&7, []flagName{
		{unix.RENAME_NOREPLACE, "RENAME_NOREPLACE"}, {unix.RENAME_EXCHANGE, "RENAME_EXCHANGE"},
		{unix.RENAME_WHITEOUT, "RENAME_WHITEOUT"},
	})
}

// mountFlagNames is libsinsp's mount_flags table; the driver's bits are
// the Linux MS_* ones.
var mountFlagNames = []flagName{
	{1 << 0, "RDONLY"}, {1 << 1, "NOSUID"}, {1 << 2, "NODEV"}, {1 << 3, "NOEXEC"},
	{1 << 4, "SYNCHRONOUS"}, {1 << 5, "REMOUNT"}, {1 << 6, "MANDLOCK"}, {1 << 7, "DIRSYNC"},
	{1 << 10, "NOATIME"}, {1 << 11, "NODIRATIME"}, {1 << 12, "BIND"}, {1 << 13, "MOVE"},
	{1 << 14, "REC"}, {1 << 15, "SILENT"}, {1 << 16, "POSIXACL"}, {1 << 17, "UNBINDABLE"},
	{1 << 18, "PRIVATE"}, {1 << 19, "SLAVE"}, {1 << 20, "SHARED"}, {1 << 21, "RELATIME"},
	{1 << 22, "KERNMOUNT"}, {1 << 23, "I_VERSION"}, {1 << 24, "STRICTATIME"}, {1 << 25, "LAZYTIME"},
	{1 << 28, "NOSEC"}, {1 << 29, "BORN"}, {1 << 30, "ACTIVE"}, {1 << 31, "NOUSER"},
}

// MountFlags renders mount's flags as evt.arg.flags shows them: names
// without the MS_ prefix ("NOSUID|NODEV|BIND|REC"), the legacy magic
// number 0xC0ED in the top 16 bits removed first; "0" when no named bit
// is set. MS_NOSYMFOLLOW and other unnamed bits are dropped.
func MountFlags(flags uint64) string {
	v := uint32(flags)
	if v&0xffff0000 == 0xc0ed0000 {
		v &^= 0xffff0000
	}
	return flagsArg(v, mountFlagNames)
}

// The driver's clone flags (PPM_CL_*), which evt.arg.flags of clone and
// unshare and evt.arg.nstype of setns are named from.
var cloneFlagNames = []flagName{
	{1 << 0, "CLONE_FILES"}, {1 << 1, "CLONE_FS"}, {1 << 2, "CLONE_IO"}, {1 << 3, "CLONE_NEWIPC"},
	{1 << 4, "CLONE_NEWNET"}, {1 << 5, "CLONE_NEWNS"}, {1 << 6, "CLONE_NEWPID"}, {1 << 7, "CLONE_NEWUTS"},
	{1 << 8, "CLONE_PARENT"}, {1 << 9, "CLONE_PARENT_SETTID"}, {1 << 10, "CLONE_PTRACE"},
	{1 << 11, "CLONE_SIGHAND"}, {1 << 12, "CLONE_SYSVSEM"}, {1 << 13, "CLONE_THREAD"},
	{1 << 14, "CLONE_UNTRACED"}, {1 << 15, "CLONE_VM"}, {1 << 16, "CLONE_INVERTED"},
	{1 << 17, "NAME_CHANGED"}, {1 << 18, "CLOSED"}, {1 << 20, "CLONE_NEWUSER"},
	{1 << 23, "CLONE_CHILD_CLEARTID"}, {1 << 24, "CLONE_CHILD_SETTID"}, {1 << 25, "CLONE_SETTLS"},
	{1 << 26, "CLONE_STOPPED"}, {1 << 27, "CLONE_VFORK"}, {1 << 28, "CLONE_NEWCGROUP"},
	{1 << 29, "CLONE_CHILD_IN_PIDNS"},
}

// linuxToPPMClone maps each Linux clone flag the driver knows to its bit.
var linuxToPPMClone = []struct {
	linux uint64
	ppm   uint32
}{
	{unix.CLONE_FILES, 1 << 0}, {unix.CLONE_FS, 1 << 1}, {unix.CLONE_IO, 1 << 2},
	{unix.CLONE_NEWIPC, 1 << 3}, {unix.CLONE_NEWNET, 1 << 4}, {unix.CLONE_NEWNS, 1 << 5},
	{unix.CLONE_NEWPID, 1 << 6}, {unix.CLONE_NEWUTS, 1 << 7}, {unix.CLONE_PARENT_SETTID, 1 << 9},
	{unix.CLONE_PARENT, 1 << 8}, {unix.CLONE_PTRACE, 1 << 10}, {unix.CLONE_SIGHAND, 1 << 11},
	{unix.CLONE_SYSVSEM, 1 << 12}, {unix.CLONE_THREAD, 1 << 13}, {unix.CLONE_UNTRACED, 1 << 14},
	{unix.CLONE_VM, 1 << 15}, {unix.CLONE_NEWUSER, 1 << 20}, {unix.CLONE_CHILD_CLEARTID, 1 << 23},
	{unix.CLONE_CHILD_SETTID, 1 << 24}, {unix.CLONE_SETTLS, 1 << 25}, {unix.CLONE_VFORK, 1 << 27},
	{unix.CLONE_NEWCGROUP, 1 << 28},
}

// CloneFlagsToPPM translates Linux clone, unshare and setns flags into the
// driver's layout. Flags the driver does not know (CLONE_NEWTIME,
// CLONE_PIDFD, CLONE_CLEAR_SIGHAND, ...) vanish; only the low 32 bits
// count, as the driver casts to int.
func CloneFlagsToPPM(flags uint64) uint32 {
	var r uint32
	for _, m := range linuxToPPMClone {
		if flags&0xffffffff&m.linux != 0 {
			r |= m.ppm
		}
	}
	return r
}

// CloneFlags renders Linux clone, unshare and setns flags as Falco does:
// names in the driver's table order ("CLONE_NEWNS|CLONE_NEWUSER"), "0"
// when none is known.
func CloneFlags(flags uint64) string { return flagsArg(CloneFlagsToPPM(flags), cloneFlagNames) }

// MemfdFlags renders memfd_create's flags: MFD_CLOEXEC, MFD_ALLOW_SEALING
// and MFD_HUGETLB (the driver drops MFD_NOEXEC_SEAL, MFD_EXEC and the huge
// page size bits); "0" when none is set.
func MemfdFlags(flags uint64) string {
	return flagsArg(uint32(flags)&7, []flagName{
		{unix.MFD_CLOEXEC, "MFD_CLOEXEC"}, {unix.MFD_ALLOW_SEALING, "MFD_ALLOW_SEALING"},
		{unix.MFD_HUGETLB, "MFD_HUGETLB"},
	})
}

// FinitModuleFlags renders finit_module's flags.
func FinitModuleFlags(flags uint64) string {
	return flagsArg(uint32(flags)&7, []flagName{
		{unix.MODULE_INIT_IGNORE_MODVERSIONS, "MODULE_INIT_IGNORE_MODVERSIONS"},
		{unix.MODULE_INIT_IGNORE_VERMAGIC, "MODULE_INIT_IGNORE_VERMAGIC"},
		{4, "MODULE_INIT_COMPRESSED_FILE"},
	})
}

// UserfaultfdFlags renders userfaultfd's flags as Falco does: the driver
// records the Linux value untranslated and libsinsp names it from the
// open-flags table, so O_NONBLOCK (0x800) shows as O_LARGEFILE,
// UFFD_USER_MODE_ONLY (1) as O_RDONLY, 0 as O_NONE, and O_CLOEXEC alone
// (0x80000, no driver bit) as "524288".
func UserfaultfdFlags(flags uint64) string { return FileFlags(uint32(flags)) }

// Dup3Flags renders dup3's flags: "O_CLOEXEC", or "O_NONE".
func Dup3Flags(flags uint64) string {
	var v uint32
	if flags&unix.O_CLOEXEC != 0 {
		v = PPMOCloexec
	}
	return FileFlags(v)
}

// SocketFlags renders the flags argument of socket's exit, which the
// driver takes from the type argument: "O_NONBLOCK|O_CLOEXEC" for
// SOCK_NONBLOCK|SOCK_CLOEXEC, "O_NONE" for neither.
func SocketFlags(typ uint64) string {
	var v uint32
	if typ&unix.SOCK_NONBLOCK != 0 {
		v |= PPMONonblock
	}
	if typ&unix.SOCK_CLOEXEC != 0 {
		v |= PPMOCloexec
	}
	return FileFlags(v)
}

// The execve and execveat exit's flags (PPM_EXE_*), evt.arg.flags: the
// capture's (bpf.Exe*).
const (
	ExeWritable   = bpf.ExeWritable
	ExeUpperLayer = bpf.ExeUpperLayer
	ExeFromMemfd  = bpf.ExeFromMemfd
	ExeLowerLayer = bpf.ExeLowerLayer
)

var exeFlagNames = []flagName{
	{ExeWritable, "EXE_WRITABLE"}, {ExeUpperLayer, "EXE_UPPER_LAYER"},
	{ExeFromMemfd, "EXE_FROM_MEMFD"}, {ExeLowerLayer, "EXE_LOWER_LAYER"},
}

// ExeFlags renders the exe flags of an execve exit as evt.arg.flags shows
// them: "EXE_WRITABLE|EXE_UPPER_LAYER", "0" when none is set.
func ExeFlags(bits uint32) string { return flagsArg(bits, exeFlagNames) }

// SetExeFlagFields sets the process fields libsinsp derives from the exe
// flags of a successful execve: proc.is_exe_writable, is_exe_upper_layer,
// is_exe_lower_layer and is_exe_from_memfd, each true when its bit is set.
// libsinsp keeps them in the process (its children inherit them) until
// the next exec; a process it found in /proc at start has all four false
// except is_exe_writable (see the spec, section B).
func SetExeFlagFields(ev *policy.Event, bits uint32) {
	ev.Set("proc.is_exe_writable", bits&ExeWritable != 0)
	ev.Set("proc.is_exe_upper_layer", bits&ExeUpperLayer != 0)
	ev.Set("proc.is_exe_lower_layer", bits&ExeLowerLayer != 0)
	ev.Set("proc.is_exe_from_memfd", bits&ExeFromMemfd != 0)
}

// ptraceRequests maps Linux (x86-64) ptrace requests to the driver's
// request names; every other request is PTRACE_UNKNOWN.
var ptraceRequests = map[uint64]string{
	unix.PTRACE_TRACEME: "PTRACE_TRACEME", unix.PTRACE_PEEKTEXT: "PTRACE_PEEKTEXT",
	unix.PTRACE_PEEKDATA: "PTRACE_PEEKDATA", unix.PTRACE_PEEKUSR: "PTRACE_PEEKUSR",
	unix.PTRACE_POKETEXT: "PTRACE_POKETEXT", unix.PTRACE_POKEDATA: "PTRACE_POKEDATA",
	unix.PTRACE_POKEUSR: "PTRACE_POKEUSR", unix.PTRACE_CONT: "PTRACE_CONT", unix.PTRACE_KILL: "PTRACE_KILL",
	unix.PTRACE_SINGLESTEP: "PTRACE_SINGLESTEP", unix.PTRACE_ATTACH: "PTRACE_ATTACH",
	unix.PTRACE_DETACH: "PTRACE_DETACH", unix.PTRACE_SYSCALL: "PTRACE_SYSCALL",
	unix.PTRACE_SETOPTIONS: "PTRACE_SETOPTIONS", unix.PTRACE_GETEVENTMSG: "PTRACE_GETEVENTMSG",
	unix.PTRACE_GETSIGINFO: "PTRACE_GETSIGINFO", unix.PTRACE_SETSIGINFO: "PTRACE_SETSIGINFO",
	unix.PTRACE_GETREGSET: "PTRACE_GETREGSET", unix.PTRACE_SETREGSET: "PTRACE_SETREGSET",
	unix.PTRACE_SEIZE: "PTRACE_SEIZE", unix.PTRACE_INTERRUPT: "PTRACE_INTERRUPT",
	unix.PTRACE_LISTEN: "PTRACE_LISTEN", unix.PTRACE_PEEKSIGINFO: "PTRACE_PEEKSIGINFO",
	0x420a: "PTRACE_GETSIGMASK", 0x420b: "PTRACE_SETSIGMASK",
	unix.PTRACE_GETREGS: "PTRACE_GETREGS", unix.PTRACE_SETREGS: "PTRACE_SETREGS",
	unix.PTRACE_GETFPREGS: "PTRACE_GETFPREGS", unix.PTRACE_SETFPREGS: "PTRACE_SETFPREGS",
	unix.PTRACE_GETFPXREGS: "PTRACE_GETFPXREGS", unix.PTRACE_SETFPXREGS: "PTRACE_SETFPXREGS",
	unix.PTRACE_OLDSETOPTIONS: "PTRACE_OLDSETOPTIONS", unix.PTRACE_GET_THREAD_AREA: "PTRACE_GET_THREAD_AREA",
	unix.PTRACE_SET_THREAD_AREA: "PTRACE_SET_THREAD_AREA", unix.PTRACE_ARCH_PRCTL: "PTRACE_ARCH_PRCTL",
	unix.PTRACE_SYSEMU: "PTRACE_SYSEMU", unix.PTRACE_SYSEMU_SINGLESTEP: "PTRACE_SYSEMU_SINGLESTEP",
	unix.PTRACE_SINGLEBLOCK: "PTRACE_SINGLEBLOCK",
}

// PtraceRequest names a ptrace request as Falco does (PTRACE_ATTACH);
// requests the driver does not know are PTRACE_UNKNOWN.
func PtraceRequest(req uint64) string {
	if n, ok := ptraceRequests[req]; ok {
		return n
	}
	return "PTRACE_UNKNOWN"
}

// socketFamilyNames is libsinsp's socket_families table, in its order
// (several names share a value). The driver keeps the Linux values of the
// families it knows and turns every other one into AF_UNSPEC.
var socketFamilyNames = []flagName{
	{39, "AF_NFC"}, {38, "AF_ALG"}, {37, "AF_CAIF"}, {36, "AF_IEEE802154"}, {35, "AF_PHONET"},
	{34, "AF_ISDN"}, {33, "AF_RXRPC"}, {32, "AF_IUCV"}, {31, "AF_BLUETOOTH"}, {30, "AF_TIPC"},
	{29, "AF_CAN"}, {26, "AF_LLC"}, {25, "AF_WANPIPE"}, {24, "AF_PPPOX"}, {23, "AF_IRDA"},
	{22, "AF_SNA"}, {21, "AF_RDS"}, {20, "AF_ATMSVC"}, {19, "AF_ECONET"}, {18, "AF_ASH"},
	{17, "AF_PACKET"}, {16, "AF_ROUTE"}, {16, "AF_NETLINK"}, {15, "AF_KEY"}, {14, "AF_SECURITY"},
	{13, "AF_NETBEUI"}, {12, "AF_DECnet"}, {11, "AF_ROSE"}, {10, "AF_INET6"}, {9, "AF_X25"},
	{8, "AF_ATMPVC"}, {7, "AF_BRIDGE"}, {6, "AF_NETROM"}, {5, "AF_APPLETALK"}, {4, "AF_IPX"},
	{3, "AF_AX25"}, {2, "AF_INET"}, {1, "AF_LOCAL"}, {1, "AF_UNIX"}, {0, "AF_UNSPEC"},
}

// SocketFamily names an address family as socket's evt.arg.domain shows
// it: "AF_INET", "AF_LOCAL|AF_UNIX" for 1, "AF_ROUTE|AF_NETLINK" for 16,
// and "AF_UNSPEC" for families the driver does not know (AF_VSOCK,
// AF_XDP, ...).
func SocketFamily(f uint64) string {
	v := uint32(f)
	if f > 39 || f == 27 || f == 28 {
		v = 0
	}
	return enumArg(v, socketFamilyNames)
}

// familyName names an address family with one name (the fd.type of an
// unusual socket); it is not a Falco rendering.
func familyName(f uint64) string {
	switch f {
	case unix.AF_UNIX:
		return "AF_UNIX"
	case unix.AF_NETLINK:
		return "AF_NETLINK"
	case unix.AF_VSOCK:
		return "AF_VSOCK"
	}
	if f <= 39 {
		if s := renderEnum(uint32(f), socketFamilyNames); s != "" {
			return s
		}
	}
	return strconv.FormatUint(f, 10)
}

// SocketType renders socket's type argument as Falco does: the number in
// decimal, SOCK_NONBLOCK and SOCK_CLOEXEC included ("1", "524289"); the
// driver records it as a plain number (they are in evt.arg.flags too).
func SocketType(t uint64) string { return strconv.FormatUint(uint64(uint32(t)), 10) }

// bpfCommands are libsinsp's bpf_commands names by value (the driver
// keeps the Linux value); 10 has two names.
var bpfCommands = []string{"BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
	"BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH", "BPF_PROG_DETACH",
	"BPF_PROG_TEST_RUN|BPF_PROG_RUN", "BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID", "BPF_PROG_GET_FD_BY_ID",
	"BPF_MAP_GET_FD_BY_ID", "BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY", "BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD",
	"BPF_BTF_GET_FD_BY_ID", "BPF_TASK_FD_QUERY", "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE",
	"BPF_BTF_GET_NEXT_ID", "BPF_MAP_LOOKUP_BATCH", "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH",
	"BPF_MAP_DELETE_BATCH", "BPF_LINK_CREATE", "BPF_LINK_UPDATE", "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID",
	"BPF_ENABLE_STATS", "BPF_ITER_CREATE", "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP"}

// BPFCommand names a bpf(2) command as Falco does (BPF_PROG_LOAD); 10 is
// "BPF_PROG_TEST_RUN|BPF_PROG_RUN", and commands after BPF_PROG_BIND_MAP
// (BPF_TOKEN_CREATE, ...) are their number.
func BPFCommand(cmd uint64) string {
	if cmd < uint64(len(bpfCommands)) {
		return bpfCommands[cmd]
	}
	return strconv.FormatInt(int64(int32(cmd)), 10)
}

// ErrnoArg renders a PT_ERRNO argument (evt.arg.res of most syscalls):
// the errno name for a negative value libsinsp names ("ENOENT"), the
// number in decimal otherwise ("0", "3", "-126").
func ErrnoArg(res int64) string {
	if res < 0 {
		if n, ok := policy.ErrnoName(-res); ok {
			return n
		}
	}
	return strconv.FormatInt(res, 10)
}

// FDArg renders a PT_FD argument as evt.arg shows it. For an fd libsinsp
// has in its table (known), "<" + its type character, the l4 protocol
// character for IP sockets (t, u, i, r) + ">" + its name: "<f>/etc/shadow",
// "<4t>10.0.0.1:3456->10.0.0.2:80". AT_FDCWD is "AT_FDCWD"; a negative
// value is its errno name when it has one; anything else is the number.
func FDArg(fd int64, typechar, l4proto, name string, known bool) string {
	switch {
	case fd >= 0 && known:
		return "<" + typechar + l4Char(l4proto) + ">" + name
	case fd == atFDCWD:
		return "AT_FDCWD"
	case fd < 0:
		return ErrnoArg(fd)
	}
	return strconv.FormatInt(fd, 10)
}

func l4Char(proto string) string {
	switch proto {
	case "tcp":
		return "t"
	case "udp":
		return "u"
	case "icmp":
		return "i"
	case "raw":
		return "r"
	}
	return ""
}

// UIDArg renders a PT_UID argument (setuid's evt.arg.uid): the user name
// when the uid has one, "<NA>" when it has none, "<NONE>" for -1.
func UIDArg(uid uint32, name string, known bool) string {
	switch {
	case uid == ^uint32(0):
		return "<NONE>"
	case known && name != "":
		return name
	}
	return "<NA>"
}

// PIDArg renders a PT_PID argument (ptrace's evt.arg.pid, clone's
// evt.arg.res): the comm of that thread when libsinsp knows it, the
// number otherwise.
func PIDArg(pid int64, comm string, known bool) string {
	if known {
		return comm
	}
	return strconv.FormatInt(pid, 10)
}

// Sockaddr decodes a struct sockaddr as the kernel copies it from user
// memory: the address and port of AF_INET and AF_INET6, the path of
// AF_UNIX (for an abstract address, the name after its leading NUL). ok
// is false for other families and short buffers.
func Sockaddr(b []byte) (family uint16, addr netip.Addr, port uint16, path string, ok bool) {
	if len(b) < 2 {
		return 0, netip.Addr{}, 0, "", false
	}
	family = binary.NativeEndian.Uint16(b)
	switch family {
	case unix.AF_INET:
		if len(b) < 8 {
			return family, netip.Addr{}, 0, "", false
		}
		return family, netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4]), "", true
	case unix.AF_INET6:
		if len(b) < 24 {
			return family, netip.Addr{}, 0, "", false
		}
		return family, netip.AddrFrom16([16]byte(b[8:24])), binary.BigEndian.Uint16(b[2:4]), "", true
	case unix.AF_UNIX:
		p := b[2:]
		if len(p) > 0 && p[0] == 0 {
			p = p[1:] // abstract: the driver skips the leading NUL
		}
		if i := indexNUL(p); i >= 0 {
			p = p[:i]
		}
		return family, netip.Addr{}, 0, string(p), true
	}
	return family, netip.Addr{}, 0, "", false
}

// SockaddrArg renders a PT_SOCKADDR argument (evt.arg.addr of connect and
// bind): "10.0.0.1:80", "::1:80" and "::ffff:10.0.0.1:80" (an IPv6
// address is not unmapped and has no brackets), the path of a unix
// socket, and "<NA>" for other families and unreadable addresses.
func SockaddrArg(b []byte) string {
	_, addr, port, path, ok := Sockaddr(b)
	switch {
	case !ok:
		return "<NA>"
	case addr.IsValid():
		return addr.String() + ":" + strconv.Itoa(int(port))
	}
	return path
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
