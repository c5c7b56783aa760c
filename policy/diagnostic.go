package policy

// Diagnostic is an error or a warning found while loading rules, by any
// front end. Code names its kind as Falco does (LOAD_ERR_COMPILE_CONDITION,
// LOAD_UNUSED_MACRO...) or as Peregrine adds them (LOAD_ERR_REGO...); Item
// names the list, macro or rule it concerns.
type Diagnostic struct {
	Pos  Pos    `json:"pos"`
	Code string `json:"code"`
	Item string `json:"item,omitempty"`
	Msg  string `json:"message"`
}

// Error renders the problem as "file:line:col: item: message".
func (e *Diagnostic) Error() string {
	s := e.Pos.String()
	if e.Item != "" {
		s += ": " + e.Item
	}
	return s + ": " + e.Msg
}
