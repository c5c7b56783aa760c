package loader

import (
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
)

// Settings are what the configuration does to loaded rules, as Falco's
// falco.yaml keys priority, rules, append_output and Peregrine's
// noise_control do. The zero Settings change nothing.
type Settings struct {
	// Priority, when set, is the least severe priority loaded: rules
	// below it are dropped, and no selection enables them (Falco's
	// priority key).
	Priority *policy.Priority
	// Select enables and disables rules, in order, after the rules
	// files' own enabled keys and overrides (Falco's rules key).
	Select []Selection
	// Append adds output to the rules each entry matches, in order
	// (Falco's append_output).
	Append []AppendOutput
	// Noise gives noise keys to the rules each entry matches that set
	// none of that key themselves; the first entry to set a key wins.
	Noise []NoiseDefault
}

// Selection is one item of Falco's rules key: enable or disable the
// rules whose name matches Rule (a pattern where * is any run of
// characters, matched whole) and the rules tagged Tag (exactly). An item
// with both does both.
type Selection struct {
	Enable    bool
	Rule, Tag string
}

// Match says which rules an append_output or noise_control entry is for:
// every rule when empty; otherwise those whose name matches Rule (with *
// as Selection's), whose source is Source, and which carry all of Tags.
type Match struct {
	Rule, Source string
	Tags         []string
}

// AppendOutput is one append_output entry: ExtraOutput is added to the
// matching rules' output text, ExtraFields to their JSON output_fields.
type AppendOutput struct {
	Match       Match
	ExtraOutput policy.Template
	ExtraFields []policy.ExtraField
}

// NoiseDefault is one noise_control entry.
type NoiseDefault struct {
	Match Match
	Noise policy.Noise
}

// Apply returns the rules as the settings leave them. Rules it changes
// are copies; the others are the rules given.
func (s Settings) Apply(rules []*policy.Rule) []*policy.Rule {
	out := make([]*policy.Rule, 0, len(rules))
	for _, r := range rules {
		if s.Priority != nil && r.Priority > *s.Priority {
			continue
		}
		enabled := r.Enabled
		for _, sel := range s.Select {
			if sel.Rule != "" && MatchWildcard(sel.Rule, r.Name) {
				enabled = sel.Enable
			}
			if sel.Tag != "" && hasAll(r.Tags, []string{sel.Tag}) {
				enabled = sel.Enable
			}
		}
		c := *r
		changed := enabled != r.Enabled
		c.Enabled = enabled
		for _, a := range s.Append {
			if !a.Match.matches(r) {
				continue
			}
			changed = true
			if len(a.ExtraOutput.Parts) > 0 {
				parts := append([]policy.TemplatePart{}, c.Output.Parts...)
				parts = append(parts, policy.TemplatePart{Text: " "})
				c.Output = policy.Template{Parts: append(parts, a.ExtraOutput.Parts...)}
			}
			c.ExtraFields = append(append([]policy.ExtraField{}, c.ExtraFields...), a.ExtraFields...)
		}
		for _, d := range s.Noise {
			if !d.Match.matches(r) {
				continue
			}
			if c.Noise.Skip == nil && d.Noise.Skip != nil {
				c.Noise.Skip, changed = d.Noise.Skip, true
			}
			if c.Noise.Dedup == nil && d.Noise.Dedup != nil {
				c.Noise.Dedup, changed = d.Noise.Dedup, true
			}
			if c.Noise.Throttle == nil && d.Noise.Throttle != nil {
				c.Noise.Throttle, changed = d.Noise.Throttle, true
			}
		}
		if changed {
			out = append(out, &c)
		} else {
			out = append(out, r)
		}
	}
	return out
}

func (m Match) matches(r *policy.Rule) bool {
	return (m.Rule == "" || MatchWildcard(m.Rule, r.Name)) &&
		(m.Source == "" || m.Source == r.Source) && hasAll(r.Tags, m.Tags)
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// MatchWildcard reports whether name matches pattern as Falco matches
// rule names in its rules key: * is any run of characters (none
// included), every other character is itself, and the whole name must
// match.
func MatchWildcard(pattern, name string) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == name
	}
	if !strings.HasPrefix(name, pattern[:star]) {
		return false
	}
	name, pattern = name[star:], strings.TrimLeft(pattern[star:], "*")
	if pattern == "" {
		return true
	}
	// The literal up to the next star must come somewhere: every place
	// it comes is tried, so that "*a*b" matches "xaab".
	lit := pattern
	if i := strings.IndexByte(pattern, '*'); i >= 0 {
		lit = pattern[:i]
	}
	for i := 0; i+len(lit) <= len(name); i++ {
		if strings.HasPrefix(name[i:], lit) && MatchWildcard(pattern, name[i:]) {
			return true
		}
	}
	return false
}
