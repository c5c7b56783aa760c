// Package proctable is Peregrine's userspace process table: the process
// state that Falco's proc.*, user.*, thread.* and container.* fields need.
//
// A Table is bootstrapped from /proc (Bootstrap) and then kept current by the
// capture's process events: Fork for clone/fork/vfork, Exec for execve and
// Exit for the end of a thread group. Refresh re-reads one process from /proc
// when the event does not carry everything (for example credentials and
// capabilities after executing a set-uid binary).
//
// Credentials: UID and GID are the effective ids (second field of the
// "Uid:"/"Gid:" lines of /proc/PID/status). That is what Falco's user.uid and
// group.gid report: libscap's /proc scan reads the effective uid from that
// line, and the kernel drivers fill the uid/gid parameters of clone and
// execve exit events from the task's effective credentials (euid/egid).
// The real ids are kept in RealUID and RealGID.
package proctable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/peregrine-sec/peregrine/policy"
	"golang.org/x/sys/unix"
)

// Process is the state of one process (thread group) as Falco's fields see it.
//
// A *Process handed out by a Table is a snapshot: the table never modifies it
// after publishing it (events replace the entry with an updated copy), and
// callers must not modify it either.
type Process struct {
	Pid  int32 // thread group id (the process id)
	Tid  int32 // thread id of the task the entry was built from; Pid for a leader
	Ppid int32 // parent's pid, field 4 of /proc/PID/stat

	Comm    string   // task comm (at most 15 bytes), Falco's proc.name
	Exe     string   // argv[0], Falco's proc.exe
	ExePath string   // Falco's proc.exepath, see SetExePath
	Args    []string // argv[1:]; Falco's proc.args joins them with spaces
	// Env is the environment the process execed with (VAR=value each),
	// as much of it as Falco keeps (4 KiB); children inherit it.
	Env []string
	Cwd string // Falco's proc.cwd: the working directory, ending with "/" (see FalcoCwd)

	Tty   uint32 // tty_nr from /proc/PID/stat, 0 when there is no controlling terminal
	Sid   int32  // session id, field 6 of /proc/PID/stat
	Pgid  int32  // process group id, field 5 of /proc/PID/stat
	VPid  int32  // pid as seen in the process's own pid namespace (last NSpid value)
	VPgid int32  // pgid as seen in the process's own pid namespace (last NSpgid value)

	UID     uint32 // effective uid, Falco's user.uid (see the package doc)
	GID     uint32 // effective gid, Falco's group.gid
	RealUID uint32 // real uid, first field of "Uid:"
	RealGID uint32 // real gid, first field of "Gid:"

	LoginUID int64 // /proc/PID/loginuid, -1 when unset (4294967295 in the file)

	CapEffective   uint64 // CapEff from /proc/PID/status
	CapPermitted   uint64 // CapPrm from /proc/PID/status
	CapInheritable uint64 // CapInh from /proc/PID/status

	StartTime uint64 // start time in ns since boot (CLOCK_BOOTTIME)

	CgroupPath       string // cgroup path, see parseCgroup for the choice of line
	ContainerID      string // 12-hex-char container id, or "host"
	ContainerRuntime string // docker, containerd, cri-o, podman, or "host"
	// CgroupKey identifies the set of cgroups the fields above were read
	// for, as the capture's records name it (0: not known): a record with
	// another key comes from a process that moved.
	CgroupKey uint64

	ExeFromMemfd bool // the executable is a memfd (fileless execution), Falco's proc.is_exe_from_memfd

	// What the kernel found about the executable at the last exec
	// (execve's exe flags), Falco's proc.is_exe_writable,
	// proc.is_exe_upper_layer and proc.is_exe_lower_layer; meaningful
	// only when ExeFlagsKnown (set by SetExeFlags). Children inherit them.
	ExeWritable, ExeUpperLayer, ExeLowerLayer bool
	ExeFlagsKnown                             bool

	PidNS uint64 // inode number of /proc/PID/ns/pid, 0 when unreadable
	MntNS uint64 // inode number of /proc/PID/ns/mnt, 0 when unreadable
}

// Duration returns how long the process has been running at nowBoottimeNs
// (ns since boot, as from BoottimeNow), Falco's proc.duration. It returns 0
// when the start time is unknown or later than nowBoottimeNs.
func (p *Process) Duration(nowBoottimeNs uint64) time.Duration {
	if p.StartTime == 0 || nowBoottimeNs < p.StartTime {
		return 0
	}
	return time.Duration(nowBoottimeNs - p.StartTime)
}

// clone returns a shallow copy of p. Args is shared: published processes are
// never modified, so sharing the slice is safe.
func (p *Process) clone() *Process {
	c := *p
	return &c
}

// BoottimeNow returns the current CLOCK_BOOTTIME in ns, the clock StartTime
// is measured on. It returns the clock_gettime error, if any.
func BoottimeNow() (uint64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, fmt.Errorf("proctable: clock_gettime(CLOCK_BOOTTIME): %w", err)
	}
	return uint64(ts.Sec)*1e9 + uint64(ts.Nsec), nil
}

// Table is the process table, keyed by pid (thread group id). It is safe for
// concurrent use.
type Table struct {
	procRoot string
	now      func() uint64 // boot-time clock for Fork's StartTime; replaced in tests

	mu    sync.RWMutex
	procs map[int32]*Process
}

// New returns an empty table that reads processes from procRoot, normally
// "/proc". It does not touch the file system; call Bootstrap to fill it.
func New(procRoot string) *Table {
	return &Table{
		procRoot: procRoot,
		now: func() uint64 {
			ns, _ := BoottimeNow()
			return ns
		},
		procs: make(map[int32]*Process),
	}
}

// Bootstrap replaces the table's contents with every process listed in the
// proc root. Processes that vanish while being read are skipped silently.
// It returns an error when the proc root cannot be listed (the table is then
// left unchanged), or the joined errors of processes whose files were present
// but malformed (wrapping ErrMalformed); those processes are skipped and all
// others are still loaded.
func (t *Table) Bootstrap() error {
	entries, err := os.ReadDir(t.procRoot)
	if err != nil {
		return fmt.Errorf("proctable: bootstrap: %w", err)
	}
	procs := make(map[int32]*Process, len(entries))
	r := newReader(t.procRoot)
	var errs []error
	for _, e := range entries {
		pid, ok := parsePidName(e.Name())
		if !ok {
			continue
		}
		p, err := r.read(pid)
		if err != nil {
			if !vanished(err) {
				errs = append(errs, err)
			}
			continue
		}
		procs[p.Pid] = p
	}
	t.mu.Lock()
	t.procs = procs
	t.mu.Unlock()
	return errors.Join(errs...)
}

// Get returns the process with the given pid and whether it is in the table.
// The returned *Process is a snapshot that must not be modified.
func (t *Table) Get(pid int32) (*Process, bool) {
	t.mu.RLock()
	p, ok := t.procs[pid]
	t.mu.RUnlock()
	return p, ok
}

// Len returns the number of processes in the table.
func (t *Table) Len() int {
	t.mu.RLock()
	n := len(t.procs)
	t.mu.RUnlock()
	return n
}

// Refresh re-reads pid from the proc root and stores the result, replacing
// any previous entry. pid may also be the id of a non-leader thread: the entry
// is then stored under its thread group id, with Tid = pid.
// On error the table is left unchanged. Errors wrap fs.ErrNotExist or
// syscall.ESRCH when the process is gone, ErrMalformed when its files cannot
// be parsed, or the underlying read error otherwise.
func (t *Table) Refresh(pid int32) (*Process, error) {
	p, err := newReader(t.procRoot).read(pid)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.procs[p.Pid] = p
	t.mu.Unlock()
	return p, nil
}

// Fork records that parentPid created childPid (thread id childTid) and
// returns the child's entry. It never returns an error.
//
// When childPid equals parentPid the clone created a thread in an existing
// process: nothing changes and the parent's entry is returned (or a minimal
// entry when the parent is unknown).
//
// Otherwise the child is a copy of the parent with Pid = childPid,
// Tid = childTid, Ppid = parentPid and StartTime = now (CLOCK_BOOTTIME).
// VPid is childPid when the parent lives in the initial pid namespace
// (parent VPid == parent Pid), and 0 (unknown, until Refresh) otherwise;
// VPgid is inherited with the process group. When the parent is not in the
// table the child is read from the proc root; if that fails too, a minimal
// entry carrying only the ids is stored.
func (t *Table) Fork(parentPid, childPid int32, childTid int32) *Process {
	return t.ForkAt(parentPid, childPid, childTid, 0)
}

// ForkAt is Fork for a child that started at start (CLOCK_BOOTTIME ns; 0:
// now): a fork learnt after the fact.
func (t *Table) ForkAt(parentPid, childPid int32, childTid int32, start uint64) *Process {
	if start == 0 {
		start = t.now()
	}
	t.mu.RLock()
	parent, ok := t.procs[parentPid]
	t.mu.RUnlock()

	var child *Process
	switch {
	case ok && childPid == parentPid:
		return parent
	case ok:
		child = parent.clone()
		child.Pid, child.Tid, child.Ppid = childPid, childTid, parentPid
		child.StartTime = start
		if parent.VPid == parent.Pid {
			child.VPid = childPid
		} else {
			child.VPid = 0
		}
	default:
		if p, err := newReader(t.procRoot).read(childTid); err == nil && p.Pid == childPid {
			child = p
		} else {
			child = minimal(childPid, childTid, parentPid)
			child.StartTime = start
		}
	}
	t.mu.Lock()
	t.procs[child.Pid] = child
	t.mu.Unlock()
	return child
}

// Exec records a successful execve by pid and returns the updated entry. exe
// is argv[0], args argv[1:], exePath the executable's path as the kernel
// walked it at exec and comm the new task comm. The thread that calls execve
// becomes the thread group leader, so Tid is set to pid. ExeFromMemfd is
// recomputed from exePath, and a memfd's path takes the form Falco's driver
// gives it at exec, "memfd:NAME" (see ExecPath); the exe flags are unknown
// until SetExeFlags. It never returns an error: when pid is not in the table
// it is first read from the proc root, or a minimal entry is created if that
// fails.
func (t *Table) Exec(pid int32, exe string, args []string, exePath string, comm string) *Process {
	t.mu.RLock()
	old, ok := t.procs[pid]
	t.mu.RUnlock()

	var p *Process
	if ok {
		p = old.clone()
	} else if fresh, err := newReader(t.procRoot).read(pid); err == nil && fresh.Pid == pid {
		p = fresh
	} else {
		p = minimal(pid, pid, 0)
	}
	p.Tid = pid
	p.Exe = exe
	p.Args = append([]string(nil), args...)
	p.ExeFromMemfd = isMemfd(exePath)
	p.ExePath = ExecPath(exePath, p.ExeFromMemfd)
	p.Comm = comm
	p.ExeWritable, p.ExeUpperLayer, p.ExeLowerLayer, p.ExeFlagsKnown = false, false, false, false

	t.mu.Lock()
	t.procs[pid] = p
	t.mu.Unlock()
	return p
}

// Exit removes pid from the table; call it when the whole thread group has
// exited. Children keep their Ppid (the table does not emulate reparenting to
// a subreaper), so Ancestors stops at them. Removing an unknown pid is a no-op.
func (t *Table) Exit(pid int32) {
	t.mu.Lock()
	delete(t.procs, pid)
	t.mu.Unlock()
}

// ExitAt is Exit for the process pid that started at start (ns since boot,
// CLOCK_BOOTTIME): an exit that comes late leaves a later process with the
// same pid in place. Entries read from /proc know their start to the clock
// tick, so a start in the same tick matches. It returns whether it removed
// an entry.
func (t *Table) ExitAt(pid int32, start uint64) bool {
	const tick = 1e9 / clockTicks
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.procs[pid]
	if !ok || (p.StartTime != start && p.StartTime/tick != start/tick) {
		return false
	}
	delete(t.procs, pid)
	return true
}

// Ancestors returns the chain starting at pid: [0] is the process itself,
// [1] its parent, and so on. It holds at most max entries (no limit when max
// <= 0) and stops after a process whose Ppid is 0 (pid 1 and kernel threads),
// before a parent missing from the table, or on a cycle. It returns nil when
// pid itself is not in the table.
func (t *Table) Ancestors(pid int32, max int) []*Process {
	return t.AncestorsInto(pid, max, nil)
}

// AncestorsInto is Ancestors appending to dst, for callers that reuse a
// buffer. Entries are snapshots: a process that changes gets a new entry,
// so a chain equal pointer for pointer to an earlier one is unchanged.
func (t *Table) AncestorsInto(pid int32, max int, dst []*Process) []*Process {
	t.mu.RLock()
	defer t.mu.RUnlock()
	start := len(dst)
	var seen map[int32]bool // only for long chains; short ones are scanned
	for cur := pid; max <= 0 || len(dst)-start < max; {
		p, ok := t.procs[cur]
		if !ok || visited(dst[start:], seen, cur) {
			break
		}
		if len(dst)-start >= 32 {
			if seen == nil {
				seen = map[int32]bool{}
				for _, q := range dst[start:] {
					seen[q.Pid] = true
				}
			}
			seen[cur] = true
		}
		dst = append(dst, p)
		if p.Ppid <= 0 || p.Ppid == p.Pid {
			break
		}
		cur = p.Ppid
	}
	return dst
}

func visited(chain []*Process, seen map[int32]bool, pid int32) bool {
	if seen != nil {
		return seen[pid]
	}
	for _, p := range chain {
		if p.Pid == pid {
			return true
		}
	}
	return false
}

// minimal is the entry stored when nothing but the ids is known.
func minimal(pid, tid, ppid int32) *Process {
	return &Process{
		Pid: pid, Tid: tid, Ppid: ppid, VPid: 0,
		LoginUID: -1, ContainerID: policy.Host, ContainerRuntime: policy.Host,
	}
}

// parsePidName reports whether a /proc directory entry name is a pid.
func parsePidName(name string) (int32, bool) {
	if name == "" || name[0] < '1' || name[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// vanished reports whether err means the process went away while being read:
// its /proc directory is gone (ENOENT) or the task is dead (ESRCH).
func vanished(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// SetExeFlags records what the kernel found about pid's executable at its
// exec (the exe flags of the execve exit): writable, in an overlayfs upper or
// lower layer, a memfd. A memfd's ExePath takes the form "memfd:NAME". An
// unknown pid is ignored.
func (t *Table) SetExeFlags(pid int32, writable, upper, lower, memfd bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.procs[pid]
	if !ok {
		return
	}
	p := old.clone()
	p.ExeWritable, p.ExeUpperLayer, p.ExeLowerLayer, p.ExeFlagsKnown = writable, upper, lower, true
	p.ExeFromMemfd = memfd
	p.ExePath = ExecPath(p.ExePath, memfd)
	t.procs[pid] = p
}

// ExecPath is proc.exepath after an exec as Falco's driver records it: the
// path its walk of the executable's dentries gives, which for a memfd (a
// dentry of no directory) is the bare dentry name, "memfd:NAME" without a
// leading "/"; a " (deleted)" suffix is removed, as libsinsp does.
func ExecPath(walked string, memfd bool) string {
	p := strings.TrimSuffix(walked, deletedSuffix)
	if memfd {
		p = strings.TrimPrefix(p, "/")
	}
	return p
}

// deletedSuffix is what the kernel's d_path appends to the path of an
// unlinked file; libsinsp removes it from proc.exepath.
const deletedSuffix = " (deleted)"

// FalcoCwd returns a working directory as Falco's proc.cwd has it: ending
// with "/" ("/tmp/", "/"). Empty stays empty (unknown).
func FalcoCwd(dir string) string {
	if dir == "" || strings.HasSuffix(dir, "/") {
		return dir
	}
	return dir + "/"
}

// SetCwd records the working directory of pid, as learnt from an exec or
// chdir record, in Falco's form (FalcoCwd); "" when it is not known. An
// unknown pid is ignored.
func (t *Table) SetCwd(pid int32, cwd string) {
	cwd = FalcoCwd(cwd)
	t.update(pid, func(p *Process) bool {
		if p.Cwd == cwd {
			return false
		}
		p.Cwd = cwd
		return true
	})
}

// Cgroup is what the table keeps of a process's cgroups.
type Cgroup struct {
	Path        string // see Process.CgroupPath
	ContainerID string
	Runtime     string
}

// SetCgroup records the cgroups of pid, as the capture read them for the
// set of cgroups key. An unknown pid is ignored.
func (t *Table) SetCgroup(pid int32, key uint64, cg Cgroup) {
	t.update(pid, func(p *Process) bool {
		if p.CgroupKey == key && p.CgroupPath == cg.Path && p.ContainerID == cg.ContainerID {
			return false
		}
		p.CgroupKey, p.CgroupPath, p.ContainerID, p.ContainerRuntime = key, cg.Path, cg.ContainerID, cg.Runtime
		return true
	})
}

// SetEnv records the environment pid execed with.
func (t *Table) SetEnv(pid int32, env []string) {
	t.update(pid, func(p *Process) bool {
		p.Env = env
		return true
	})
}

// SetCgroupKey records that pid's cgroups, as the table has them, are
// those of the set the capture calls key.
func (t *Table) SetCgroupKey(pid int32, key uint64) {
	t.update(pid, func(p *Process) bool {
		if p.CgroupKey == key {
			return false
		}
		p.CgroupKey = key
		return true
	})
}

// update replaces pid's entry by a copy that change modified, when it
// says it did. An unknown pid is ignored.
func (t *Table) update(pid int32, change func(*Process) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.procs[pid]; ok {
		p := old.clone()
		if change(p) {
			t.procs[pid] = p
		}
	}
}

// ReadCgroup reads pid's cgroups from /proc/PID/cgroup under procRoot. It
// returns the read error (the process may be gone).
func ReadCgroup(procRoot string, pid int32) (Cgroup, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(int(pid)), "cgroup"))
	if err != nil {
		return Cgroup{}, err
	}
	var cg Cgroup
	cg.Path, cg.ContainerID, cg.Runtime = parseCgroup(data)
	return cg, nil
}

// Containers returns the containers the table's processes run in, the
// host left out: by id (12 characters), one of its processes.
func (t *Table) Containers() map[string]*Process {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := map[string]*Process{}
	for _, p := range t.procs {
		if p.ContainerID != policy.Host && p.ContainerID != "" {
			out[p.ContainerID] = p
		}
	}
	return out
}

// RefreshSession re-reads pid's controlling terminal, session and process
// group from /proc/PID/stat: what a process that made itself a session
// leader before its exec (a container's first process, given the
// container's terminal) changed without the table seeing it. It returns
// the read error (the process may be gone), leaving the entry as it was.
func (t *Table) RefreshSession(pid int32) error {
	data, err := os.ReadFile(filepath.Join(t.procRoot, strconv.Itoa(int(pid)), "stat"))
	if err != nil {
		return err
	}
	sf, err := parseStat(string(data))
	if err != nil {
		return err
	}
	t.update(pid, func(p *Process) bool {
		if p.Tty == sf.TtyNr && p.Sid == sf.Session && p.Pgid == sf.Pgrp {
			return false
		}
		p.Tty, p.Sid, p.Pgid = sf.TtyNr, sf.Session, sf.Pgrp
		return true
	})
	return nil
}
