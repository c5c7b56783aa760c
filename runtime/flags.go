package runtime

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// flagName pairs a bit mask with its name.
type flagName struct {
	mask uint64
	name string
}

// openFlagNames are open(2) flags in the order Falco writes them in
// evt.arg.flags (its flag table's order, not bit order). The access mode
// is handled apart, as it is not a bit set.
var openFlagNames = []flagName{
	{0o100000, "O_LARGEFILE"}, // O_LARGEFILE as the kernel sees it; unix.O_LARGEFILE is 0 on amd64
	{unix.O_DIRECTORY, "O_DIRECTORY"},
	{unix.O_DIRECT, "O_DIRECT"},
	{unix.O_TRUNC, "O_TRUNC"},
	{unix.O_SYNC &^ unix.O_DSYNC, "O_SYNC"},
	{unix.O_NONBLOCK, "O_NONBLOCK"},
	{unix.O_EXCL, "O_EXCL"},
	{unix.O_DSYNC, "O_DSYNC"},
	{unix.O_APPEND, "O_APPEND"},
	{unix.O_CREAT, "O_CREAT"},
}

// OpenFlags renders Linux open flags as Falco does: "O_TRUNC|O_CREAT|O_WRONLY".
// created adds O_F_CREATED, which Falco sets when the open created the
// file.
func OpenFlags(flags uint64, created bool) string {
	var parts []string
	for _, f := range openFlagNames {
		if flags&f.mask == f.mask && f.mask != 0 {
			parts = append(parts, f.name)
		}
	}
	switch flags & unix.O_ACCMODE {
	case unix.O_RDWR:
		parts = append(parts, "O_RDWR")
	case unix.O_WRONLY:
		parts = append(parts, "O_WRONLY")
	case unix.O_RDONLY:
		if flags&(unix.O_PATH) == 0 {
			parts = append(parts, "O_RDONLY")
		}
	}
	if flags&unix.O_CLOEXEC != 0 {
		parts = append(parts, "O_CLOEXEC")
	}
	if flags&(unix.O_TMPFILE&^unix.O_DIRECTORY) != 0 {
		parts = append(parts, "O_TMPFILE")
	}
	if created {
		parts = append(parts, "O_F_CREATED")
	}
	if len(parts) == 0 {
		return "O_NONE"
	}
	return strings.Join(parts, "|")
}

var cloneFlagNames = []flagName{
	{unix.CLONE_FILES, "CLONE_FILES"}, {unix.CLONE_FS, "CLONE_FS"}, {unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"}, {unix.CLONE_NEWNET, "CLONE_NEWNET"}, {unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"}, {unix.CLONE_NEWUTS, "CLONE_NEWUTS"}, {unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_NEWTIME, "CLONE_NEWTIME"}, {unix.CLONE_SYSVSEM, "CLONE_SYSVSEM"}, {unix.CLONE_VM, "CLONE_VM"},
	{unix.CLONE_SIGHAND, "CLONE_SIGHAND"}, {unix.CLONE_THREAD, "CLONE_THREAD"},
}

// CloneFlags renders clone/unshare/setns namespace flags, names joined by |.
func CloneFlags(flags uint64) string { return joinFlags(flags, cloneFlagNames) }

var memfdFlagNames = []flagName{
	{unix.MFD_CLOEXEC, "MFD_CLOEXEC"}, {unix.MFD_ALLOW_SEALING, "MFD_ALLOW_SEALING"},
	{unix.MFD_HUGETLB, "MFD_HUGETLB"}, {0x8, "MFD_NOEXEC_SEAL"}, {0x10, "MFD_EXEC"},
}

// MemfdFlags renders memfd_create flags.
func MemfdFlags(flags uint64) string { return joinFlags(flags, memfdFlagNames) }

func joinFlags(flags uint64, names []flagName) string {
	var parts []string
	for _, f := range names {
		if flags&f.mask != 0 {
			parts = append(parts, f.name)
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

var ptraceRequests = map[uint64]string{
	unix.PTRACE_TRACEME: "PTRACE_TRACEME", unix.PTRACE_PEEKTEXT: "PTRACE_PEEKTEXT",
	unix.PTRACE_PEEKDATA: "PTRACE_PEEKDATA", unix.PTRACE_PEEKUSR: "PTRACE_PEEKUSR",
	unix.PTRACE_POKETEXT: "PTRACE_POKETEXT", unix.PTRACE_POKEDATA: "PTRACE_POKEDATA",
	unix.PTRACE_POKEUSR: "PTRACE_POKEUSR", unix.PTRACE_CONT: "PTRACE_CONT", unix.PTRACE_KILL: "PTRACE_KILL",
	unix.PTRACE_SINGLESTEP: "PTRACE_SINGLESTEP", unix.PTRACE_GETREGS: "PTRACE_GETREGS",
	unix.PTRACE_SETREGS: "PTRACE_SETREGS", unix.PTRACE_ATTACH: "PTRACE_ATTACH", unix.PTRACE_DETACH: "PTRACE_DETACH",
	unix.PTRACE_SYSCALL: "PTRACE_SYSCALL", unix.PTRACE_SETOPTIONS: "PTRACE_SETOPTIONS",
	unix.PTRACE_GETEVENTMSG: "PTRACE_GETEVENTMSG", unix.PTRACE_GETSIGINFO: "PTRACE_GETSIGINFO",
	unix.PTRACE_SETSIGINFO: "PTRACE_SETSIGINFO", unix.PTRACE_GETREGSET: "PTRACE_GETREGSET",
	unix.PTRACE_SETREGSET: "PTRACE_SETREGSET", unix.PTRACE_SEIZE: "PTRACE_SEIZE",
	unix.PTRACE_INTERRUPT: "PTRACE_INTERRUPT", unix.PTRACE_LISTEN: "PTRACE_LISTEN",
	unix.PTRACE_PEEKSIGINFO: "PTRACE_PEEKSIGINFO",
}

// PtraceRequest names a ptrace request as Falco does (PTRACE_ATTACH).
func PtraceRequest(req uint64) string {
	if n, ok := ptraceRequests[req]; ok {
		return n
	}
	return strconv.FormatUint(req, 10)
}

var socketFamilies = map[uint64]string{
	unix.AF_UNSPEC: "AF_UNSPEC", unix.AF_UNIX: "AF_UNIX", unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6",
	unix.AF_NETLINK: "AF_NETLINK", unix.AF_PACKET: "AF_PACKET", unix.AF_VSOCK: "AF_VSOCK", unix.AF_BLUETOOTH: "AF_BLUETOOTH",
}

// SocketFamily names an address family (AF_INET).
func SocketFamily(f uint64) string {
	if n, ok := socketFamilies[f]; ok {
		return n
	}
	return strconv.FormatUint(f, 10)
}

// SocketType names a socket type, with SOCK_NONBLOCK and SOCK_CLOEXEC.
func SocketType(t uint64) string {
	names := map[uint64]string{unix.SOCK_STREAM: "SOCK_STREAM", unix.SOCK_DGRAM: "SOCK_DGRAM", unix.SOCK_RAW: "SOCK_RAW",
		unix.SOCK_SEQPACKET: "SOCK_SEQPACKET", unix.SOCK_RDM: "SOCK_RDM", unix.SOCK_PACKET: "SOCK_PACKET"}
	s, ok := names[t&0xf]
	if !ok {
		s = strconv.FormatUint(t&0xf, 10)
	}
	if t&unix.SOCK_NONBLOCK != 0 {
		s += "|SOCK_NONBLOCK"
	}
	if t&unix.SOCK_CLOEXEC != 0 {
		s += "|SOCK_CLOEXEC"
	}
	return s
}

var bpfCommands = []string{"BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
	"BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH", "BPF_PROG_DETACH",
	"BPF_PROG_TEST_RUN", "BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID", "BPF_PROG_GET_FD_BY_ID", "BPF_MAP_GET_FD_BY_ID",
	"BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY", "BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID",
	"BPF_TASK_FD_QUERY", "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE", "BPF_BTF_GET_NEXT_ID",
	"BPF_MAP_LOOKUP_BATCH", "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH", "BPF_MAP_DELETE_BATCH",
	"BPF_LINK_CREATE", "BPF_LINK_UPDATE", "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID", "BPF_ENABLE_STATS",
	"BPF_ITER_CREATE", "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP", "BPF_TOKEN_CREATE"}

// BPFCommand names a bpf(2) command (BPF_PROG_LOAD).
func BPFCommand(cmd uint64) string {
	if cmd < uint64(len(bpfCommands)) {
		return bpfCommands[cmd]
	}
	return strconv.FormatUint(cmd, 10)
}

// Sockaddr decodes a struct sockaddr as the kernel copies it from user
// memory: the address and port of AF_INET and AF_INET6, the path of
// AF_UNIX. ok is false for other families and short buffers.
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
		return family, netip.AddrFrom16([16]byte(b[8:24])).Unmap(), binary.BigEndian.Uint16(b[2:4]), "", true
	case unix.AF_UNIX:
		p := b[2:]
		if i := indexNUL(p); i >= 0 {
			p = p[:i]
		}
		return family, netip.Addr{}, 0, string(p), true
	}
	return family, netip.Addr{}, 0, "", false
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// Mode renders a file mode as Falco does: octal with a leading 0.
func Mode(m uint64) string { return fmt.Sprintf("0%o", m) }
