package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/loader"
	"github.com/peregrine-sec/peregrine/output"
	"github.com/peregrine-sec/peregrine/policy"
)

// DefaultConfigPath is read when no --config is given and it exists.
const defaultConfigPath = "/etc/peregrine/peregrine.yaml"

//go:embed peregrine.yaml
var referenceConfig []byte

// configKey is what Peregrine does with one top-level configuration key.
type configKey struct {
	name string
	// flag is the command-line flag the key sets, when it is one.
	flag string
	// ignored: Falco's key, read without error, with no effect here;
	// why says what Peregrine does instead.
	ignored bool
	why     string
}

// configKeys are the top-level keys of a configuration file besides the
// flags' own names (written with _ or -) and the outputs' keys (package
// output's Keys): Peregrine's, and every key of Falco's falco.yaml,
// honoured where Peregrine has the same meaning.
var configKeys = []configKey{
	{name: "rules_files", flag: "rules"},
	{name: "rules_file", flag: "rules"}, // Falco before 0.38
	{name: "json_output", flag: "json"},
	{name: "rule_matching", flag: "rule-matching"},
	{name: "rules"},
	{name: "priority"},
	{name: "append_output"},
	{name: "noise_control"},
	{name: "json_include_output_property"},
	{name: "json_include_tags_property"},
	{name: "json_include_output_fields_property"},
	{name: "json_include_message_property"},
	{name: "time_format_iso_8601"},
	{name: "metrics"},
	{name: "base_syscalls", ignored: true, why: "the process lifecycle comes from scheduler tracepoints, and each syscall the rules need is captured"},
	{name: "log_level"},
	{name: "log_stderr"},
	{name: "log_syslog"},
	{name: "watch_config_files"},
	{name: "config_files", ignored: true, why: "name each file with -c"},
	{name: "engine", ignored: true, why: "Peregrine has one engine, its own eBPF probe"},
	{name: "capture", ignored: true, why: "run --record writes the events"},
	{name: "load_plugins", ignored: true, why: "no plugins"},
	{name: "plugins", ignored: true, why: "no plugins"},
	{name: "plugins_hostinfo", ignored: true, why: "no plugins"},
	{name: "webserver", ignored: true, why: "see the metrics keys"},
	{name: "libs_logger", ignored: true, why: "no libs"},
	{name: "output_timeout", ignored: true, why: "each output has its own queue and never blocks detection"},
	{name: "syscall_event_timeouts", ignored: true, why: "no such timeouts"},
	{name: "syscall_event_drops", ignored: true, why: "losses are counted and reported on exit"},
	{name: "falco_libs", ignored: true, why: "no libs"},
	{name: "container_engines", ignored: true, why: "--container-socket names the runtimes' sockets"},
	{name: "buffer_format_base64", ignored: true, why: "buffers are written as text"},
}

func lookupConfigKey(name string) *configKey {
	for i := range configKeys {
		if configKeys[i].name == name {
			return &configKeys[i]
		}
	}
	if isOutputKey(name) {
		return &configKey{name: name}
	}
	return nil
}

// isOutputKey reports whether name is one of the outputs' keys or a map
// holding some (http_output).
func isOutputKey(name string) bool {
	return slices.ContainsFunc(output.Keys(), func(k string) bool { return k == name || strings.HasPrefix(k, name+".") })
}

// flagKey is the configuration key a flag's value is kept under: its
// name, but the rules flag's files go under rules_files (Falco's rules
// key selects rules).
func flagKey(name string) string {
	if name == "rules" {
		return "rules_files"
	}
	return name
}

// loadConfig reads the configuration file (--config, else
// /etc/peregrine/peregrine.yaml when it exists) and PEREGRINE_*
// environment variables, and binds the command's flags so that a flag set
// on the command line wins over both, and -o over all. Falco's keys with
// no effect are named in one warning.
func loadConfig(v *viper.Viper, cmd *cobra.Command) error {
	v.SetEnvPrefix("PEREGRINE")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	v.AutomaticEnv()
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if e := v.BindPFlag(flagKey(f.Name), f); e != nil && err == nil {
			err = e
		}
	})
	if err != nil {
		return err
	}
	v.Set("rules-from-flag", cmd.Flags().Changed("rules"))
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		if _, err := os.Stat(defaultConfigPath); err == nil {
			path = defaultConfigPath
		}
	}
	if path != "" {
		ignored, err := readConfig(v, cmd, path)
		if err != nil {
			return err
		}
		if len(ignored) > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "peregrine: warning: %s: keys with no effect in Peregrine: %s (peregrine config check says why)\n", path, strings.Join(ignored, ", "))
		}
		v.Set("config-file", path)
		v.Set("config-ignored", ignored)
	}
	overrides, _ := cmd.Flags().GetStringArray("option")
	for _, o := range overrides {
		if err := applyOption(v, cmd, o); err != nil {
			return err
		}
	}
	return nil
}

// readConfig merges a configuration file into v: flags' keys under
// their flags' names, the other keys as they are. It returns Falco's keys
// with no effect, and refuses keys that are neither.
func readConfig(v *viper.Viper, cmd *cobra.Command, path string) (ignored []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %s", path, yaml.FormatError(err, false, true))
	}
	merged := map[string]any{}
	var unknown []string
	for k, val := range doc {
		if f := cmd.Flags().Lookup(strings.ReplaceAll(k, "_", "-")); f != nil && k != "rules" {
			merged[flagKey(f.Name)] = val
			continue
		}
		ck := lookupConfigKey(k)
		switch {
		case ck == nil:
			unknown = append(unknown, k)
		case ck.ignored:
			ignored = append(ignored, k)
		case ck.flag != "":
			merged[flagKey(ck.flag)] = val
		default:
			merged[k] = val
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("config %s: unknown keys %s (peregrine config default lists the keys)", path, strings.Join(unknown, ", "))
	}
	if _, ok := doc["rules_file"]; ok {
		if _, both := doc["rules_files"]; both {
			return nil, fmt.Errorf("config %s: both rules_files and rules_file are set (rules_file is the old name)", path)
		}
	}
	if err := v.MergeConfigMap(merged); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	sort.Strings(ignored)
	return ignored, nil
}

// applyOption applies one -o key=value: a flag's key (Falco's name, or
// the flag's name with "_" for "-") as if the flag had been given, so
// that it is parsed as the flag parses; any other configuration key,
// nested with dots (http_output.url=...), as a YAML value.
func applyOption(v *viper.Viper, cmd *cobra.Command, o string) error {
	key, value, ok := strings.Cut(o, "=")
	if !ok || key == "" {
		return fmt.Errorf("-o %s: want key=value", o)
	}
	name := strings.ReplaceAll(key, "_", "-")
	if ck := lookupConfigKey(key); ck != nil && ck.flag != "" {
		name = ck.flag // Falco's name for the flag's key
	}
	if f := cmd.Flags().Lookup(name); f != nil && name != "option" && name != "help" {
		if err := cmd.Flags().Set(name, value); err != nil {
			return fmt.Errorf("-o %s: %w", o, err)
		}
		return nil
	}
	top, _, nested := strings.Cut(key, ".")
	ck := lookupConfigKey(top)
	if ck == nil || ck.flag != "" || (nested && isOutputKey(top) && !slices.Contains(output.Keys(), key)) {
		return fmt.Errorf("-o %s: %s has no key %q (its keys are its long flag names, peregrine %s --help, and the configuration keys, peregrine config default)", o, cmd.CommandPath(), key, cmd.Name())
	}
	var val any
	if err := yaml.Unmarshal([]byte(value), &val); err != nil {
		val = value
	}
	v.Set(key, val)
	return nil
}

// ruleSettings reads what the configuration does to loaded rules. Its
// errors name the key at fault.
func ruleSettings(v *viper.Viper) (loader.Settings, error) {
	var s loader.Settings
	where := "config"
	if f := v.GetString("config-file"); f != "" {
		where = "config " + f
	}
	if p := v.GetString("priority"); p != "" {
		prio, err := policy.ParsePriority(p)
		if err != nil {
			return s, fmt.Errorf("%s: priority: %v (want emergency, alert, critical, error, warning, notice, informational or debug)", where, err)
		}
		s.Priority = &prio
	}
	items, err := listOf(v.Get("rules"), where, "rules")
	if err != nil {
		return s, err
	}
	for i, it := range items {
		at := fmt.Sprintf("%s: rules[%d]", where, i)
		if len(it) != 1 {
			return s, fmt.Errorf("%s: want one key, enable or disable", at)
		}
		for op, body := range it {
			if op != "enable" && op != "disable" {
				return s, fmt.Errorf("%s: %q: want enable or disable", at, op)
			}
			m, ok := body.(map[string]any)
			if !ok {
				return s, fmt.Errorf("%s.%s: want a map with rule or tag", at, op)
			}
			sel := loader.Selection{Enable: op == "enable"}
			for k, x := range m {
				str, ok := x.(string)
				if !ok || str == "" {
					return s, fmt.Errorf("%s.%s.%s: want a non-empty string", at, op, k)
				}
				switch k {
				case "rule":
					sel.Rule = str
				case "tag":
					sel.Tag = str
				default:
					return s, fmt.Errorf("%s.%s: unknown key %q (want rule or tag)", at, op, k)
				}
			}
			if sel.Rule == "" && sel.Tag == "" {
				return s, fmt.Errorf("%s.%s: want rule or tag", at, op)
			}
			s.Select = append(s.Select, sel)
		}
	}
	if s.Append, err = appendOutputs(v.Get("append_output"), where); err != nil {
		return s, err
	}
	items, err = listOf(v.Get("noise_control"), where, "noise_control")
	if err != nil {
		return s, err
	}
	for i, it := range items {
		at := fmt.Sprintf("%s: noise_control[%d]", where, i)
		var d loader.NoiseDefault
		for k, x := range it {
			switch {
			case k == "match":
				if d.Match, err = matchOf(x, at); err != nil {
					return s, err
				}
			case slices.Contains(policy.NoiseKeys, k):
				if err := policy.ParseNoise(k, x, &d.Noise); err != nil {
					return s, fmt.Errorf("%s: %v", at, err)
				}
			default:
				return s, fmt.Errorf("%s: unknown key %q (want match, %s)", at, k, strings.Join(policy.NoiseKeys, ", "))
			}
		}
		s.Noise = append(s.Noise, d)
	}
	return s, nil
}

func appendOutputs(raw any, where string) ([]loader.AppendOutput, error) {
	items, err := listOf(raw, where, "append_output")
	if err != nil {
		return nil, err
	}
	var out []loader.AppendOutput
	for i, it := range items {
		at := fmt.Sprintf("%s: append_output[%d]", where, i)
		var a loader.AppendOutput
		for k, x := range it {
			switch k {
			case "match":
				if a.Match, err = matchOf(x, at); err != nil {
					return nil, err
				}
			case "extra_output":
				s, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("%s.extra_output: want a string", at)
				}
				if a.ExtraOutput, err = policy.ParseOutput(s); err != nil {
					return nil, fmt.Errorf("%s.extra_output: %v", at, err)
				}
			case "extra_fields":
				fields, ok := x.([]any)
				if !ok {
					return nil, fmt.Errorf("%s.extra_fields: want a list", at)
				}
				for j, f := range fields {
					xf, err := extraField(f)
					if err != nil {
						return nil, fmt.Errorf("%s.extra_fields[%d]: %v", at, j, err)
					}
					a.ExtraFields = append(a.ExtraFields, xf)
				}
			case "suggested_output":
				// Falco's suggested fields are the container plugin's;
				// the default rules' outputs carry them already.
			default:
				return nil, fmt.Errorf("%s: unknown key %q (want match, extra_output, extra_fields)", at, k)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// extraField reads one extra_fields item: a field name, or a map of one
// custom name to its format.
func extraField(x any) (policy.ExtraField, error) {
	switch f := x.(type) {
	case string:
		t, err := policy.ParseOutput("%" + strings.TrimPrefix(f, "%"))
		if err != nil || len(t.Parts) != 1 || t.Parts[0].Field == nil {
			return policy.ExtraField{}, fmt.Errorf("%q is no field", f)
		}
		return policy.ExtraField{Name: f, Value: t}, nil
	case map[string]any:
		if len(f) != 1 {
			return policy.ExtraField{}, errors.New("want one name: format")
		}
		for name, format := range f {
			s, ok := format.(string)
			if !ok {
				return policy.ExtraField{}, fmt.Errorf("%s: want a format string", name)
			}
			t, err := policy.ParseOutput(os.ExpandEnv(s))
			if err != nil {
				return policy.ExtraField{}, fmt.Errorf("%s: %v", name, err)
			}
			return policy.ExtraField{Name: name, Value: t}, nil
		}
	}
	return policy.ExtraField{}, errors.New("want a field name or a map of a name to a format")
}

func matchOf(x any, at string) (loader.Match, error) {
	var m loader.Match
	mm, ok := x.(map[string]any)
	if !ok {
		return m, fmt.Errorf("%s.match: want a map", at)
	}
	for k, val := range mm {
		switch k {
		case "rule", "source":
			s, ok := val.(string)
			if !ok {
				return m, fmt.Errorf("%s.match.%s: want a string", at, k)
			}
			if k == "rule" {
				m.Rule = s
			} else {
				m.Source = s
			}
		case "tags":
			list, ok := val.([]any)
			if !ok {
				return m, fmt.Errorf("%s.match.tags: want a list of strings", at)
			}
			for _, t := range list {
				s, ok := t.(string)
				if !ok {
					return m, fmt.Errorf("%s.match.tags: want a list of strings", at)
				}
				m.Tags = append(m.Tags, s)
			}
		default:
			return m, fmt.Errorf("%s.match: unknown key %q (want rule, source, tags)", at, k)
		}
	}
	return m, nil
}

// listOf reads a configuration key holding a list of maps.
func listOf(raw any, where, key string) ([]map[string]any, error) {
	if raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: %s: want a list", where, key)
	}
	out := make([]map[string]any, len(list))
	for i, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s[%d]: want a map", where, key, i)
		}
		out[i] = m
	}
	return out, nil
}

// alertFormat reads the keys that say how alerts are written.
func alertFormat(v *viper.Viper) falcocompat.Format {
	include := func(key string, def bool) bool {
		if v.IsSet(key) {
			return v.GetBool(key)
		}
		return def
	}
	return falcocompat.Format{
		JSON:           v.GetBool("json"),
		ISO8601:        v.GetBool("time_format_iso_8601"),
		NoOutput:       !include("json_include_output_property", true),
		NoTags:         !include("json_include_tags_property", true),
		NoOutputFields: !include("json_include_output_fields_property", true),
		Message:        include("json_include_message_property", false),
	}
}

func newConfigCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the reference configuration, or check a configuration file",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "default",
		Short: "Print the reference configuration: every key, its default and what it does",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(referenceConfig)
			return err
		},
	}, &cobra.Command{
		Use:   "check [-c FILE]",
		Short: "Check a configuration file (-c, else /etc/peregrine/peregrine.yaml) and the rules it names",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return checkConfig(v, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	})
	return cmd
}

// checkConfig validates what run would read from the configuration: the
// rule settings and the rules.
func checkConfig(v *viper.Viper, out, stderr io.Writer) error {
	if _, err := ruleSettings(v); err != nil {
		return err
	}
	res, err := loadRules(v, stderr, true)
	if err != nil {
		return err
	}
	file := v.GetString("config-file")
	if file == "" {
		file = "no configuration file"
	}
	fmt.Fprintf(out, "%s: ok, %d rules enabled\n", file, len(res.Ruleset.Enabled()))
	for _, k := range v.GetStringSlice("config-ignored") {
		why := "Peregrine has no such setting"
		if ck := lookupConfigKey(k); ck != nil && ck.why != "" {
			why = ck.why
		}
		fmt.Fprintf(out, "  %s: no effect: %s\n", k, why)
	}
	return nil
}
