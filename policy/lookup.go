package policy

import "strconv"

// ancestorFields pairs each ancestor field with the plain fields for the
// process itself ([0]) and its parent ([1]), so an event may give either.
var ancestorFields = map[string][2]string{
	"proc.aname":    {"proc.name", "proc.pname"},
	"proc.apid":     {"proc.pid", "proc.ppid"},
	"proc.aexe":     {"proc.exe", "proc.pexe"},
	"proc.aexepath": {"proc.exepath", "proc.pexepath"},
	"proc.acmdline": {"proc.cmdline", "proc.pcmdline"},
}

// ancestorOf maps a plain field to its ancestor field and index.
var ancestorOf = func() map[string]struct {
	field string
	index int
} {
	m := map[string]struct {
		field string
		index int
	}{}
	for a, pair := range ancestorFields {
		for i, n := range pair {
			m[n] = struct {
				field string
				index int
			}{a, i}
		}
	}
	return m
}()

// eitherFields are the fields that hold the client or the server value:
// they match when either does.
var eitherFields = map[string][2]string{
	"fd.ip":   {"fd.cip", "fd.sip"},
	"fd.port": {"fd.cport", "fd.sport"},
	"fd.net":  {"fd.cip", "fd.sip"},
}

// netFields map each network field to the address it tests.
var netFields = map[string]string{
	"fd.cnet": "fd.cip", "fd.snet": "fd.sip", "fd.lnet": "fd.lip", "fd.rnet": "fd.rip",
}

// lookup returns the raw values of a reference, before transformers.
func (e *Event) lookup(ref *FieldRef) ([]any, bool) {
	f := ref.Field
	name := f.Name
	if ref.HasArg {
		if v, ok := e.scalar(ref.Name()); ok {
			return []any{v}, true
		}
	}
	switch f.Arg {
	case ArgNone:
		if v, ok := e.scalar(name); ok {
			return []any{v}, true
		}
		if addr, ok := netFields[name]; ok {
			return e.lookupName(addr)
		}
		if pair, ok := eitherFields[name]; ok {
			var out []any
			for _, n := range pair {
				if v, ok := e.scalar(n); ok {
					out = append(out, v)
				}
			}
			return out, len(out) > 0
		}
		if a, ok := ancestorOf[name]; ok {
			return e.ancestor(a.field, a.index)
		}
		if f.List {
			return e.list(name)
		}
		return nil, false
	case ArgIndexOptional:
		if ref.HasArg {
			return e.ancestor(name, ref.Index)
		}
		var out []any
		for i := 1; ; i++ {
			v, ok := e.ancestor(name, i)
			if !ok {
				break
			}
			out = append(out, v...)
		}
		return out, len(out) > 0
	case ArgIndexOrKey, ArgKeyOptional, ArgKeyRequired:
		if !ref.HasArg {
			if f.List {
				return e.list(name)
			}
			if v, ok := e.scalar(name); ok {
				return []any{v}, true
			}
			return nil, false
		}
		if v, ok := e.scalar(name + "." + ref.Arg); ok {
			return []any{v}, true
		}
		switch c := e.values[name].(type) {
		case map[string]any:
			if v, ok := c[ref.Arg]; ok && v != nil {
				return []any{v}, true
			}
		case []any:
			if i, err := strconv.Atoi(ref.Arg); err == nil && i >= 0 && i < len(c) && c[i] != nil {
				return []any{c[i]}, true
			}
		}
		if name == "evt.rawarg" {
			return e.lookup(&FieldRef{Field: LookupField("evt.arg"), Arg: ref.Arg, HasArg: true, Index: -1})
		}
	}
	return nil, false
}

// lookupName returns the values of a plain field by name.
func (e *Event) lookupName(name string) ([]any, bool) {
	f := LookupField(name)
	if f == nil {
		return nil, false
	}
	return e.lookup(&FieldRef{Field: f, Index: -1})
}

// scalar returns a non-null, non-array value stored under key.
func (e *Event) scalar(key string) (any, bool) {
	v, ok := e.values[key]
	if !ok || v == nil {
		return nil, false
	}
	switch v.(type) {
	case []any, map[string]any:
		return nil, false
	}
	return v, true
}

func (e *Event) list(key string) ([]any, bool) {
	l, ok := e.values[key].([]any)
	if !ok {
		return nil, false
	}
	return l, true
}

// ancestor returns the value of an ancestor field at index i: the name[i]
// key, the array element, or for 0 and 1 the plain field, the first of
// them the event holds as a value (an object is no value). Indexed
// references (proc.aname[2]) and the walk of proc.aname without an index
// read the same.
func (e *Event) ancestor(name string, i int) ([]any, bool) {
	if v, ok := e.scalar(name + "[" + strconv.Itoa(i) + "]"); ok {
		return []any{v}, true
	}
	if l, ok := e.values[name].([]any); ok && i < len(l) {
		if _, ok := toString(l[i]); ok {
			return []any{l[i]}, true
		}
	}
	if pair, ok := ancestorFields[name]; ok && i < 2 {
		if v, ok := e.scalar(pair[i]); ok {
			return []any{v}, true
		}
	}
	return nil, false
}
