package bpf

import (
	"bytes"
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
	KindExit    Kind = 4 // a process exited (sched_process_exit)
)

// Flags of a record (FLAG_* in the C source).
const (
	FlagBlob0Failed    = 1 << 0 // reading the first string failed: unknown, not empty
	FlagBlob1Failed    = 1 << 1
	FlagBlob2Failed    = 1 << 2
	FlagBlob0Truncated = 1 << 3 // the first string filled the buffer
	FlagBlob1Truncated = 1 << 4
	FlagHasFile        = 1 << 5 // File describes the fd
	FlagHasSock        = 1 << 6 // Sock describes the fd's socket
	FlagPathIncomplete = 1 << 7 // the executable's path walk (blob 2) stopped short of the root
	FlagCwdIncomplete  = 1 << 8 // the directory path walk (blob 3) stopped short of the root
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
// a syscall is relative to. ok is false when there is none or the walk did
// not reach the root.
func (r *Record) Dir() (string, bool) {
	if r.Flags&FlagCwdIncomplete != 0 || len(r.Blobs[3]) == 0 {
		return "", false
	}
	return walkedPath(r.Blobs[3]), true
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
// records, the file name, argv (NUL-separated), the executable's path and
// the working directory (both as components, see ExePath and Dir). The blobs alias the reader's buffer: they are
// valid until the next ReadInto with the same Record.
type Record struct {
	Kind                                       Kind
	Syscall                                    int32 // syscall number; -1 for lifecycle records
	Timestamp                                  uint64
	Pid                                        uint32 // thread group id
	Tid                                        uint32
	Ppid                                       uint32
	VPid                                       uint32
	UID, GID                                   uint32
	EUID                                       uint32
	LoginUID                                   uint32
	Ret                                        int64
	CgroupID                                   uint64
	PidNS                                      uint32
	MntNS                                      uint32
	CapEffective, CapPermitted, CapInheritable uint64
	Args                                       [6]uint64
	Flags                                      uint32
	File                                       FileInfo
	Sock                                       SockInfo
	Comm                                       [16]byte
	// PComm is the parent's comm, as the kernel filter judged it.
	PComm [16]byte
	// Mask is the set of filter classes the record satisfied, in the
	// numbering of the plan of generation Gen.
	Mask  [4]uint64
	Gen   uint16
	Blobs [4][]byte

	raw []byte
}

// CommString returns the task's comm as a string.
func (r *Record) CommString() string { return cstring(r.Comm[:]) }

// PCommString returns the parent's comm as a string.
func (r *Record) PCommString() string { return cstring(r.PComm[:]) }

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// Str returns blob i as a string without its terminating NUL, and false
// when the kernel could not read it.
func (r *Record) Str(i int) (string, bool) {
	if r.Flags&(FlagBlob0Failed<<i) != 0 {
		return "", false
	}
	b := r.Blobs[i]
	if n := len(b); n > 0 && b[n-1] == 0 {
		b = b[:n-1]
	}
	return string(b), true
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
		Kind: Kind(h.Kind), Syscall: h.Nr, Timestamp: h.Ts, Pid: h.Pid, Tid: h.Tid, Ppid: h.Ppid,
		VPid: h.Vpid, UID: h.Uid, GID: h.Gid, EUID: h.Euid, LoginUID: h.Loginuid, Ret: h.Ret,
		CgroupID: h.CgroupId, PidNS: h.Pidns, MntNS: h.Mntns, CapEffective: h.CapEffective,
		CapPermitted: h.CapPermitted, CapInheritable: h.CapInheritable, Args: h.Args, Flags: h.Flags,
		raw: r.raw,
	}
	r.Comm = *(*[16]byte)(unsafe.Pointer(&h.Comm))
	r.PComm = *(*[16]byte)(unsafe.Pointer(&h.Pcomm))
	r.Mask = h.Mask
	r.Gen = h.Gen
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
