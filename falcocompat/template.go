package falcocompat

import "github.com/peregrine-sec/peregrine/policy"

// ParseOutput parses an output template as a rule's output key; see
// policy.ParseOutput, which implements it. Errors are *SyntaxError, with
// the offset of the bad field's '%'.
func ParseOutput(s string) (policy.Template, error) { return policy.ParseOutput(s) }
