package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
)

// Event is one event: the values of its fields by key, read on demand. An
// event either holds its values (set one by one, or decoded from the
// replay format) or reads them from a Source (a kernel record and the
// process table) the first time a rule, an output or the Rego input asks
// for them; either way each value is read once per event and kept. The
// values Falco derives from others (fd.directory from fd.name) are
// derived when the event has no value of its own. A field the event lacks
// is absent: every comparison on it is false.
//
// An Event is reused from event to event with Reset, so reading one
// allocates nothing once its tables have grown; values read from a source
// may share memory with it, and are valid until the next Reset. Snapshot
// makes an event that keeps its values.
type Event struct {
	index []uint32 // by key: 1 + the position of its slot, 0 when not read yet
	slots []slot
	src   Source
	// extra holds the values given under names that are no field.
	extra map[string]any
	lists []Value // the elements of derived lists, reused
	// derivedAny is set once a slot holds a derived value, which a later
	// Set may make stale.
	derivedAny bool
	open       openMemo
}

// openMemo holds the four evt.is_open_* fields, derived together.
type openMemo struct {
	read, ok bool
	vals     [4]bool
}

// A Source supplies the values of an event on demand.
type Source interface {
	// Value returns the value of key k; ok is false when the source has
	// none (the value Falco derives from others then applies, if any). It
	// may read other keys of e (Get) and keep values it found on the way
	// (Put).
	Value(e *Event, k Key) (v Value, ok bool)
	// Keys calls fn with every key the source may have a value for: what
	// Names, MarshalJSON and Snapshot read.
	Keys(fn func(Key))
}

type slotState uint8

const (
	slotBusy    slotState = iota // being read: a value depending on itself is absent
	slotPresent                  // holds v
	slotAbsent
)

type slot struct {
	key     Key
	state   slotState
	derived bool // v was derived from other values
	v       Value
}

// NewEvent returns an empty event.
func NewEvent() *Event { return &Event{} }

// NewEventSize returns an empty event with room for n values.
func NewEventSize(n int) *Event { return &Event{slots: make([]slot, 0, n)} }

// Reset empties the event for the next one, keeping its tables, and reads
// its values from src (nil: none but those set).
func (e *Event) Reset(src Source) {
	for _, s := range e.slots {
		e.index[s.key] = 0
	}
	e.slots = e.slots[:0]
	e.lists = e.lists[:0]
	e.src = src
	e.extra = nil
	e.derivedAny = false
	e.open = openMemo{}
}

// grow makes the index cover every key named so far.
func (e *Event) grow() {
	n := NumKeys()
	if n <= len(e.index) {
		return
	}
	index := make([]uint32, n+n/4)
	copy(index, e.index)
	e.index = index
}

// Get returns the value of key k, reading it from the source or deriving
// it the first time.
func (e *Event) Get(k Key) (Value, bool) {
	if int(k) >= len(e.index) {
		e.grow()
	} else if i := e.index[k]; i != 0 {
		s := &e.slots[i-1]
		return s.v, s.state == slotPresent
	}
	i := len(e.slots)
	e.slots = append(e.slots, slot{key: k, state: slotBusy})
	e.index[k] = uint32(i + 1)
	var v Value
	ok, derived := false, false
	if e.src != nil {
		v, ok = e.src.Value(e, k)
	}
	if !ok {
		if v, ok = derive(e, k); ok {
			derived = true
			e.derivedAny = true
		}
	}
	s := &e.slots[i]
	s.derived = derived
	if ok && v.kind != 0 {
		s.state, s.v = slotPresent, v
	} else {
		s.state = slotAbsent
		v, ok = Value{}, false
	}
	return v, ok
}

// Text returns the value of key k as text (Value.Text); a number's text is
// kept, so it is formatted once per event.
func (e *Event) Text(k Key) (string, bool) {
	v, ok := e.Get(k)
	if !ok {
		return "", false
	}
	if (v.kind == KindInt || v.kind == KindUint) && v.s == "" {
		s, _ := v.Text()
		e.slots[e.index[k]-1].v.s = s
		return s, true
	}
	return v.Text()
}

// Values appends the values of key k to dst: its value, or the elements
// of a list for a key that may hold several (Key.Multi). A list under a
// key of one value is no value.
func (e *Event) Values(k Key, dst []Value) []Value {
	v, ok := e.Get(k)
	if !ok {
		return dst
	}
	if v.kind != KindList {
		return append(dst, v)
	}
	if !k.Multi() {
		return dst
	}
	for _, x := range v.list {
		if x.kind != 0 && x.kind != KindList {
			dst = append(dst, x)
		}
	}
	return dst
}

// Put keeps v as the value of k unless k has been read already: for a
// source that finds several values at once.
func (e *Event) Put(k Key, v Value) {
	if int(k) >= len(e.index) {
		e.grow()
	}
	if e.index[k] != 0 || v.kind == 0 {
		return
	}
	e.slots = append(e.slots, slot{key: k, state: slotPresent, v: v})
	e.index[k] = uint32(len(e.slots))
}

// SetKey stores v as the value of k, replacing any; the zero Value makes k
// absent.
func (e *Event) SetKey(k Key, v Value) {
	if e.derivedAny {
		e.dropDerived()
	}
	if int(k) >= len(e.index) {
		e.grow()
	}
	st := slotPresent
	if v.kind == 0 {
		st = slotAbsent
	}
	if i := e.index[k]; i != 0 {
		e.slots[i-1] = slot{key: k, state: st, v: v}
		return
	}
	e.slots = append(e.slots, slot{key: k, state: st, v: v})
	e.index[k] = uint32(len(e.slots))
}

// dropDerived forgets the values read or derived so far, which a value set
// now may change; the values set stay.
func (e *Event) dropDerived() {
	kept := e.slots[:0]
	for _, s := range e.slots {
		e.index[s.key] = 0
		if s.state != slotBusy && !s.derived {
			kept = append(kept, s)
			e.index[s.key] = uint32(len(kept))
		}
	}
	e.slots = kept
	e.derivedAny = false
	e.open = openMemo{}
}

// Set stores the value of a field by name, in any of its spellings
// (KeyOf). v is a string, a bool, an integer, a json.Number, a Value, a
// []string or []any for list fields, an array for an ancestor field
// (proc.aname: index 0 the process) or a field taking an index, an object
// for a field taking a key (evt.arg: {"flags": ...}), or nil for none. A
// name that is no field is kept as it is, for Raw, Names and MarshalJSON.
func (e *Event) Set(name string, v any) {
	k, ok := KeyOf(name)
	if !ok {
		if e.extra == nil {
			e.extra = map[string]any{}
		}
		e.extra[name] = v
		return
	}
	switch x := v.(type) {
	case map[string]any:
		e.setContainer(k, x, true)
		return
	case []any, []string:
		if f := k.Field(); !k.hasArg() && !f.List && f.Arg != ArgNone {
			e.setContainer(k, x, true)
			return
		}
	}
	val, _ := valueOf(v)
	e.SetKey(k, val)
}

func (k Key) hasArg() bool { return k.info().hasArg }

// setContainer stores the elements of an array or object given for a
// field that takes an argument (proc.aname, evt.arg) under their keys;
// with replace false, keys already holding a value keep it.
func (e *Event) setContainer(k Key, c any, replace bool) {
	f := k.Field()
	put := func(ek Key, ok bool, x any) {
		if !ok {
			return
		}
		if !replace && int(ek) < len(e.index) && e.index[ek] != 0 {
			return
		}
		if val, ok := valueOf(x); ok && val.kind != KindList {
			e.SetKey(ek, val)
		}
	}
	switch c := c.(type) {
	case map[string]any:
		if k.hasArg() || f.Arg == ArgIndexOptional {
			return
		}
		for _, a := range slices.Sorted(maps.Keys(c)) {
			ek, err := argKey(f, a)
			put(ek, err == nil, c[a])
		}
	case []string:
		for i, x := range c {
			put(e.indexKey(k, i), true, x)
		}
	case []any:
		for i, x := range c {
			if ek := e.indexKey(k, i); ek != noKey {
				put(ek, true, x)
			}
		}
	}
}

// indexKey is the key of element i of an array given for k: the
// ancestor, or the argument numbered i.
func (e *Event) indexKey(k Key, i int) Key {
	f := k.Field()
	if f.Arg == ArgIndexOptional {
		if ak, ok := AncestorKey(k, i); ok {
			return ak
		}
		return noKey
	}
	ak, err := argKey(f, strconv.Itoa(i))
	if err != nil {
		return noKey
	}
	return ak
}

// Raw returns the value of a field by name as the replay format holds it:
// a string, a json.Number, a bool, a []any; for an ancestor field without
// index (proc.aname), the array of the ancestors' values from the process
// itself up.
func (e *Event) Raw(name string) (any, bool) {
	k, ok := KeyOf(name)
	if !ok {
		v, ok := e.extra[name]
		return v, ok
	}
	if k.Field().Arg == ArgIndexOptional && !k.hasArg() {
		var out []any
		for i := 0; ; i++ {
			ak, ok := AncestorKey(k, i)
			if !ok {
				break
			}
			v, ok := e.Get(ak)
			if !ok {
				break
			}
			out = append(out, v.Any())
		}
		return out, len(out) > 0
	}
	v, ok := e.Get(k)
	if !ok {
		return nil, false
	}
	return v.Any(), true
}

// materialize reads every value the event may have whose name want
// accepts (all when want is nil).
func (e *Event) materialize(want func(string) bool) {
	get := func(k Key) {
		if want == nil || want(k.Name()) {
			e.Get(k)
		}
	}
	if e.src != nil {
		e.src.Keys(get)
	}
	for _, k := range derivedKeys {
		get(k)
	}
}

// each calls fn with every value the event has whose name want accepts
// (all when want is nil), in no order: those set or read from the source,
// and the fields Falco derives (not the lists gathered from other values,
// such as proc.aname without index).
func (e *Event) each(want func(string) bool, fn func(name string, v Value)) {
	e.materialize(want)
	for _, s := range e.slots {
		if s.state == slotPresent && (!s.derived || isDerivedField[s.key]) {
			if name := s.key.Name(); want == nil || want(name) {
				fn(name, s.v)
			}
		}
	}
}

// Names returns the names of the fields the event holds, sorted.
func (e *Event) Names() []string { return e.NamesWhere(nil) }

// NamesWhere returns the names of the fields the event holds that want
// accepts, sorted, reading no other field (all when want is nil).
func (e *Event) NamesWhere(want func(name string) bool) []string {
	var out []string
	e.each(want, func(name string, _ Value) { out = append(out, name) })
	for n := range e.extra {
		if want == nil || want(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// MarshalJSON writes the event in the replay format, every field under its
// canonical name (proc.pname, proc.aname[2], evt.arg.flags).
func (e *Event) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(e.slots)+len(e.extra))
	for n, v := range e.extra {
		m[n] = v
	}
	e.each(nil, func(name string, v Value) { m[name] = v.Any() })
	return json.Marshal(m)
}

// Snapshot returns an event holding every value of e, in memory of its
// own: what an alert keeps of an event whose source is about to be reused.
func (e *Event) Snapshot() *Event {
	e.materialize(nil)
	s := &Event{slots: make([]slot, 0, len(e.slots)), index: make([]uint32, len(e.index))}
	// One copy of every string, in one block.
	n := 0
	for _, sl := range e.slots {
		n += sl.v.textLen()
	}
	block := make([]byte, 0, n)
	for _, sl := range e.slots {
		if sl.state == slotBusy {
			continue
		}
		sl.v, block = sl.v.cloneInto(block)
		s.slots = append(s.slots, sl)
		s.index[sl.key] = uint32(len(s.slots))
	}
	if len(e.extra) > 0 {
		s.extra = make(map[string]any, len(e.extra))
		for n, v := range e.extra {
			s.extra[n] = v
		}
	}
	return s
}

// DecodeEvent reads one event in the replay format: a JSON object keyed by
// field name (see testdata/README.md). num is the event's 1-based position
// in its stream; it becomes evt.num unless the object sets one. Fields that
// Falco derives from others are derived when absent. It returns an error
// when the line is not a JSON object, a name is no field (naming the
// nearest field when it looks misspelt), or a catalog field has a value
// of the wrong JSON type.
func DecodeEvent(line []byte, num uint64) (*Event, error) {
	e := NewEvent()
	if err := DecodeEventInto(e, line, num); err != nil {
		return nil, err
	}
	return e, nil
}

// DecodeEventInto is DecodeEvent into an event that is reset and reused.
func DecodeEventInto(e *Event, line []byte, num uint64) error {
	e.Reset(nil)
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("event is not a JSON object: %w", err)
	}
	if obj == nil {
		return fmt.Errorf("event is not a JSON object")
	}
	// In name order, so that the error of an event with several is
	// always the same.
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		if err := checkName(name, obj[name]); err != nil {
			return err
		}
		if err := checkValue(name, obj[name]); err != nil {
			return err
		}
	}
	// Values given under their own names win over the elements of arrays
	// and objects naming the same field (proc.pname over proc.aname[1]).
	var containers []string
	for name, v := range obj {
		k, _, err := keyOf(name) // checkName saw it is a field
		if err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
		switch v.(type) {
		case map[string]any:
			containers = append(containers, name)
			continue
		case []any:
			if f := k.Field(); !k.hasArg() && !f.List && f.Arg != ArgNone {
				containers = append(containers, name)
				continue
			}
		}
		val, _ := valueOf(v)
		e.SetKey(k, val)
	}
	sort.Strings(containers)
	for _, name := range containers {
		k, _ := KeyOf(name)
		e.setContainer(k, obj[name], false)
	}
	if _, ok := e.Get(keyEvtNum); !ok {
		e.SetKey(keyEvtNum, Uint(num))
	}
	return nil
}

// checkValue rejects values whose JSON type cannot hold the field's type.
// checkName refuses a name that is no field: a misspelt field would make
// the event silently lack it, and a test event pass or fail by accident.
// A name holding an object is likely a nested document (the Rego input's
// shape, {"proc": {"name": ...}}), which the replay format writes flat.
func checkName(name string, v any) error {
	if _, ok, err := keyOf(name); ok || err != nil {
		return nil // a field, or one with a bad argument, which decoding reports
	}
	if _, obj := v.(map[string]any); obj {
		return fmt.Errorf("unknown field %q holding an object: an event's fields are flat, as in {\"proc.name\": ...}", name)
	}
	if s := SuggestField(name); s != "" {
		return fmt.Errorf("unknown field %q (did you mean %s?)", name, s)
	}
	return fmt.Errorf("unknown field %q", name)
}

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
	val, ok := valueOf(v)
	if !ok || val.kind == KindList {
		return nil
	}
	switch {
	case fld.Type.Numeric():
		if _, ok := val.Int(); !ok {
			return fmt.Errorf("field %s: %v is not a number", fld.Name, v)
		}
	case fld.Type == TypeBool:
		if _, ok := val.Bool(); !ok {
			return fmt.Errorf("field %s: %v is not a boolean", fld.Name, v)
		}
	}
	return nil
}
