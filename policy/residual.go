package policy

// External is a condition that a front end evaluates itself, on the whole
// event: the part of a Rego rule that could not be translated into
// comparisons, evaluated by OPA (see package policy/rego). Implementations
// must be safe for concurrent use and must not keep the event.
type External interface {
	// Eval reports whether the condition holds for the event.
	Eval(e *Event) bool
	// String describes the condition (for a Rego residual, its query).
	String() string
}

// Residual is a leaf expression that evaluators cannot look into: they
// call X.Eval. The compiler treats it as true when it derives kernel
// predicates (it constrains nothing it can check) and evaluates it last in
// userspace only because And evaluates its operands in order and front
// ends put residuals after the comparisons.
type Residual struct{ X External }

func (*Residual) expr() {}

// String renders the residual as a pseudo-call, rego(<query>); it is not
// Falco syntax.
func (e *Residual) String() string { return "rego(" + quoteValue(e.X.String()) + ")" }
