package policy

import (
	"encoding/json"
	"strconv"
	"unsafe"
)

// ValueKind is the kind of a Value.
type ValueKind uint8

// Value kinds.
const (
	KindText ValueKind = iota + 1 // a string
	KindInt                       // a signed integer
	KindUint                      // an unsigned integer (shown above the int64 range as such)
	KindBool                      // a boolean
	KindList                      // several values (fd.types, proc.aname without index)
)

// Value is one value of an event field, typed, with no interface boxing:
// text, an integer, a boolean, or a list of values. A number may carry its
// text as the event gave it (a replay event's 007), which is what the
// reference evaluator and the renderer read.
type Value struct {
	kind ValueKind
	s    string
	n    int64
	list []Value
}

// Text returns a text value.
func Text(s string) Value { return Value{kind: KindText, s: s} }

// Int returns a signed integer value.
func Int(n int64) Value { return Value{kind: KindInt, n: n} }

// Uint returns an unsigned integer value.
func Uint(n uint64) Value { return Value{kind: KindUint, n: int64(n)} }

// Bool returns a boolean value.
func Bool(b bool) Value {
	if b {
		return Value{kind: KindBool, n: 1}
	}
	return Value{kind: KindBool}
}

// List returns a list of values; the list is not copied.
func List(vs []Value) Value { return Value{kind: KindList, list: vs} }

// number returns a number as JSON gave it: an integer when its text reads
// as one (keeping the text), else text.
func number(text string) Value {
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return Value{kind: KindInt, n: n, s: text}
	}
	if n, err := strconv.ParseUint(text, 10, 64); err == nil {
		return Value{kind: KindUint, n: int64(n), s: text}
	}
	return Text(text)
}

// Kind returns the value's kind; 0 for the zero Value.
func (v Value) Kind() ValueKind { return v.kind }

// Elems returns a list's values; nil for other kinds.
func (v Value) Elems() []Value { return v.list }

// Text returns the value as text, as the reference evaluator reads it:
// a string as it is, a number in decimal, a boolean as true or false. ok is
// false for lists. Numbers without their text are formatted, which
// allocates.
func (v Value) Text() (string, bool) {
	switch v.kind {
	case KindText:
		return v.s, true
	case KindInt:
		if v.s != "" {
			return v.s, true
		}
		return strconv.FormatInt(v.n, 10), true
	case KindUint:
		if v.s != "" {
			return v.s, true
		}
		return strconv.FormatUint(uint64(v.n), 10), true
	case KindBool:
		if v.n != 0 {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// AppendText appends the value's text to dst, as Text has it; it does not
// allocate beyond growing dst.
func (v Value) AppendText(dst []byte) ([]byte, bool) {
	switch v.kind {
	case KindInt:
		if v.s == "" {
			return strconv.AppendInt(dst, v.n, 10), true
		}
	case KindUint:
		if v.s == "" {
			return strconv.AppendUint(dst, uint64(v.n), 10), true
		}
	}
	s, ok := v.Text()
	return append(dst, s...), ok
}

// Int returns the value as a number, as the reference evaluator reads it:
// an integer, or text that reads as one (values above the int64 range
// wrap, as unsigned fields do in C). ok is false for booleans, lists and
// other text.
func (v Value) Int() (int64, bool) {
	switch v.kind {
	case KindInt, KindUint:
		return v.n, true
	case KindText:
		return ParseInt(v.s)
	}
	return 0, false
}

// Bool returns the value as a boolean: a boolean, or the text true or
// false.
func (v Value) Bool() (bool, bool) {
	switch v.kind {
	case KindBool:
		return v.n != 0, true
	case KindText:
		switch v.s {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// Any returns the value as the replay format's JSON has it: a string, a
// json.Number, a bool, or a []any of those.
func (v Value) Any() any {
	switch v.kind {
	case KindText:
		return v.s
	case KindInt, KindUint:
		s, _ := v.Text()
		return json.Number(s)
	case KindBool:
		return v.n != 0
	case KindList:
		out := make([]any, len(v.list))
		for i, e := range v.list {
			out[i] = e.Any()
		}
		return out
	}
	return nil
}

// textLen is the length of the value's strings.
func (v Value) textLen() int {
	n := len(v.s)
	for _, e := range v.list {
		n += e.textLen()
	}
	return n
}

// cloneInto returns the value with its strings copied into block (grown
// as needed), for a value kept past the record it was read from.
func (v Value) cloneInto(block []byte) (Value, []byte) {
	if v.s != "" {
		start := len(block)
		if cap(block)-start < len(v.s) {
			block = make([]byte, 0, len(v.s))
			start = 0
		}
		block = append(block, v.s...)
		v.s = unsafe.String(&block[start], len(v.s))
	}
	if v.list != nil {
		l := make([]Value, len(v.list))
		for i, e := range v.list {
			l[i], block = e.cloneInto(block)
		}
		v.list = l
	}
	return v, block
}

// valueOf converts a Go value as Set takes it (see Set) to a Value; ok is
// false for nil and for types it does not take.
func valueOf(v any) (Value, bool) {
	switch x := v.(type) {
	case Value:
		return x, x.kind != 0
	case string:
		return Text(x), true
	case bool:
		return Bool(x), true
	case int:
		return Int(int64(x)), true
	case int32:
		return Int(int64(x)), true
	case int64:
		return Int(x), true
	case uint32:
		return Uint(uint64(x)), true
	case uint64:
		return Uint(x), true
	case json.Number:
		return number(string(x)), true
	case float64:
		return Text(strconv.FormatFloat(x, 'f', -1, 64)), true
	case []string:
		l := make([]Value, len(x))
		for i, s := range x {
			l[i] = Text(s)
		}
		return List(l), true
	case []any:
		l := make([]Value, 0, len(x))
		for _, e := range x {
			if ev, ok := valueOf(e); ok && ev.kind != KindList {
				l = append(l, ev)
			} else {
				l = append(l, Value{})
			}
		}
		return List(l), true
	}
	return Value{}, false
}
