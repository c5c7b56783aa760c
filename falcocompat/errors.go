package falcocompat

import (
	"fmt"

	"github.com/peregrine-sec/peregrine/policy"
)

// Pos is a position in a rules file.
type Pos = policy.Pos

// LoadError is an error or a warning found while loading rules. Code is
// Falco's code for it (LOAD_ERR_COMPILE_CONDITION, LOAD_UNUSED_MACRO...),
// Item names the list, macro or rule it concerns.
type LoadError struct {
	Pos  Pos    `json:"pos"`
	Code string `json:"code"`
	Item string `json:"item,omitempty"`
	Msg  string `json:"message"`
}

// Error renders the problem as "file:line:col: item: message".
func (e *LoadError) Error() string {
	s := e.Pos.String()
	if e.Item != "" {
		s += ": " + e.Item
	}
	return s + ": " + e.Msg
}

// itemRef names an item as Falco's messages do: rule 'name'.
func itemRef(kind, name string) string {
	if name == "" {
		return kind
	}
	return fmt.Sprintf("%s '%s'", kind, name)
}

// Codes for errors and warnings, as Falco names them.
const (
	errFileRead         = "LOAD_ERR_FILE_READ"
	errYAMLParse        = "LOAD_ERR_YAML_PARSE"
	errYAMLValidate     = "LOAD_ERR_YAML_VALIDATE"
	errCompileCondition = "LOAD_ERR_COMPILE_CONDITION"
	errCompileOutput    = "LOAD_ERR_COMPILE_OUTPUT"
	errValidate         = "LOAD_ERR_VALIDATE"

	warnUnknownSource   = "LOAD_UNKNOWN_SOURCE"
	warnNoEvttype       = "LOAD_NO_EVTTYPE"
	warnUnknownFilter   = "LOAD_UNKNOWN_FILTER"
	warnUnusedMacro     = "LOAD_UNUSED_MACRO"
	warnUnusedList      = "LOAD_UNUSED_LIST"
	warnUnknownItem     = "LOAD_UNKNOWN_ITEM"
	warnDeprecated      = "LOAD_DEPRECATED_ITEM"
	warnExceptionName   = "LOAD_EXCEPTION_NAME_NOT_UNIQUE"
	warnInvalidMacro    = "LOAD_INVALID_MACRO_NAME"
	warnInvalidList     = "LOAD_INVALID_LIST_NAME"
	warnCompileCond     = "LOAD_COMPILE_CONDITION"
	warnUnknownKey      = "LOAD_UNKNOWN_KEY"
	warnIgnoredCapture  = "LOAD_IGNORED_KEY"
	warnAppendNoValues  = "LOAD_APPEND_NO_VALUES"
	warnDuplicateInFile = "LOAD_DUPLICATE_ITEM"
)
