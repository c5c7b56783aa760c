package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Expr is a boolean expression over the fields of an event. The concrete
// types are *And, *Or, *Not, *Compare and *Const.
type Expr interface {
	expr()
	// String renders the expression in Falco's condition syntax.
	String() string
}

// And is true when every operand is true. An empty And is true.
type And struct{ Exprs []Expr }

// Or is true when any operand is true. An empty Or is false.
type Or struct{ Exprs []Expr }

// Not negates X.
type Not struct{ X Expr }

// Const is a constant truth value, produced by folding.
type Const struct{ Value bool }

// Op is a comparison operator.
type Op uint8

// Comparison operators, with Falco's spelling.
const (
	OpEq Op = iota + 1
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
	OpContains
	OpIContains
	OpBContains
	OpStartsWith
	OpBStartsWith
	OpEndsWith
	OpGlob
	OpIGlob
	OpRegex
	OpIn
	OpIntersects
	OpPmatch
	OpExists
)

var opNames = [...]string{
	OpEq: "=", OpNe: "!=", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">=",
	OpContains: "contains", OpIContains: "icontains", OpBContains: "bcontains",
	OpStartsWith: "startswith", OpBStartsWith: "bstartswith", OpEndsWith: "endswith",
	OpGlob: "glob", OpIGlob: "iglob", OpRegex: "regex", OpIn: "in",
	OpIntersects: "intersects", OpPmatch: "pmatch", OpExists: "exists",
}

// String returns the operator as Falco writes it.
func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", o)
}

// ParseOp returns the operator spelled s ("==" is "="), and false when s is
// not an operator.
func ParseOp(s string) (Op, bool) {
	if s == "==" {
		return OpEq, true
	}
	for i, n := range opNames {
		if n == s && n != "" {
			return Op(i), true
		}
	}
	return 0, false
}

// IsList reports whether the operator takes a list of values.
func (o Op) IsList() bool { return o == OpIn || o == OpIntersects || o == OpPmatch }

// Transformer is a function applied to a field's value before comparing it.
type Transformer uint8

// Transformers, as Falco names them.
const (
	TransToLower Transformer = iota + 1
	TransToUpper
	TransB64
	TransBasename
	TransLen
)

var transformerNames = [...]string{
	TransToLower: "tolower", TransToUpper: "toupper", TransB64: "b64",
	TransBasename: "basename", TransLen: "len",
}

func (t Transformer) String() string {
	if int(t) < len(transformerNames) {
		return transformerNames[t]
	}
	return fmt.Sprintf("Transformer(%d)", t)
}

// ParseTransformer returns the transformer named s.
func ParseTransformer(s string) (Transformer, bool) {
	for i, n := range transformerNames {
		if n == s && n != "" {
			return Transformer(i), true
		}
	}
	return 0, false
}

// FieldRef names a field of the event, with an optional argument and the
// transformers applied to its value, innermost first.
type FieldRef struct {
	Field *Field
	// Arg is the text of the argument; HasArg tells an empty one from none.
	Arg    string
	HasArg bool
	// Index is the numeric argument of indexed fields, -1 when there is none.
	Index int
	// Dotted tells that the argument was written after a dot
	// (evt.arg.flags), not in brackets (evt.arg[flags]).
	Dotted       bool
	Transformers []Transformer
}

// Type returns the type of the value after the transformers.
func (r *FieldRef) Type() FieldType {
	t := r.Field.Type
	for _, tr := range r.Transformers {
		if tr == TransLen {
			t = TypeUint64
		} else {
			t = TypeString
		}
	}
	return t
}

// List reports whether the reference yields several values at once.
func (r *FieldRef) List() bool {
	list := r.Field.List && !r.HasArg
	for _, tr := range r.Transformers {
		if tr == TransLen {
			list = false
		}
	}
	return list
}

// Name returns the field name with its argument, as written in a condition.
func (r *FieldRef) Name() string {
	if !r.HasArg {
		return r.Field.Name
	}
	return r.Field.Name + "[" + r.Arg + "]"
}

// Spelling returns the field as the rule wrote it, the key Falco gives it
// in a JSON alert's output_fields: evt.arg.flags for an argument written
// after a dot, evt.arg[0] and proc.aname[2] for one in brackets.
func (r *FieldRef) Spelling() string {
	if r.Dotted && r.HasArg {
		return r.Field.Name + "." + r.Arg
	}
	return r.Name()
}

// String renders the reference with its transformers.
func (r *FieldRef) String() string {
	s := r.Name()
	for _, t := range r.Transformers {
		s = t.String() + "(" + s + ")"
	}
	return s
}

// Compare is a check of one field against literal values, another field
// (val(...)), or nothing (exists).
type Compare struct {
	Left FieldRef
	Op   Op
	// Modifier makes a scalar operator test a list of values.
	Modifier Modifier
	// Values holds the literals: one for scalar operators, any number for
	// list operators.
	Values []string
	// Right is set when the value is another field: val(proc.pname).
	Right *FieldRef
}

func (*And) expr()     {}
func (*Or) expr()      {}
func (*Not) expr()     {}
func (*Compare) expr() {}
func (*Const) expr()   {}

func joinExprs(list []Expr, sep string) string {
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i] = e.String()
	}
	return "(" + strings.Join(parts, sep) + ")"
}

func (e *And) String() string { return joinExprs(e.Exprs, " and ") }
func (e *Or) String() string  { return joinExprs(e.Exprs, " or ") }
func (e *Not) String() string { return "not " + e.X.String() }
func (e *Const) String() string {
	if e.Value {
		return "(evt.num >= 0)"
	}
	return "(evt.num < 0)"
}

// String renders the comparison in Falco's syntax, quoting values.
func (e *Compare) String() string {
	left := e.Left.String()
	switch {
	case e.Op == OpExists:
		return left + " exists"
	case e.Right != nil:
		return left + " " + e.Op.String() + " val(" + e.Right.String() + ")"
	case e.Op.IsList() || e.Modifier != ModNone:
		vals := make([]string, len(e.Values))
		for i, v := range e.Values {
			vals[i] = quoteValue(v)
		}
		op := e.Op.String()
		if e.Modifier != ModNone {
			op += " " + e.Modifier.String()
		}
		return left + " " + op + " (" + strings.Join(vals, ", ") + ")"
	}
	return left + " " + e.Op.String() + " " + quoteValue(e.Values[0])
}

func quoteValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\r\n()\"',=") {
		return v
	}
	return strconv.Quote(v)
}
