// Package rules holds Peregrine's default ruleset: Falco-language rules
// files embedded in the binary, written for the fields and syscalls that
// Peregrine's eBPF capture provides.
package rules

import "embed"

// FS holds the embedded rules files.
//
//go:embed *.yaml
var FS embed.FS

// mainFile is the name of the default ruleset within FS.
const mainFile = "peregrine_rules.yaml"

// Default returns the name and the text of the default ruleset.
func Default() (name string, src []byte) {
	src, err := FS.ReadFile(mainFile)
	if err != nil {
		panic("rules: " + mainFile + " is not embedded: " + err.Error())
	}
	return mainFile, src
}
