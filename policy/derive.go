package policy

import (
	"strconv"
	"strings"
)

// The values Falco derives from others, when an event has none of its
// own. Each is a function of the event's other values, read through Get,
// so a live event derives them from what its source reads and a replay
// event from what it was given.

type deriver func(e *Event, k Key) (Value, bool)

var (
	// derivers holds the derivation of each key without argument.
	derivers []deriver
	// derivedKeys are the fields every event has a derived value for
	// (shown by Names and MarshalJSON); isDerivedField marks them.
	derivedKeys    []Key
	isDerivedField = map[Key]bool{}
	keyEvtRawarg   Key
	keyEvtArg      *Field
)

// initDerivers runs once the catalog's keys exist.
func initDerivers() {
	k := MustKey
	kFdName, kFdType, kFdTypechar := k("fd.name"), k("fd.type"), k("fd.typechar")
	kProcName, kProcArgs := k("proc.name"), k("proc.args")
	kRawres, kRes := k("evt.rawres"), k("evt.res")
	kType, kFlags, kMode := k("evt.type"), k("evt.arg.flags"), k("evt.arg.mode")
	str := func(e *Event, k Key) (string, bool) {
		v, ok := e.Get(k)
		if !ok {
			return "", false
		}
		return v.Text()
	}
	fdKind := func(e *Event) (name string, isFile, isDir, ok bool) {
		name, ok = str(e, kFdName)
		if !ok {
			return
		}
		typ, _ := str(e, kFdType)
		tc, _ := str(e, kFdTypechar)
		isDir = typ == "directory" || tc == "d"
		isFile = typ == "file" || tc == "f" || (typ == "" && tc == "" && strings.HasPrefix(name, "/"))
		return
	}
	set := map[Key]deriver{
		k("fd.nameraw"): func(e *Event, _ Key) (Value, bool) {
			s, ok := str(e, kFdName)
			return Text(s), ok
		},
		k("fd.directory"): func(e *Event, _ Key) (Value, bool) {
			name, isFile, isDir, ok := fdKind(e)
			return Text(fdDirectory(name)), ok && (isFile || isDir)
		},
		k("fd.filename"): func(e *Event, _ Key) (Value, bool) {
			name, isFile, _, ok := fdKind(e)
			return Text(fdFilename(name)), ok && isFile
		},
		kFdTypechar: func(e *Event, _ Key) (Value, bool) {
			typ, ok := str(e, kFdType)
			c, known := fdTypeChars[typ]
			return Text(c), ok && known
		},
		k("proc.cmdline"): func(e *Event, _ Key) (Value, bool) {
			name, ok := str(e, kProcName)
			if !ok {
				return Value{}, false
			}
			if args, ok := str(e, kProcArgs); ok && args != "" {
				name += " " + args
			}
			return Text(name), true
		},
		kRes: func(e *Event, _ Key) (Value, bool) {
			raw, ok := e.Get(kRawres)
			n, num := raw.Int()
			return Text(ResultName(n)), ok && num
		},
		kRawres: func(e *Event, _ Key) (Value, bool) {
			res, ok := str(e, kRes)
			if !ok {
				return Value{}, false
			}
			n, ok := ResultNumber(res)
			return Int(n), ok
		},
		k("evt.failed"): func(e *Event, _ Key) (Value, bool) {
			if raw, ok := e.Get(kRawres); ok {
				n, num := raw.Int()
				return Bool(n < 0), num
			}
			res, ok := str(e, kRes)
			return Bool(res != "SUCCESS"), ok
		},
		k("evt.dir"): func(*Event, Key) (Value, bool) { return Text("<"), true },
	}
	for i, name := range openFieldNames {
		set[k(name)] = func(e *Event, _ Key) (Value, bool) {
			m := &e.open
			if !m.read {
				m.read = true
				typ, ok := str(e, kType)
				if ok {
					flags, hasFlags := str(e, kFlags)
					mode, _ := str(e, kMode)
					raw, hasRes := e.Get(kRawres)
					res, _ := raw.Int()
					m.vals, m.ok = openFields(typ, flags, hasFlags, mode, hasRes && res >= 0)
				}
			}
			return Bool(m.vals[i]), m.ok
		}
	}
	for k := range set {
		derivedKeys = append(derivedKeys, k)
		isDerivedField[k] = true
	}
	sortKeys(derivedKeys)
	// The lists gathered from other values.
	for name := range ancestorFields {
		set[k(name)] = ancestors
	}
	for name, pair := range eitherFields {
		set[k(name)] = either(k(pair[0]), k(pair[1]))
	}
	keyEvtRawarg, keyEvtArg = k("evt.rawarg"), LookupField("evt.arg")
	derivers = make([]deriver, NumKeys())
	for k, d := range set {
		derivers[k] = d
	}
}

func sortKeys(ks []Key) {
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
}

// derive returns the value Falco derives for k from the event's others.
func derive(e *Event, k Key) (Value, bool) {
	if int(k) < len(derivers) && derivers[k] != nil {
		return derivers[k](e, k)
	}
	if k.Base() == keyEvtRawarg && k.hasArg() {
		// An argument without its raw value reads as its text.
		a, _ := k.Arg()
		if ak, err := argKey(keyEvtArg, a); err == nil {
			return e.Get(ak)
		}
	}
	return Value{}, false
}

// ancestors gathers the values of an ancestor field from the parent up,
// until one is missing: proc.aname without index.
func ancestors(e *Event, k Key) (Value, bool) {
	start := len(e.lists)
	for i := 1; ; i++ {
		ak, ok := AncestorKey(k, i)
		if !ok {
			break
		}
		v, ok := e.Get(ak)
		if !ok || v.kind == KindList {
			break
		}
		e.lists = append(e.lists, v)
	}
	return e.list(start)
}

// either gathers the client's and the server's value (fd.ip).
func either(c, s Key) deriver {
	return func(e *Event, _ Key) (Value, bool) {
		start := len(e.lists)
		for _, k := range [2]Key{c, s} {
			if v, ok := e.Get(k); ok && v.kind != KindList {
				e.lists = append(e.lists, v)
			}
		}
		return e.list(start)
	}
}

// list returns the values appended to e.lists since start as a list.
func (e *Event) list(start int) (Value, bool) {
	n := len(e.lists)
	if n == start {
		return Value{}, false
	}
	return List(e.lists[start:n:n]), true
}

// fdTypeChars maps fd.type to fd.typechar, as libsinsp does.
var fdTypeChars = map[string]string{
	"file": "f", "directory": "d", "ipv4": "4", "ipv6": "6", "unix": "u", "pipe": "p",
	"event": "e", "signalfd": "s", "eventpoll": "l", "inotify": "i", "timerfd": "t",
	"netlink": "n", "bpf": "b", "userfaultfd": "u", "io_uring": "r", "memfd": "m", "pidfd": "P",
}

// FDTypeChar returns fd.typechar for an fd.type, as libsinsp maps them.
func FDTypeChar(typ string) (string, bool) {
	c, ok := fdTypeChars[typ]
	return c, ok
}

// FDFilename returns the base name of a path as fd.filename has it.
func FDFilename(p string) string { return fdFilename(p) }

// FDDirectory returns the directory of a path as fd.directory has it.
func FDDirectory(p string) string { return fdDirectory(p) }

// fdDirectory returns the directory of a path as libsinsp's fd.directory
// does: the name up to its last '/', "/" when that is the first byte or
// there is none, the name itself when it ends with '/'.
func fdDirectory(p string) string {
	i := strings.LastIndexByte(p, '/')
	switch {
	case i == len(p)-1 && i >= 0:
		return p
	case i <= 0:
		return "/"
	}
	return p[:i]
}

// fdFilename returns the base name of a path as libsinsp's fd.filename
// does: what follows the last '/', "/" when there is none, the name itself
// when it ends with '/'.
func fdFilename(p string) string {
	i := strings.LastIndexByte(p, '/')
	switch {
	case i < 0:
		return "/"
	case i == len(p)-1:
		return p
	}
	return p[i+1:]
}

// IsOpenEvent reports whether the event type opens a file by flags: the
// types whose evt.is_open_read and evt.is_open_write can be true. creat
// is not one (it has no flags argument in Falco).
func IsOpenEvent(typ string) bool {
	switch typ {
	case "open", "openat", "openat2", "open_by_handle_at":
		return true
	}
	return false
}

// execBits are the execute permission bits evt.is_open_exec tests.
const execBits = 0o111

// openFieldNames are the fields openFields computes, in its order.
var openFieldNames = [4]string{"evt.is_open_read", "evt.is_open_write", "evt.is_open_create", "evt.is_open_exec"}

// openFields computes evt.is_open_read, evt.is_open_write,
// evt.is_open_create and evt.is_open_exec (in openFieldNames' order) as
// libsinsp does, from the event type, evt.arg.flags and evt.arg.mode as
// Falco renders them, and whether the syscall succeeded. Every event has
// the four fields, but for an open-like event without evt.arg.flags (a
// hand-written replay event) none is derived (ok false):
//   - open, openat, openat2, open_by_handle_at: read when the flags
//     have O_RDONLY or O_RDWR, write when O_WRONLY or O_RDWR; create
//     when O_F_CREATED, or O_TMPFILE and the open succeeded; exec when
//     O_CREAT or O_TMPFILE and the mode has an execute bit (not for
//     open_by_handle_at, which has no mode).
//   - creat: exec when the mode has an execute bit; the other three false.
//   - any other type: all false.
func openFields(typ, flags string, hasFlags bool, mode string, succeeded bool) (vals [4]bool, ok bool) {
	execMode := func() bool {
		m, err := strconv.ParseUint(mode, 8, 32)
		return err == nil && m&execBits != 0
	}
	switch {
	case typ == "creat":
		vals[3] = execMode()
	case IsOpenEvent(typ) && !hasFlags:
		return vals, false
	case IsOpenEvent(typ):
		f := openFlagSet(flags)
		vals[0], vals[1] = f.access(flags)
		tmpfile := f&oTmpfile != 0
		vals[2] = f&oFCreated != 0 || (tmpfile && succeeded)
		vals[3] = typ != "open_by_handle_at" && (tmpfile || f&oCreat != 0) && execMode()
	}
	return vals, true
}

// openFlags are the open flags whose names evt.is_open_* read.
type openFlags uint8

const (
	oRdonly openFlags = 1 << iota
	oWronly
	oRdwr
	oCreat
	oTmpfile
	oFCreated
)

var openFlagNames = map[string]openFlags{"O_RDONLY": oRdonly, "O_WRONLY": oWronly, "O_RDWR": oRdwr,
	"O_CREAT": oCreat, "O_TMPFILE": oTmpfile, "O_F_CREATED": oFCreated}

// openFlagSet reads the flags a flags string ("O_RDWR|O_CREAT") names,
// separated by '|' or ' '.
func openFlagSet(flags string) openFlags {
	var f openFlags
	for start, i := 0, 0; i <= len(flags); i++ {
		if i == len(flags) || flags[i] == '|' || flags[i] == ' ' {
			f |= openFlagNames[flags[start:i]]
			start = i + 1
		}
	}
	return f
}

// access tells whether flags ask for read and for write access.
func (f openFlags) access(flags string) (read, write bool) {
	switch {
	case f&oRdwr != 0:
		read, write = true, true
	default:
		read, write = f&oRdonly != 0, f&oWronly != 0
	}
	if !read && !write && !strings.Contains(flags, "O_PATH") {
		// O_RDONLY is 0: a flags string without an access mode reads.
		read = true
	}
	return read, write
}

// OpenAccess tells from an open flags string ("O_RDWR|O_CREAT") whether the
// open asks for read and for write access.
func OpenAccess(flags string) (read, write bool) { return openFlagSet(flags).access(flags) }
