package policy

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// A Key names one value of an event: a catalog field, or a field with its
// argument (evt.arg.flags, proc.env[HOME], proc.aname[2]). Every spelling
// of one value has one key: proc.pname is proc.aname[1], evt.arg[flags] is
// evt.arg.flags, fd.cnet is fd.cip. Keys are small integers, so an event
// indexes its values by key; the catalog's fields have theirs from the
// start, a field with an argument gets one the first time it is named.
type Key uint32

// keyInfo describes a key.
type keyInfo struct {
	name   string // the canonical spelling, the replay format's
	field  *Field
	arg    string
	hasArg bool
	index  int // the ancestor index, -1 for other keys
	base   Key // the key of the field without its argument
	// multi: the value may be several (a list field, an ancestor field
	// without index, a field matching the client or the server value).
	multi bool
}

// maxKeys bounds the keys one process names: a replay stream naming ever
// new arguments gets an error past it, not unbounded memory.
const (
	keyChunk = 256
	maxKeys  = 1 << 16
)

// registry holds every key named so far. Infos are written before the count
// that publishes them, so a key handed over between goroutines (in a
// compiled tree) reads its info without a lock.
var registry struct {
	mu     sync.Mutex
	byName map[string]Key
	chunks [maxKeys / keyChunk]*[keyChunk]keyInfo
	n      atomic.Uint32
}

// info returns the description of k; k must come from this package.
func (k Key) info() *keyInfo { return &registry.chunks[k/keyChunk][k%keyChunk] }

// Name returns the key's canonical spelling (proc.pname, evt.arg.flags,
// proc.env[HOME], proc.aname[2]).
func (k Key) Name() string { return k.info().name }

// Field returns the catalog field of the key.
func (k Key) Field() *Field { return k.info().field }

// Arg returns the key's argument and whether it has one; an ancestor's
// argument is its index (proc.aname[2]: "2"; proc.pname: "1").
func (k Key) Arg() (string, bool) { i := k.info(); return i.arg, i.hasArg }

// Index returns an ancestor key's index (0 the process, 1 its parent), -1
// for other keys.
func (k Key) Index() int { return k.info().index }

// Base returns the key of the field without its argument (evt.arg for
// evt.arg.flags, proc.aname for proc.pname); a key without argument is its
// own base.
func (k Key) Base() Key { return k.info().base }

// Multi reports whether the key's value may be several values: a list
// field (fd.types), an ancestor field without index (proc.aname), a field
// that matches the client or the server value (fd.ip).
func (k Key) Multi() bool { return k.info().multi }

func (k Key) String() string { return k.Name() }

// NumKeys returns how many keys have been named; every key is below it.
func NumKeys() int { return int(registry.n.Load()) }

// intern returns the key spelled name, adding it when new. It returns an
// error when the registry is full.
func intern(name string, mk func() keyInfo) (Key, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if k, ok := registry.byName[name]; ok {
		return k, nil
	}
	n := registry.n.Load()
	if n >= keyLimit {
		return 0, errTooManyKeys
	}
	c := &registry.chunks[n/keyChunk]
	if *c == nil {
		*c = new([keyChunk]keyInfo)
	}
	info := mk()
	info.name = name
	if info.base == noKey {
		info.base = Key(n)
	}
	(*c)[n%keyChunk] = info
	registry.byName[name] = Key(n)
	registry.n.Store(n + 1)
	return Key(n), nil
}

var errTooManyKeys = fmt.Errorf("more than %d distinct fields named", maxKeys)

// keyLimit is maxKeys, lowered by tests.
var keyLimit uint32 = maxKeys

// noKey marks a keyInfo whose base is itself, while it is built.
const noKey = ^Key(0)

// lookupName returns the key already named name, without adding one.
func lookupName(name string) (Key, bool) {
	registry.mu.Lock()
	k, ok := registry.byName[name]
	registry.mu.Unlock()
	return k, ok
}

// ancestorFields pairs each ancestor field with the plain fields naming
// its index 0 (the process) and 1 (the parent).
var ancestorFields = map[string][2]string{
	"proc.aname":    {"proc.name", "proc.pname"},
	"proc.apid":     {"proc.pid", "proc.ppid"},
	"proc.aexe":     {"proc.exe", "proc.pexe"},
	"proc.aexepath": {"proc.exepath", "proc.pexepath"},
	"proc.acmdline": {"proc.cmdline", "proc.pcmdline"},
}

// eitherFields are the fields that hold the client or the server value:
// they match when either does.
var eitherFields = map[string][2]string{
	"fd.ip":   {"fd.cip", "fd.sip"},
	"fd.port": {"fd.cport", "fd.sport"},
	"fd.net":  {"fd.cip", "fd.sip"},
}

// netFields are the network fields, each the address field it tests.
var netFields = map[string]string{
	"fd.cnet": "fd.cip", "fd.snet": "fd.sip", "fd.lnet": "fd.lip", "fd.rnet": "fd.rip",
}

// precomputedAncestors is how many ancestor keys per field exist from the
// start, so that walking the ancestors names no new key.
const precomputedAncestors = 64

var (
	// fieldKeys maps each catalog field to the key it names without an
	// argument (proc.pname: proc.aname[1]).
	fieldKeys = map[*Field]Key{}
	// ancestorKeys holds the first keys of each ancestor field, by index.
	ancestorKeys = map[*Field]*[precomputedAncestors]Key{}
	// keyEvtNum is the key DecodeEvent sets when the event has none.
	keyEvtNum Key
)

func init() {
	registry.byName = map[string]Key{}
	must := func(k Key, err error) Key {
		if err != nil {
			panic(err)
		}
		return k
	}
	plainOf := map[string]bool{}
	for _, pair := range ancestorFields {
		plainOf[pair[0]], plainOf[pair[1]] = true, true
	}
	for i := range catalog {
		f := &catalog[i]
		if plainOf[f.Name] || netFields[f.Name] != "" {
			continue
		}
		_, either := eitherFields[f.Name]
		multi := f.List || f.Arg == ArgIndexOptional || either
		fieldKeys[f] = must(intern(f.Name, func() keyInfo { return keyInfo{field: f, index: -1, base: noKey, multi: multi} }))
	}
	for name, pair := range ancestorFields {
		f := LookupField(name)
		keys := new([precomputedAncestors]Key)
		for i := range keys {
			keys[i] = must(ancestorKey(f, i))
		}
		ancestorKeys[f] = keys
		fieldKeys[LookupField(pair[0])], fieldKeys[LookupField(pair[1])] = keys[0], keys[1]
	}
	for net, addr := range netFields {
		fieldKeys[LookupField(net)] = fieldKeys[LookupField(addr)]
	}
	keyEvtNum = MustKey("evt.num")
	initDerivers()
}

// ancestorKey interns index i of ancestor field f; indexes 0 and 1 are
// spelled as the plain fields (proc.name, proc.pname).
func ancestorKey(f *Field, i int) (Key, error) {
	name := f.Name + "[" + strconv.Itoa(i) + "]"
	if pair, ok := ancestorFields[f.Name]; ok && i < 2 {
		name = pair[i]
	}
	base := fieldKeys[f]
	return intern(name, func() keyInfo {
		return keyInfo{field: f, arg: strconv.Itoa(i), hasArg: true, index: i, base: base}
	})
}

// argKey interns field f with argument arg (not an ancestor field).
func argKey(f *Field, arg string) (Key, error) {
	name := f.Name + "[" + arg + "]"
	if f.Arg == ArgIndexOrKey {
		name = f.Name + "." + arg
	}
	if k, ok := lookupName(name); ok {
		return k, nil
	}
	base := fieldKeys[f]
	return intern(name, func() keyInfo { return keyInfo{field: f, arg: arg, hasArg: true, index: -1, base: base} })
}

// AncestorKey returns the key of index i of the ancestor field of key
// base (proc.aname: i 1 is proc.pname); ok is false when base is no
// ancestor field or the registry is full.
func AncestorKey(base Key, i int) (Key, bool) {
	f := base.Field()
	keys, ok := ancestorKeys[f]
	if !ok || i < 0 {
		return 0, false
	}
	if i < precomputedAncestors {
		return keys[i], true
	}
	k, err := ancestorKey(f, i)
	return k, err == nil
}

// MustKey returns the key of a catalog field name, panicking when there
// is none: for the fixed names a program reads.
func MustKey(name string) Key {
	k, ok := KeyOf(name)
	if !ok {
		panic("policy: no field " + name)
	}
	return k
}

// KeyOf returns the key of a field name in any of its spellings: a
// catalog field (proc.pname), with an argument in brackets (proc.env[HOME],
// proc.aname[2]) or after a dot (evt.arg.flags, proc.env.HOME). ok is
// false when the name is no catalog field, its argument is not one the
// field takes, or the registry is full.
func KeyOf(name string) (Key, bool) {
	k, ok, err := keyOf(name)
	return k, ok && err == nil
}

// keyOf is KeyOf telling a full registry (err) from a name that is no
// field (ok false).
func keyOf(name string) (Key, bool, error) {
	if f := catalogIndex[name]; f != nil {
		return fieldKeys[f], true, nil
	}
	if i := strings.IndexByte(name, '['); i > 0 && strings.HasSuffix(name, "]") {
		if f := catalogIndex[name[:i]]; f != nil && f.Arg != ArgNone {
			return keyOfArg(f, name[i+1:len(name)-1])
		}
		return 0, false, nil
	}
	for i := strings.LastIndexByte(name, '.'); i > 0; i = strings.LastIndexByte(name[:i], '.') {
		if f := catalogIndex[name[:i]]; f != nil && f.Arg != ArgNone && f.Arg != ArgIndexOptional {
			return keyOfArg(f, name[i+1:])
		}
	}
	return 0, false, nil
}

func keyOfArg(f *Field, arg string) (Key, bool, error) {
	if f.Arg == ArgIndexOptional {
		n, ok := parseInt(arg)
		if !ok || n < 0 || n >= maxKeys {
			return 0, false, nil
		}
		k, err := ancestorKey(f, int(n))
		return k, err == nil, err
	}
	k, err := argKey(f, arg)
	return k, err == nil, err
}

// KeyOfRef returns the key a field reference reads (its transformers
// aside); ok is false when the reference's argument is not one its field
// takes (checkRef rejects it) or the registry is full.
func KeyOfRef(ref *FieldRef) (Key, bool) {
	if !ref.HasArg {
		k, ok := fieldKeys[ref.Field]
		return k, ok
	}
	switch ref.Field.Arg {
	case ArgNone:
		return 0, false
	case ArgIndexOptional:
		if ref.Index < 0 {
			return 0, false
		}
		return AncestorKey(fieldKeys[ref.Field], ref.Index)
	}
	k, err := argKey(ref.Field, ref.Arg)
	return k, err == nil
}
