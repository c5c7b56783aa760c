package proctable

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
)

// ErrMalformed is wrapped by errors about /proc files whose contents do not
// have the format man 5 proc documents.
var ErrMalformed = errors.New("proctable: malformed proc file")

// clockTicks is USER_HZ, the unit of starttime in /proc/PID/stat
// (sysconf(_SC_CLK_TCK)). The kernel exports it as 100 on every architecture
// Peregrine runs on, and reading it otherwise needs the C library.
const clockTicks = 100

// stat is what the table takes from /proc/PID/stat.
type stat struct {
	Pid       int32
	Comm      string
	State     byte
	Ppid      int32
	Pgrp      int32
	Session   int32
	TtyNr     uint32
	StartTime uint64 // clock ticks since boot
}

// parseStat parses one /proc/PID/stat line. Per man 5 proc the fields are
// "pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt
// majflt cmajflt utime stime cutime cstime priority nice num_threads
// itrealvalue starttime ...". comm is the raw task name: it may contain
// spaces and parentheses, so it runs from the first '(' to the last ')'.
// It returns an error wrapping ErrMalformed when the line does not fit.
func parseStat(line string) (stat, error) {
	var s stat
	open := strings.IndexByte(line, '(')
	closing := strings.LastIndexByte(line, ')')
	if open < 1 || closing < open {
		return s, fmt.Errorf("%w: stat: no (comm) in %.64q", ErrMalformed, line)
	}
	pid, err := strconv.ParseInt(strings.TrimSpace(line[:open]), 10, 32)
	if err != nil {
		return s, fmt.Errorf("%w: stat: pid: %v", ErrMalformed, err)
	}
	s.Pid = int32(pid)
	s.Comm = line[open+1 : closing]

	// rest[0] is field 3 (state); field n is rest[n-3].
	rest := strings.Fields(line[closing+1:])
	if len(rest) < 20 {
		return s, fmt.Errorf("%w: stat: %d fields after comm, want >= 20", ErrMalformed, len(rest))
	}
	if len(rest[0]) != 1 {
		return s, fmt.Errorf("%w: stat: state %q", ErrMalformed, rest[0])
	}
	s.State = rest[0][0]
	ids := [3]int32{}
	for i := range ids { // ppid (4), pgrp (5), session (6)
		v, err := strconv.ParseInt(rest[1+i], 10, 32)
		if err != nil {
			return s, fmt.Errorf("%w: stat: field %d: %v", ErrMalformed, 4+i, err)
		}
		ids[i] = int32(v)
	}
	s.Ppid, s.Pgrp, s.Session = ids[0], ids[1], ids[2]
	// tty_nr (7) is printed with %d; it is a dev_t, so keep the low 32 bits.
	tty, err := strconv.ParseInt(rest[4], 10, 64)
	if err != nil {
		return s, fmt.Errorf("%w: stat: tty_nr: %v", ErrMalformed, err)
	}
	s.TtyNr = uint32(tty)
	// starttime (22), %llu clock ticks since boot.
	s.StartTime, err = strconv.ParseUint(rest[19], 10, 64)
	if err != nil {
		return s, fmt.Errorf("%w: stat: starttime: %v", ErrMalformed, err)
	}
	return s, nil
}

// ticksToNs converts clock ticks to ns without overflowing for large uptimes.
func ticksToNs(ticks uint64) uint64 {
	return ticks/clockTicks*1e9 + ticks%clockTicks*1e9/clockTicks
}

// status is what the table takes from /proc/PID/status.
type status struct {
	Tgid             int32
	RUID, EUID       uint32
	RGID, EGID       uint32
	NStgid, NSpgid   int32 // innermost namespace values; -1 when the line is absent
	NSpid            int32
	CapInh, CapPrm   uint64
	CapEff           uint64
	haveUID, haveGID bool
}

// parseStatus parses /proc/PID/status ("Key:\tvalue" lines, man 5 proc).
// "Uid:" and "Gid:" hold real, effective, saved and filesystem ids;
// "NStgid:", "NSpid:" and "NSpgid:" (Linux 4.1+) list the id in each nested
// pid namespace, the process's own namespace last; "CapInh:", "CapPrm:" and "CapEff:" are hex
// masks. It returns an error wrapping ErrMalformed when one of those lines is
// unparsable or Uid/Gid are missing.
func parseStatus(data []byte) (status, error) {
	st := status{NStgid: -1, NSpid: -1, NSpgid: -1}
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		key, val := string(line[:colon]), line[colon+1:]
		var err error
		switch key {
		case "Tgid":
			st.Tgid, err = parseI32(firstField(val))
		case "Uid":
			st.RUID, st.EUID, err = twoIDs(val)
			st.haveUID = err == nil
		case "Gid":
			st.RGID, st.EGID, err = twoIDs(val)
			st.haveGID = err == nil
		case "NStgid":
			st.NStgid, err = parseI32(lastField(val))
		case "NSpid":
			st.NSpid, err = parseI32(lastField(val))
		case "NSpgid":
			st.NSpgid, err = parseI32(lastField(val))
		case "CapInh":
			st.CapInh, err = parseHex(val)
		case "CapPrm":
			st.CapPrm, err = parseHex(val)
		case "CapEff":
			st.CapEff, err = parseHex(val)
		default:
			continue
		}
		if err != nil {
			return st, fmt.Errorf("%w: status: %s: %v", ErrMalformed, key, err)
		}
	}
	if !st.haveUID || !st.haveGID {
		return st, fmt.Errorf("%w: status: no Uid/Gid lines", ErrMalformed)
	}
	return st, nil
}

func firstField(b []byte) string {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return ""
	}
	return string(f[0])
}

func lastField(b []byte) string {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return ""
	}
	return string(f[len(f)-1])
}

func parseI32(s string) (int32, error) {
	v, err := strconv.ParseInt(s, 10, 32)
	return int32(v), err
}

func parseHex(b []byte) (uint64, error) {
	return strconv.ParseUint(string(bytes.TrimSpace(b)), 16, 64)
}

// twoIDs returns the real and effective ids of a "Uid:" or "Gid:" value.
func twoIDs(b []byte) (real, eff uint32, err error) {
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("%d ids, want 4", len(f))
	}
	r, err := strconv.ParseUint(string(f[0]), 10, 32)
	if err != nil {
		return 0, 0, err
	}
	e, err := strconv.ParseUint(string(f[1]), 10, 32)
	if err != nil {
		return 0, 0, err
	}
	return uint32(r), uint32(e), nil
}

// parseCmdline splits /proc/PID/cmdline: the arguments, each terminated by a
// NUL byte (man 5 proc). Empty arguments in the middle are kept. It is empty
// for kernel threads and zombies. A process that rewrote its argument area
// (setproctitle) may leave no NULs; the text is then one argument.
func parseCmdline(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	data = bytes.TrimSuffix(data, []byte{0})
	parts := bytes.Split(data, []byte{0})
	args := make([]string, len(parts))
	for i, p := range parts {
		args[i] = string(p)
	}
	return args
}

// parseEnviron splits /proc/PID/environ (VAR=value strings, each
// NUL-terminated) as Falco's driver reads the environment at exec: at most
// EnvMax bytes.
func parseEnviron(data []byte) []string {
	if len(data) > EnvMax {
		data = data[:EnvMax]
	}
	return parseCmdline(data)
}

// EnvMax is how much of a process's environment Falco (and so Peregrine)
// keeps: its driver's MAX_PROC_ARG_ENV.
const EnvMax = 4096

// parseLoginUID parses /proc/PID/loginuid, a decimal uid written by the audit
// subsystem; 4294967295 ((uid_t)-1) means unset and becomes -1.
func parseLoginUID(data []byte) (int64, error) {
	v, err := strconv.ParseUint(string(bytes.TrimSpace(data)), 10, 32)
	if err != nil {
		return -1, fmt.Errorf("%w: loginuid: %v", ErrMalformed, err)
	}
	if v == 4294967295 {
		return -1, nil
	}
	return int64(v), nil
}

// parseCgroup parses /proc/PID/cgroup, whose lines are
// "hierarchy-ID:controller-list:cgroup-path" (man 7 cgroups); the cgroup v2
// line is "0::path". CgroupPath is the v2 path unless it is "/" or missing
// (hybrid hosts, where containers show up in the v1 hierarchies), in which
// case it is the first non-root v1 path, falling back to "/" or "".
// The container is the first path, v2 line first, that ParseContainerID
// recognises.
func parseCgroup(data []byte) (path, id, runtime string) {
	var v2 string
	var haveV2 bool
	var v1 []string
	for _, line := range strings.Split(string(data), "\n") {
		// The path may itself contain ':', so split into three at most.
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			v2, haveV2 = f[2], true
		} else {
			v1 = append(v1, f[2])
		}
	}
	id, runtime = policy.Host, policy.Host
	candidates := v1
	if haveV2 {
		candidates = append([]string{v2}, v1...)
	}
	for _, c := range candidates {
		if i, r := ParseContainerID(c); r != policy.Host {
			id, runtime = i, r
			break
		}
	}
	if haveV2 && v2 != "/" {
		return v2, id, runtime
	}
	for _, p := range v1 {
		if p != "/" {
			return p, id, runtime
		}
	}
	if haveV2 {
		return v2, id, runtime
	}
	if len(v1) > 0 {
		return v1[0], id, runtime
	}
	return "", id, runtime
}

// parseNSLink returns the inode number in a /proc/PID/ns/* link target,
// which has the form "type:[inode]" (man 7 namespaces).
func parseNSLink(target string) (uint64, error) {
	open := strings.IndexByte(target, '[')
	if open < 0 || !strings.HasSuffix(target, "]") {
		return 0, fmt.Errorf("%w: namespace link %q", ErrMalformed, target)
	}
	v, err := strconv.ParseUint(target[open+1:len(target)-1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: namespace link %q", ErrMalformed, target)
	}
	return v, nil
}

// isMemfd tells from an executable's path whether it is a memfd: its
// dentry name, "memfd:NAME", directly under "/" (as /proc/PID/exe and the
// kernel's walk show it) or alone (as Falco records it at exec).
func isMemfd(exePath string) bool {
	return strings.HasPrefix(exePath, "/memfd:") || strings.HasPrefix(exePath, "memfd:")
}

// reader reads processes from one proc root, reusing a buffer between files.
type reader struct {
	root string
	buf  []byte
}

func newReader(root string) *reader { return &reader{root: root, buf: make([]byte, 0, 4096)} }

// file reads a whole proc file into r.buf (valid until the next call). Proc
// files report size 0, so it reads until EOF instead of trusting Stat.
func (r *reader) file(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := r.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			r.buf = b
			return nil, err
		}
	}
	r.buf = b
	return b, nil
}

// read builds the Process for pid (a thread group id, or a thread id, in
// which case Pid is its tgid and Tid is pid). stat and status are required;
// every other file is optional, since kernel threads, zombies and processes of
// other users legitimately lack or hide them. Errors wrap the open/read error
// (fs.ErrNotExist or ESRCH for a vanished process) or ErrMalformed.
func (r *reader) read(pid int32) (*Process, error) {
	dir := filepath.Join(r.root, strconv.Itoa(int(pid)))

	data, err := r.file(filepath.Join(dir, "stat"))
	if err != nil {
		return nil, fmt.Errorf("proctable: pid %d: %w", pid, err)
	}
	sf, err := parseStat(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("proctable: pid %d: %w", pid, err)
	}
	data, err = r.file(filepath.Join(dir, "status"))
	if err != nil {
		return nil, fmt.Errorf("proctable: pid %d: %w", pid, err)
	}
	st, err := parseStatus(data)
	if err != nil {
		return nil, fmt.Errorf("proctable: pid %d: %w", pid, err)
	}

	p := &Process{
		Pid: pid, Tid: pid, Ppid: sf.Ppid,
		Comm: sf.Comm,
		Tty:  sf.TtyNr, Sid: sf.Session, Pgid: sf.Pgrp,
		VPgid: sf.Pgrp,
		UID:   st.EUID, GID: st.EGID, RealUID: st.RUID, RealGID: st.RGID,
		LoginUID:     -1,
		CapEffective: st.CapEff, CapPermitted: st.CapPrm, CapInheritable: st.CapInh,
		StartTime:   ticksToNs(sf.StartTime),
		ContainerID: policy.Host, ContainerRuntime: policy.Host,
	}
	if st.Tgid > 0 {
		p.Pid = st.Tgid
	}
	// VPid is the thread group id inside the process's pid namespace: the last
	// NStgid value (NSpid for a leader, which is the same number).
	switch {
	case st.NStgid >= 0:
		p.VPid = st.NStgid
	case st.NSpid >= 0 && p.Pid == pid:
		p.VPid = st.NSpid
	default:
		p.VPid = p.Pid
	}
	if st.NSpgid >= 0 {
		p.VPgid = st.NSpgid
	}

	if data, err := r.file(filepath.Join(dir, "cmdline")); err == nil {
		if args := parseCmdline(data); len(args) > 0 {
			p.Exe, p.Args = args[0], args[1:]
		}
	}
	if p.Exe == "" {
		// Kernel threads and zombies have no argv; like libscap, use comm.
		p.Exe = p.Comm
	}
	if p.Args == nil {
		p.Args = []string{}
	}
	if data, err := r.file(filepath.Join(dir, "environ")); err == nil {
		p.Env = parseEnviron(data)
	}
	if target, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		// As Falco's start-up scan (the driver's task iterator, or
		// /proc): d_path's form, without " (deleted)", so a memfd is
		// "/memfd:NAME" here.
		p.ExePath = strings.TrimSuffix(target, deletedSuffix)
		p.ExeFromMemfd = isMemfd(target)
	}
	if target, err := os.Readlink(filepath.Join(dir, "cwd")); err == nil {
		p.Cwd = FalcoCwd(target)
	}
	if data, err := r.file(filepath.Join(dir, "loginuid")); err == nil {
		if v, err := parseLoginUID(data); err == nil {
			p.LoginUID = v
		}
	}
	if data, err := r.file(filepath.Join(dir, "cgroup")); err == nil {
		p.CgroupPath, p.ContainerID, p.ContainerRuntime = parseCgroup(data)
	}
	if target, err := os.Readlink(filepath.Join(dir, "ns", "pid")); err == nil {
		p.PidNS, _ = parseNSLink(target)
	}
	if target, err := os.Readlink(filepath.Join(dir, "ns", "mnt")); err == nil {
		p.MntNS, _ = parseNSLink(target)
	}
	return p, nil
}

// BootTimeEpoch returns the boot time in ns since the epoch as libscap
// takes it (the btime line of PROCROOT/stat, in whole seconds): Falco's
// container.start_ts of the processes on the host.
func BootTimeEpoch(procRoot string) (uint64, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, "stat"))
	if err != nil {
		return 0, fmt.Errorf("proctable: boot time: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%w: stat: btime %q", ErrMalformed, v)
			}
			return s * 1e9, nil
		}
	}
	return 0, fmt.Errorf("%w: stat: no btime line", ErrMalformed)
}
