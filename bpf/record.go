package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unsafe"
)

// Kind is the kind of a record.
type Kind uint32

// Record kinds, as the capture program writes them (enum record_kind).
const (
	KindSyscall Kind = 1 // a system call, at its exit
	KindFork    Kind = 2 // a new process (sched_process_fork)
	KindExec    Kind = 3 // a successful exec (sched_process_exec)
	KindExit    Kind = 4 // processes that exited (sched_process_exit), in a batch: see Exits
)

// Flags of a record (FLAG_* in the C source).
const (
	FlagBlob0Failed    = 1 << 0 // reading the first string failed: unknown, not empty
	FlagBlob1Failed    = 1 << 1
	FlagBlob2Failed    = 1 << 2
	FlagBlob0Truncated = 1 << 3 // the first string filled the buffer
	FlagBlob1Truncated = 1 << 4
	FlagHasFile        = 1 << 5  // File describes the fd
	FlagHasSock        = 1 << 6  // Sock describes the fd's socket
	FlagPathIncomplete = 1 << 7  // the executable's path walk (blob 2) stopped short of the root
	FlagCwdIncomplete  = 1 << 8  // the directory path walk (blob 3) stopped short of the root
	FlagCompat         = 1 << 9  // a 32-bit (ia32) syscall; on an exec record, a 32-bit image
	FlagDir            = 1 << 10 // blob 3 holds a walked directory (no components: the root)
	// FlagCgroupIncomplete: a cgroup path walk (blob 4 or 5) stopped short.
	FlagCgroupIncomplete = 1 << 11
	FlagCgroups          = 1 << 12 // blobs 4 and 5 hold the task's cgroup paths (v2, first non-root v1)
	FlagSocketcall       = 1 << 13 // an ia32 socketcall: the record is the call it multiplexed
	FlagEnvFailed        = 1 << 14 // an exec record's environment (blob 6) was unreadable
	// FlagForked marks the exec record of a process whose fork record was
	// never sent: Args[1] is its parent, Args[2] its start (boot time).
	FlagForked = 1 << 15
	// FlagDeferred marks a fork record sent late, just before the new
	// process's first record: its fork was not sent when the process did
	// nothing userspace saw.
	FlagDeferred = 1 << 16
	// FlagContainerKnown: the kernel filter knew whether the task is in a
	// container (its cgroups were classified, see Probe.ClassifyCgroups),
	// and FlagInContainer that it is.
	FlagContainerKnown = 1 << 17
	FlagInContainer    = 1 << 18
)

// Exe flags of an exec record (Record.ExeFlags): what the kernel found
// about the file the process executes, as Falco's driver computes them
// (execve's evt.arg.flags).
const (
	ExeWritable   = 1 << 0 // writable by the process's credentials
	ExeUpperLayer = 1 << 1 // in the upper layer of an overlayfs
	ExeFromMemfd  = 1 << 2 // a memfd (memfd_create), executed through its fd
	ExeLowerLayer = 1 << 3 // in a lower layer of an overlayfs
)

// ExePath returns the executable's path of an exec record, from the
// components the kernel walked. ok is false when the walk did not reach
// the root.
func (r *Record) ExePath() (string, bool) {
	if r.Kind != KindExec || r.Flags&FlagPathIncomplete != 0 || len(r.Blobs[2]) == 0 {
		return "", false
	}
	return walkedPath(r.Blobs[2]), true
}

// Dir returns the directory the kernel walked for the record: the working
// directory at exec and after chdir, or the directory a relative path of
// a syscall is relative to, as the syscall's entry found it. ok is false
// when there is none or the walk did not reach the root.
func (r *Record) Dir() (string, bool) {
	if r.Flags&FlagDir == 0 || r.Flags&FlagCwdIncomplete != 0 {
		return "", false
	}
	return walkedPath(r.Blobs[3]), true
}

// Cgroups returns the cgroup paths the kernel walked for an exec record
// (or a fork record whose child is in other cgroups than its parent): the
// task's cgroup in the unified (v2) hierarchy, and its first controller's
// cgroup that is not a hierarchy root (v1), "" when there is none. ok is
// false when the record has none or a walk fell short.
func (r *Record) Cgroups() (v2, v1 string, ok bool) {
	if r.Flags&FlagCgroups == 0 || r.Flags&FlagCgroupIncomplete != 0 {
		return "", "", false
	}
	v2 = walkedPath(r.Blobs[4])
	if len(r.Blobs[5]) > 0 {
		v1 = walkedPath(r.Blobs[5])
	}
	return v2, v1, true
}

// Exit names a process that exited: its pid and its start (ns since boot).
type Exit struct {
	Pid   int32
	Start uint64
}

// The layout of an exit batch's entries (struct exit_entry), from the
// generated type.
const (
	exitSize    = unsafe.Sizeof(captureExitBatch{}.E[0])
	exitPidAt   = unsafe.Offsetof(captureExitBatch{}.E[0].Pid)
	exitStartAt = unsafe.Offsetof(captureExitBatch{}.E[0].Start)
)

// ExitsInto appends the processes an exit record names to dst, and returns
// dst. The capture sends exits in batches (see EXIT_BATCH in the C program).
func (r *Record) ExitsInto(dst []Exit) []Exit {
	for b := r.Blobs[0]; len(b) >= int(exitSize); b = b[exitSize:] {
		dst = append(dst, Exit{Pid: int32(binary.LittleEndian.Uint32(b[exitPidAt:])), Start: binary.LittleEndian.Uint64(b[exitStartAt:])})
	}
	return dst
}

// walkedPath joins path components that the kernel wrote leaf first, each
// NUL-terminated. No components is the root.
func walkedPath(blob []byte) string {
	comps := bytes.Split(bytes.TrimRight(blob, "\x00"), []byte{0})
	var b strings.Builder
	for i := len(comps) - 1; i >= 0; i-- {
		if len(comps[i]) == 0 {
			continue
		}
		b.WriteByte('/')
		b.Write(comps[i])
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// FileInfo describes the file behind a record's fd (the kernel's struct
// file and inode).
type FileInfo struct {
	Ino    uint64
	Dev    uint32
	Mode   uint32 // inode i_mode: type and permission bits
	FMode  uint32 // struct file f_mode (FMODE_*)
	FFlags uint32 // struct file f_flags (O_*)
}

// SockInfo describes the socket behind a record's fd (struct sock_common).
type SockInfo struct {
	Family, Type, Protocol uint16
	LocalAddr, RemoteAddr  netip.Addr
	LocalPort, RemotePort  uint16
}

// Record is one record of the capture program. For syscall records Blobs
// hold the user strings and the socket address the syscall's description
// names, and the directory a relative path is relative to; for exec
// records, the file name, argv (NUL-separated), the executable's path, the
// working directory (both as components, see ExePath and Dir), the
// cgroups (see Cgroups) and the environment (blob 6, NUL-separated). The
// blobs alias the reader's buffer: they are
// valid until the next ReadInto with the same Record.
type Record struct {
	Kind Kind
	// Syscall is the syscall's x86_64 number (a 32-bit syscall's too:
	// see FlagCompat), -1 for lifecycle records; AbiNr is the number as
	// the task's ABI numbers it.
	Syscall, AbiNr int32
	Timestamp      uint64
	Pid            uint32 // thread group id
	Tid            uint32
	Ppid           uint32
	VPid           uint32
	UID, GID       uint32
	EUID           uint32
	LoginUID       uint32
	Ret            int64
	CgroupID       uint64
	// CgroupKey tells the task's sets of cgroups apart (its css_set): a
	// change means the task moved to other cgroups.
	CgroupKey uint64
	// CgroupV1ID is the kernfs id of the task's first controller cgroup
	// that is not a root (0: none); with CgroupID (the v2 cgroup's) it is
	// the pair the kernel filter classifies. CgroupGen is the count of
	// cgroup renames the kernel had seen when it read them.
	CgroupV1ID                                 uint64
	CgroupGen                                  uint32
	PidNS                                      uint32
	MntNS                                      uint32
	CapEffective, CapPermitted, CapInheritable uint64
	Args                                       [6]uint64
	Flags                                      uint32
	File                                       FileInfo
	Sock                                       SockInfo
	Comm                                       [16]byte
	// Comm is the task's name as the kernel filter judged it: the name it
	// took at exec (a later rename does not change it), and PComm its
	// parent's.
	PComm [16]byte
	// Mask is the set of filter classes the record satisfied, in the
	// numbering of plan Plan (the count of plans applied, see ApplyPlan).
	Mask [4]uint64
	Plan uint32
	// ExeFlags are an exec record's EXE_* flags of the executable.
	ExeFlags uint32
	Blobs    [8][]byte

	raw []byte
}

// CommString returns the task's comm as a string.
func (r *Record) CommString() string { return strings.Clone(r.CommView()) }

// PCommString returns the parent's comm as a string.
func (r *Record) PCommString() string { return strings.Clone(r.PCommView()) }

// CommView is CommString without a copy, valid until the record is read
// into again.
func (r *Record) CommView() string { return cstringView(r.Comm[:]) }

// PCommView is PCommString without a copy, valid until the record is read
// into again.
func (r *Record) PCommView() string { return cstringView(r.PComm[:]) }

func cstringView(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Str returns blob i as a string without its terminating NUL, and false
// when the kernel could not read it.
func (r *Record) Str(i int) (string, bool) {
	s, ok := r.StrView(i)
	return strings.Clone(s), ok
}

// StrView is Str without a copy: the string shares the record's memory and
// is valid until the record is read into again.
func (r *Record) StrView(i int) (string, bool) {
	if r.Flags&(FlagBlob0Failed<<i) != 0 {
		return "", false
	}
	b := r.Blobs[i]
	if n := len(b); n > 0 && b[n-1] == 0 {
		b = b[:n-1]
	}
	if len(b) == 0 {
		return "", true
	}
	return unsafe.String(&b[0], len(b)), true
}

// ErrShortRecord is returned for a record smaller than its header says.
var ErrShortRecord = errors.New("bpf: short record")

// decode fills r from raw bytes written by the capture program.
func (r *Record) decode(raw []byte) error {
	var h captureRecord
	if len(raw) < int(unsafe.Sizeof(h)) {
		return fmt.Errorf("%w: %d bytes", ErrShortRecord, len(raw))
	}
	h = *(*captureRecord)(unsafe.Pointer(&raw[0]))
	if int(h.Size) > len(raw) {
		return fmt.Errorf("%w: size %d, have %d", ErrShortRecord, h.Size, len(raw))
	}
	*r = Record{
		Kind: Kind(h.Kind), Syscall: h.Nr, AbiNr: h.AbiNr, Timestamp: h.Ts, Pid: h.Pid, Tid: h.Tid, Ppid: h.Ppid,
		VPid: h.Vpid, UID: h.Uid, GID: h.Gid, EUID: h.Euid, LoginUID: h.Loginuid, Ret: h.Ret,
		CgroupID: h.CgroupId, CgroupKey: h.CgroupKey, CgroupV1ID: h.CgroupV1Id, CgroupGen: h.CgroupGen, PidNS: h.Pidns, MntNS: h.Mntns, CapEffective: h.CapEffective,
		CapPermitted: h.CapPermitted, CapInheritable: h.CapInheritable, Args: h.Args, Flags: h.Flags,
		raw: r.raw,
	}
	r.Comm = *(*[16]byte)(unsafe.Pointer(&h.Comm))
	r.PComm = *(*[16]byte)(unsafe.Pointer(&h.Pcomm))
	r.Mask = h.Mask
	r.Plan = h.Plan
	r.ExeFlags = h.ExeFlags
	if h.Flags&FlagHasFile != 0 {
		r.File = FileInfo{Ino: h.Ino, Dev: h.Dev, Mode: h.I_mode, FMode: h.F_mode, FFlags: h.F_flags}
	}
	if h.Flags&FlagHasSock != 0 {
		r.Sock = SockInfo{Family: h.SkFamily, Type: h.SkType, Protocol: h.SkProtocol, LocalPort: h.Sport, RemotePort: h.Dport}
		switch h.SkFamily {
		case afInet:
			r.Sock.LocalAddr = netip.AddrFrom4([4]byte(h.Saddr[:4]))
			r.Sock.RemoteAddr = netip.AddrFrom4([4]byte(h.Daddr[:4]))
		case afInet6:
			r.Sock.LocalAddr = netip.AddrFrom16(h.Saddr).Unmap()
			r.Sock.RemoteAddr = netip.AddrFrom16(h.Daddr).Unmap()
		}
	}
	off := int(unsafe.Sizeof(h))
	for i, n := range h.Len {
		if off+int(n) > int(h.Size) {
			return fmt.Errorf("%w: blob %d overruns the record", ErrShortRecord, i)
		}
		r.Blobs[i] = raw[off : off+int(n)]
		off += int(n)
	}
	return nil
}

const (
	afInet  = 2
	afInet6 = 10
)
