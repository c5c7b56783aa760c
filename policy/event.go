package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Event is one event as a set of field values keyed by field name. Values
// are strings, json.Number, bools, or slices of those for indexed and list
// fields. A field the event does not hold is absent: every comparison on it
// is false.
type Event struct {
	values map[string]any
}

// NewEvent returns an empty event.
func NewEvent() *Event { return &Event{values: map[string]any{}} }

// NewEventSize returns an empty event with room for n fields, so that an
// event built field by field does not rehash its map as it grows.
func NewEventSize(n int) *Event { return &Event{values: make(map[string]any, n)} }

// Set stores the value of a field. v is a string, a bool, an integer, a
// json.Number, or a []any of those for indexed fields.
func (e *Event) Set(name string, v any) {
	e.values[name] = normalize(v)
}

// normalize turns Go integers into json.Number, in slices too.
func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return json.Number(strconv.Itoa(x))
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	case uint64:
		return json.Number(strconv.FormatUint(x, 10))
	case uint32:
		return json.Number(strconv.FormatUint(uint64(x), 10))
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return l
	case []any:
		for i, el := range x {
			switch el.(type) {
			case int, int64, uint64, uint32, []string, []any:
				l := append([]any(nil), x...)
				for j := i; j < len(l); j++ {
					l[j] = normalize(l[j])
				}
				return l
			}
		}
	}
	return v
}

// Raw returns the value stored under name, as Set or the decoder stored it.
func (e *Event) Raw(name string) (any, bool) {
	v, ok := e.values[name]
	return v, ok
}

// Names returns the names of the fields the event holds, sorted.
func (e *Event) Names() []string {
	out := make([]string, 0, len(e.values))
	for k := range e.values {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// MarshalJSON writes the event in the replay format.
func (e *Event) MarshalJSON() ([]byte, error) { return json.Marshal(e.values) }

// DecodeEvent reads one event in the replay format: a JSON object keyed by
// field name (see testdata/README.md). num is the event's 1-based position
// in its stream; it becomes evt.num unless the object sets one. Fields that
// Falco derives from others are derived when absent. It returns an error
// when the line is not a JSON object or a catalog field has a value of the
// wrong JSON type.
func DecodeEvent(line []byte, num uint64) (*Event, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("event is not a JSON object: %w", err)
	}
	if obj == nil {
		return nil, fmt.Errorf("event is not a JSON object")
	}
	e := &Event{values: obj}
	for name, v := range obj {
		if err := checkValue(name, v); err != nil {
			return nil, err
		}
	}
	if _, ok := obj["evt.num"]; !ok {
		e.Set("evt.num", num)
	}
	e.derive()
	return e, nil
}

// checkValue rejects values whose JSON type cannot hold the field's type.
func checkValue(name string, v any) error {
	fld := LookupField(name)
	if fld == nil {
		return nil
	}
	if l, ok := v.([]any); ok {
		if fld.Arg == ArgNone && !fld.List {
			return fmt.Errorf("field %s takes one value, not an array", name)
		}
		for _, x := range l {
			if err := checkScalar(fld, x); err != nil {
				return err
			}
		}
		return nil
	}
	if _, ok := v.(map[string]any); ok {
		if fld.Arg != ArgKeyOptional && fld.Arg != ArgKeyRequired && fld.Arg != ArgIndexOrKey {
			return fmt.Errorf("field %s takes a value, not an object", name)
		}
		return nil
	}
	return checkScalar(fld, v)
}

func checkScalar(fld *Field, v any) error {
	if v == nil {
		return nil
	}
	switch {
	case fld.Type.Numeric():
		if _, ok := toInt(v); !ok {
			return fmt.Errorf("field %s: %v is not a number", fld.Name, v)
		}
	case fld.Type == TypeBool:
		if _, ok := toBool(v); !ok {
			return fmt.Errorf("field %s: %v is not a boolean", fld.Name, v)
		}
	}
	return nil
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

// Derive fills the fields that Falco computes from others, when absent.
// DecodeEvent calls it; sources that build events with Set call it once
// all fields are set.
func (e *Event) Derive() { e.derive() }

// derive fills fields that Falco computes from others, when absent.
func (e *Event) derive() {
	has := func(n string) bool { _, ok := e.values[n]; return ok }
	str := func(n string) (string, bool) {
		v, ok := e.values[n]
		if !ok {
			return "", false
		}
		return toString(v)
	}
	if name, ok := str("fd.name"); ok {
		if !has("fd.nameraw") {
			e.values["fd.nameraw"] = name
		}
		typ, _ := str("fd.type")
		tc, _ := str("fd.typechar")
		isDir := typ == "directory" || tc == "d"
		isFile := typ == "file" || tc == "f" || (typ == "" && tc == "" && strings.HasPrefix(name, "/"))
		if (isFile || isDir) && !has("fd.directory") {
			e.values["fd.directory"] = fdDirectory(name)
		}
		if isFile && !has("fd.filename") {
			e.values["fd.filename"] = fdFilename(name)
		}
	}
	if typ, ok := str("fd.type"); ok && !has("fd.typechar") {
		if c, ok := fdTypeChars[typ]; ok {
			e.values["fd.typechar"] = c
		}
	}
	if !has("proc.cmdline") {
		if name, ok := str("proc.name"); ok {
			if args, ok := str("proc.args"); ok && args != "" {
				name += " " + args
			}
			e.values["proc.cmdline"] = name
		}
	}
	if raw, ok := e.values["evt.rawres"]; ok {
		if n, ok := toInt(raw); ok {
			if !has("evt.res") {
				e.values["evt.res"] = ResultName(n)
			}
			if !has("evt.failed") {
				e.values["evt.failed"] = n < 0
			}
		}
	} else if res, ok := str("evt.res"); ok {
		if n, ok := ResultNumber(res); ok {
			e.values["evt.rawres"] = json.Number(strconv.FormatInt(n, 10))
		}
		if !has("evt.failed") {
			e.values["evt.failed"] = res != "SUCCESS"
		}
	}
	if typ, ok := str("evt.type"); ok {
		flags, hasFlags := str("evt.arg.flags")
		mode, _ := str("evt.arg.mode")
		rawres, hasRes := e.values["evt.rawres"]
		res, _ := toInt(rawres)
		succeeded := hasRes && res >= 0
		if vals, ok := openFields(typ, flags, hasFlags, mode, succeeded); ok {
			for i, n := range openFieldNames {
				if !has(n) {
					e.values[n] = vals[i]
				}
			}
		}
	}
	if !has("evt.dir") {
		e.values["evt.dir"] = "<"
	}
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
		vals[0], vals[1] = OpenAccess(flags)
		tmpfile := flagSet(flags, "O_TMPFILE")
		vals[2] = flagSet(flags, "O_F_CREATED") || (tmpfile && succeeded)
		vals[3] = typ != "open_by_handle_at" && (tmpfile || flagSet(flags, "O_CREAT")) && execMode()
	}
	return vals, true
}

// flagSet reports whether a flags string ("O_RDWR|O_CREAT") names flag.
func flagSet(flags, flag string) bool {
	for rest := flags; rest != ""; {
		i := strings.IndexAny(rest, "| ")
		tok := rest
		if i >= 0 {
			tok, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if tok == flag {
			return true
		}
	}
	return false
}

// OpenAccess tells from an open flags string ("O_RDWR|O_CREAT") whether the
// open asks for read and for write access.
func OpenAccess(flags string) (read, write bool) {
	switch {
	case flagSet(flags, "O_RDWR"):
		read, write = true, true
	default:
		read, write = flagSet(flags, "O_RDONLY"), flagSet(flags, "O_WRONLY")
	}
	if !read && !write && !strings.Contains(flags, "O_PATH") {
		// O_RDONLY is 0: a flags string without an access mode reads.
		read = true
	}
	return read, write
}
