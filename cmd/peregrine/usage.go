package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagUsages is pflag's flag list without the "[=true|false]" it writes
// after every boolean flag, realigned: "--json" reads as Falco's and
// every tool's boolean switches do.
func flagUsages(fs *pflag.FlagSet) string {
	type row struct{ name, usage string }
	var rows []row
	width := 0
	for _, line := range strings.Split(strings.TrimRight(fs.FlagUsagesWrapped(0), "\n"), "\n") {
		i := strings.Index(strings.TrimLeft(line, " "), "   ")
		if i < 0 {
			rows = append(rows, row{name: line})
			continue
		}
		i += len(line) - len(strings.TrimLeft(line, " "))
		name := strings.Replace(line[:i], "[=true|false]", "", 1)
		rows = append(rows, row{name, strings.TrimLeft(line[i:], " ")})
		width = max(width, len(name))
	}
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r.name)
		if r.usage != "" {
			b.WriteString(strings.Repeat(" ", width-len(r.name)+3))
			b.WriteString(r.usage)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// useCleanFlagUsages makes cmd's usage (and its subcommands') list flags
// with flagUsages.
func useCleanFlagUsages(cmd *cobra.Command) {
	cobra.AddTemplateFunc("flagUsages", flagUsages)
	t := cmd.UsageTemplate()
	t = strings.ReplaceAll(t, ".LocalFlags.FlagUsages", "flagUsages .LocalFlags")
	t = strings.ReplaceAll(t, ".InheritedFlags.FlagUsages", "flagUsages .InheritedFlags")
	cmd.SetUsageTemplate(t)
}
