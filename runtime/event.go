package runtime

import (
	"slices"
	"strings"

	"github.com/peregrine-sec/peregrine/bpf"
	"github.com/peregrine-sec/peregrine/container"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime/proctable"
	"github.com/peregrine-sec/peregrine/syscalls"
)

// The event of a syscall record. Its fields are read from the record, the
// process table and the users only when a rule, an output or the Rego
// input asks for one (policy.Event memoises each): an open that no rule
// matches reads the handful of fields its rules test, not the hundred
// Falco defines.

// liveEvent is the policy.Source of a syscall record's event. One is
// reused from record to record; the strings it hands out may share the
// record's memory (policy.Event.Snapshot copies them).
type liveEvent struct {
	l   *Live
	r   *bpf.Record
	row *syscalls.Syscall
	p   *proctable.Process // nil when the table does not know the process
	pid int32
	num uint64
	// execFilename is the file name of a successful execve, taken from
	// the exec record that came before it.
	execFilename    string
	hasExecFilename bool

	pc     *processCache // the process table's fields, once read
	pcRead bool
	fd     []keyValue // the fd fields, once fdRead
	fdRead bool
	paths  [2]userPath // the capture's user strings made absolute
	// meta is the runtime's metadata of the process's container, once
	// metaRead (nil while unknown).
	meta     *container.Metadata
	metaRead bool
}

const atFDCWD = -100

// ia32Setuid16 is ia32's setuid, with a 16-bit uid (setuid32 is 213).
const ia32Setuid16 = 23

// maxAncestors bounds the proc.aname chain.
const maxAncestors = 16

type keyValue struct {
	k policy.Key
	v policy.Value
}

// userPath is one of the capture's user strings, as given and resolved.
type userPath struct {
	read, ok bool
	raw, abs string
}

// liveField reads one field of a live event.
type liveField func(s *liveEvent, e *policy.Event, k policy.Key) (policy.Value, bool)

var (
	// liveFields holds the reader of each key a live event can have
	// without an argument, and of the first ancestors.
	liveFields []liveField
	// commonKeys are the keys every syscall event may have, for Keys.
	commonKeys []policy.Key
	// ancestorBases are the ancestor fields (proc.aname...) with what
	// reads their ancestor i.
	ancestorBases = map[policy.Key]func(s *liveEvent, i int) (policy.Value, bool){}
	keyEvtArg     = policy.MustKey("evt.arg")
	keyProcEnv    = policy.MustKey("proc.env")
	keyFdName     = policy.MustKey("fd.name")
	keyFdNameraw  = policy.MustKey("fd.nameraw")
	keyFdType     = policy.MustKey("fd.type")
	keyFdTypechar = policy.MustKey("fd.typechar")
	keyFdL4proto  = policy.MustKey("fd.l4proto")
	keyFdNum      = policy.MustKey("fd.num")
)

func text(s string) (policy.Value, bool) { return policy.Text(s), true }

func init() {
	fields := map[string]liveField{
		"evt.num": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return policy.Uint(s.num), true
		},
		"evt.type": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) { return text(s.row.Name) },
		"evt.rawtime": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return policy.Int(int64(s.r.Timestamp) + s.l.bootToWall), true
		},
		"evt.rawres": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return policy.Int(s.r.Ret), true
		},
		"proc.pid": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return policy.Int(int64(s.r.Pid)), true
		},
		"thread.tid": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return policy.Int(int64(s.r.Tid)), true
		},
		"proc.ppid": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return policy.Int(int64(s.r.Ppid)), true
		},
		"proc.vpid": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return policy.Int(int64(s.r.VPid)), true
		},
		"user.uid": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return policy.Uint(uint64(s.r.EUID)), true
		},
		// As libsinsp: "root" for id 0 without an entry, "<NA>" otherwise.
		"user.name": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			name, _, _ := s.l.users.FalcoUser(s.r.EUID)
			return text(name)
		},
		"user.homedir": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			_, home, _ := s.l.users.FalcoUser(s.r.EUID)
			return text(home)
		},
		"user.shell": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			_, _, shell := s.l.users.FalcoUser(s.r.EUID)
			return text(shell)
		},
		"user.loginuid": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return policy.Int(s.loginUID()), true
		},
		"user.loginname": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return text(s.l.users.FalcoLoginName(s.loginUID()))
		},
		"group.gid": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return policy.Uint(uint64(s.r.GID)), true
		},
		"group.name": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return text(s.l.users.FalcoGroup(s.r.GID))
		},
		"thread.cap_effective": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return text(s.l.capNames(s.r.CapEffective))
		},
		"thread.cap_permitted": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return text(s.l.capNames(s.r.CapPermitted))
		},
		"thread.cap_inheritable": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			return text(s.l.capNames(s.r.CapInheritable))
		},
		// The process's own name and its parent's are the names the
		// kernel filter judged in this record (the names taken at exec,
		// even when empty).
		"proc.name":  func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) { return text(s.r.CommView()) },
		"proc.pname": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) { return text(s.r.PCommView()) },
		"proc.cmdline": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			if s.p == nil {
				return policy.Value{}, false // derived from proc.name
			}
			return text(s.process().cmdline(s.r.CommView()))
		},
		// The record's timestamp is on the boot-time clock, as StartTime
		// is: the duration at the event, without a clock read per event.
		"proc.duration": func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			if s.p == nil || s.p.StartTime == 0 {
				return policy.Value{}, false
			}
			return policy.Uint(uint64(s.p.Duration(s.r.Timestamp))), true
		},
	}
	for name, f := range containerFields() {
		fields[name] = f
	}
	for name, get := range processGetters {
		if _, ok := fields[name]; !ok {
			fields[name] = func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
				if c := s.process(); c != nil {
					return get(c)
				}
				return policy.Value{}, false
			}
		}
	}
	for _, f := range policy.Fields() {
		switch {
		case strings.HasPrefix(f.Name, "fd.") && f.Arg == policy.ArgNone:
			if _, derived := fdDerived[f.Name]; !derived {
				fields[f.Name] = (*liveEvent).fdField
			}
		case strings.HasPrefix(f.Name, "fs.path."):
			fields[f.Name] = (*liveEvent).fsPath
		}
	}
	ancestor := func(name string, own func(s *liveEvent, i int) (policy.Value, bool)) {
		ancestorBases[policy.MustKey(name)] = own
	}
	ancestor("proc.aname", func(s *liveEvent, i int) (policy.Value, bool) {
		return s.chainValue(i, func(p *proctable.Process) policy.Value { return policy.Text(p.Comm) })
	})
	ancestor("proc.apid", func(s *liveEvent, i int) (policy.Value, bool) {
		return s.chainValue(i, func(p *proctable.Process) policy.Value { return policy.Int(int64(p.Pid)) })
	})
	ancestor("proc.aexe", func(s *liveEvent, i int) (policy.Value, bool) {
		return s.chainValue(i, func(p *proctable.Process) policy.Value { return policy.Text(p.Exe) })
	})
	ancestor("proc.aexepath", func(s *liveEvent, i int) (policy.Value, bool) {
		return s.chainValue(i, func(p *proctable.Process) policy.Value { return policy.Text(p.ExePath) })
	})
	ancestor("proc.acmdline", func(s *liveEvent, i int) (policy.Value, bool) {
		c := s.process()
		if c == nil {
			return policy.Value{}, false
		}
		v, ok := c.ancestorCmdline(i)
		return policy.Text(v), ok
	})
	byKey := map[policy.Key]liveField{}
	for base, own := range ancestorBases {
		for i := 0; i < maxAncestors; i++ {
			ak, _ := policy.AncestorKey(base, i)
			byKey[ak] = func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) { return own(s, i) }
		}
	}
	for name, f := range fields {
		k := policy.MustKey(name)
		byKey[k] = f
		if k.Index() < 0 && !strings.HasPrefix(name, "fd.") && !strings.HasPrefix(name, "fs.path.") {
			commonKeys = append(commonKeys, k)
		}
	}
	slices.Sort(commonKeys)
	liveFields = make([]liveField, policy.NumKeys())
	for k, f := range byKey {
		liveFields[k] = f
	}
}

// fdDerived are the fd fields policy derives from the others (fd.nameraw
// is an open's raw path, else derived).
var fdDerived = map[string]bool{"fd.directory": true, "fd.filename": true, "fd.typechar": true,
	"fd.ip": true, "fd.port": true, "fd.net": true, "fd.cnet": true, "fd.snet": true, "fd.lnet": true, "fd.rnet": true}

// reset makes s the source of record r's event.
func (s *liveEvent) reset(l *Live, r *bpf.Record, row *syscalls.Syscall, p *proctable.Process, num uint64) {
	*s = liveEvent{l: l, r: r, row: row, p: p, pid: int32(r.Pid), num: num, fd: s.fd[:0]}
}

// Value implements policy.Source.
func (s *liveEvent) Value(e *policy.Event, k policy.Key) (policy.Value, bool) {
	if int(k) < len(liveFields) {
		if f := liveFields[k]; f != nil {
			return f(s, e, k)
		}
	}
	arg, ok := k.Arg()
	if !ok {
		return policy.Value{}, false
	}
	switch base := k.Base(); base {
	case keyEvtArg:
		return s.argValue(e, arg)
	case keyProcEnv:
		if s.p == nil {
			return policy.Value{}, false
		}
		v, ok := envValue(s.p.Env, arg)
		return policy.Text(v), ok
	default:
		if isMetaArg(base) {
			return s.metaArgValue(base, arg)
		}
		if own, ok := ancestorBases[base]; ok {
			return own(s, k.Index())
		}
	}
	return policy.Value{}, false
}

// Keys implements policy.Source.
func (s *liveEvent) Keys(fn func(policy.Key)) {
	for _, k := range commonKeys {
		fn(k)
	}
	n := 2 // the record's comms and pids
	if c := s.process(); c != nil && len(c.chain) > n {
		n = len(c.chain)
	}
	for _, keys := range ancestorKeys {
		for _, k := range keys[:n] {
			fn(k)
		}
	}
	if s.p != nil {
		if env := s.l.envKeys.Load(); env != nil {
			for _, k := range env.keys {
				fn(k)
			}
			if !isHost(s.p.ContainerID) {
				for _, k := range env.labels {
					fn(k)
				}
			}
		}
	}
	for _, k := range rowKeys[s.row.Name] {
		fn(k)
	}
	for _, kv := range s.fdFields() {
		fn(kv.k)
	}
}

var (
	// ancestorKeys are the keys of each ancestor field, by index.
	ancestorKeys [][maxAncestors]policy.Key
	// rowKeys are the keys each row's arguments fill: evt.arg.NAME and
	// the result's, fs.path.*.
	rowKeys = map[string][]policy.Key{}
)

func init() {
	for base := range ancestorBases {
		var keys [maxAncestors]policy.Key
		for i := range keys {
			keys[i], _ = policy.AncestorKey(base, i)
		}
		ancestorKeys = append(ancestorKeys, keys)
	}
	for i := range syscalls.Table {
		row := &syscalls.Table[i]
		var keys []policy.Key
		for _, a := range row.Args {
			keys = append(keys, policy.MustKey("evt.arg."+a.Name))
			if a.FSPath != "" {
				keys = append(keys, policy.MustKey("fs.path."+a.FSPath), policy.MustKey("fs.path."+a.FSPath+"raw"))
			}
		}
		rowKeys[row.Name] = append(keys, policy.MustKey("evt.arg."+row.Result.Name))
	}
}

func (s *liveEvent) loginUID() int64 {
	if s.r.LoginUID == ^uint32(0) {
		return -1
	}
	return int64(s.r.LoginUID)
}

// process returns the process table's fields of the event's process
// (nil when the table does not know it).
func (s *liveEvent) process() *processCache {
	if !s.pcRead {
		s.pcRead = true
		if s.p != nil {
			s.pc = s.l.processFields(s.p)
		}
	}
	return s.pc
}

// chainValue reads ancestor i (0 the process) in the process table.
func (s *liveEvent) chainValue(i int, get func(*proctable.Process) policy.Value) (policy.Value, bool) {
	c := s.process()
	if c == nil || i >= len(c.chain) {
		return policy.Value{}, false
	}
	return get(c.chain[i]), true
}

// processCache holds what the fields of a process that come from the
// process table alone are made of: the table entries, and the strings
// built from them once asked for. Entries are snapshots (a process that
// changes gets a new one), so the cache holds while the chain of ancestors
// and the session and group leaders are the same pointers.
type processCache struct {
	p         *proctable.Process
	chain     []*proctable.Process // the process and its ancestors
	sess, grp *proctable.Process
	args      *string  // proc.args, once built
	cmdlines  []string // the ancestors' command lines, once built
	// comm and cmdLine are the last proc.cmdline given, for the comm
	// the record had.
	comm, cmdLine string
}

// argString is proc.args.
func (c *processCache) argString() string {
	if c.args == nil {
		s := strings.Join(c.p.Args, " ")
		c.args = &s
	}
	return *c.args
}

// cmdline is proc.cmdline for a record whose comm is comm.
func (c *processCache) cmdline(comm string) string {
	if c.cmdLine == "" || c.comm != comm {
		c.comm = strings.Clone(comm)
		c.cmdLine = strings.TrimSpace(c.comm + " " + c.argString())
	}
	return c.cmdLine
}

// ancestorCmdline is proc.acmdline[i].
func (c *processCache) ancestorCmdline(i int) (string, bool) {
	if c.cmdlines == nil {
		c.cmdlines = make([]string, len(c.chain))
		for j, a := range c.chain {
			c.cmdlines[j] = cmdline(a)
		}
	}
	if i >= len(c.cmdlines) {
		return "", false
	}
	return c.cmdlines[i], true
}

// processGetter reads one field of a process from its cache.
type processGetter func(c *processCache) (policy.Value, bool)

// processGetters are the fields of a process that come from the table.
var processGetters = func() map[string]processGetter {
	p := func(c *processCache) *proctable.Process { return c.p }
	text := func(get func(*proctable.Process) string) processGetter {
		return func(c *processCache) (policy.Value, bool) { return policy.Text(get(p(c))), true }
	}
	flag := func(get func(*proctable.Process) bool) processGetter {
		return func(c *processCache) (policy.Value, bool) { return policy.Bool(get(p(c))), true }
	}
	exeFlag := func(get func(*proctable.Process) bool) processGetter {
		return func(c *processCache) (policy.Value, bool) { return policy.Bool(get(p(c))), p(c).ExeFlagsKnown }
	}
	leader := func(of func(*processCache) *proctable.Process, get func(*proctable.Process) string) processGetter {
		return func(c *processCache) (policy.Value, bool) {
			if l := of(c); l != nil {
				return policy.Text(get(l)), true
			}
			return policy.Value{}, false
		}
	}
	sess := func(c *processCache) *proctable.Process { return c.sess }
	grp := func(c *processCache) *proctable.Process { return c.grp }
	g := map[string]processGetter{
		"proc.args": func(c *processCache) (policy.Value, bool) { return policy.Text(c.argString()), true },
		"proc.env":  text(func(p *proctable.Process) string { return strings.Join(p.Env, " ") }),
		"proc.cwd": func(c *processCache) (policy.Value, bool) {
			return policy.Text(p(c).Cwd), p(c).Cwd != ""
		},
		"proc.tty":                func(c *processCache) (policy.Value, bool) { return policy.Uint(uint64(p(c).Tty)), true },
		"proc.sid":                func(c *processCache) (policy.Value, bool) { return policy.Int(int64(p(c).Sid)), true },
		"proc.vpgid":              func(c *processCache) (policy.Value, bool) { return policy.Int(int64(p(c).VPgid)), true },
		"proc.is_exe_from_memfd":  flag(func(p *proctable.Process) bool { return p.ExeFromMemfd }),
		"proc.is_exe_writable":    exeFlag(func(p *proctable.Process) bool { return p.ExeWritable }),
		"proc.is_exe_upper_layer": exeFlag(func(p *proctable.Process) bool { return p.ExeUpperLayer }),
		"proc.is_exe_lower_layer": exeFlag(func(p *proctable.Process) bool { return p.ExeLowerLayer }),
		"proc.is_vpgid_leader":    flag(func(p *proctable.Process) bool { return p.VPid == p.VPgid }),
		"proc.is_sid_leader":      flag(func(p *proctable.Process) bool { return p.Pid == p.Sid }),
		"proc.sname":              leader(sess, func(p *proctable.Process) string { return p.Comm }),
		"proc.vpgid.name":         leader(grp, func(p *proctable.Process) string { return p.Comm }),
		"proc.vpgid.exe":          leader(grp, func(p *proctable.Process) string { return p.Exe }),
		"proc.vpgid.exepath":      leader(grp, func(p *proctable.Process) string { return p.ExePath }),
	}
	// Outside containers, the host entry's values; in a container, what
	// the table knows: the id and the runtime.
	for _, f := range hostContainerFields {
		own := func(*proctable.Process) (policy.Value, bool) { return policy.Value{}, false }
		switch f.name {
		case "container.id":
			own = func(p *proctable.Process) (policy.Value, bool) { return policy.Text(p.ContainerID), true }
		case "container.type":
			own = func(p *proctable.Process) (policy.Value, bool) { return policy.Text(p.ContainerRuntime), true }
		}
		g[f.name] = func(c *processCache) (policy.Value, bool) {
			if isHost(p(c).ContainerID) {
				return f.v, true
			}
			return own(p(c))
		}
	}
	return g
}()

// processFields returns the cache of p, made anew when p, an ancestor or
// a leader has changed since it was made.
func (l *Live) processFields(p *proctable.Process) *processCache {
	l.chain = l.table.AncestorsInto(p.Pid, maxAncestors, l.chain[:0])
	sess, _ := l.table.Get(p.Sid)
	grp, _ := l.table.Get(p.Pgid)
	if c, ok := l.procFields[p.Pid]; ok && c.p == p && c.sess == sess && c.grp == grp && slices.Equal(c.chain, l.chain) {
		return c
	}
	c := &processCache{p: p, chain: slices.Clone(l.chain), sess: sess, grp: grp}
	if l.procFields == nil || len(l.procFields) >= 4096 {
		l.procFields = map[int32]*processCache{}
	}
	l.procFields[p.Pid] = c
	return c
}

// envValue returns the value of variable name in env (VAR=value each).
func envValue(env []string, name string) (string, bool) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name); ok && strings.HasPrefix(v, "=") {
			return v[1:], true
		}
	}
	return "", false
}

// envKeys are the variables the rules look up with proc.env[NAME], in
// their conditions or outputs: the ones an alert's event keeps; labels
// are the container.label[KEY], k8s.pod.label[KEY] and container.mount*[ARG]
// they name.
type envKeys struct {
	keys   []policy.Key
	labels []policy.Key
}

// envKeysOf returns the environment keys of a ruleset's enabled rules.
func envKeysOf(rs *policy.Ruleset) *envKeys {
	seen := map[policy.Key]bool{}
	out := &envKeys{}
	add := func(f *policy.FieldRef) {
		if f == nil || f.Field == nil || !f.HasArg {
			return
		}
		var to *[]policy.Key
		switch f.Field.Name {
		case "proc.env":
			to = &out.keys
		case "container.label", "k8s.pod.label", "container.mount", "container.mount.source", "container.mount.dest",
			"container.mount.mode", "container.mount.rdwr", "container.mount.propagation":
			to = &out.labels
		default:
			return
		}
		if k, ok := policy.KeyOfRef(f); ok && !seen[k] {
			seen[k] = true
			*to = append(*to, k)
		}
	}
	for _, r := range rs.Enabled() {
		policy.Walk(r.Condition, func(x policy.Expr) {
			if c, ok := x.(*policy.Compare); ok {
				add(&c.Left)
				add(c.Right)
			}
		})
		for _, f := range r.Output.Fields() {
			add(f)
		}
	}
	return out
}

// capNames returns proctable.CapNames(mask), remembering the few masks a
// system's processes have.
func (l *Live) capNames(mask uint64) string {
	if s, ok := l.caps[mask]; ok {
		return s
	}
	s := proctable.CapNames(mask)
	if l.caps == nil {
		l.caps = map[uint64]string{}
	}
	if len(l.caps) < 1024 {
		l.caps[mask] = s
	}
	return s
}

// renderKey names one rendering of a flags argument.
type renderKey struct {
	kind syscalls.Kind
	v    uint64
}

// render returns the text of flags argument v of kind k, remembering the
// few values a system's processes pass.
func (l *Live) render(k syscalls.Kind, v uint64, f func(uint64) string) string {
	key := renderKey{k, v}
	if s, ok := l.rendered[key]; ok {
		return s
	}
	s := f(v)
	if l.rendered == nil || len(l.rendered) >= 4096 {
		l.rendered = map[renderKey]string{}
	}
	l.rendered[key] = s
	return s
}

func cmdline(p *proctable.Process) string {
	if len(p.Args) == 0 {
		return p.Comm
	}
	return p.Comm + " " + strings.Join(p.Args, " ")
}
