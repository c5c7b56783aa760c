package falcocompat

import (
	"fmt"

	"github.com/peregrine-sec/peregrine/policy"
)

// Pos is a position in a rules file.
type Pos = policy.Pos

// LoadError is an error or a warning found while loading rules (see
// policy.Diagnostic, which every front end reports).
type LoadError = policy.Diagnostic

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
