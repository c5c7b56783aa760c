package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Noise is how a rule's alerts are thinned out: the rule keys throttle,
// skip_events and dedup (Peregrine's; Falco warns that they are unknown
// keys and ignores them). The zero Noise lets every alert through.
type Noise struct {
	Throttle *Throttle
	Skip     *Skip
	Dedup    *Dedup
}

// Throttle lets at most Rate alerts through per window of Per for each
// key; the rest are counted, and the next alert let through carries the
// count.
type Throttle struct {
	Rate int
	Per  time.Duration
	By   []*FieldRef
}

// Skip holds back a key's matches until the Count-th within Within of the
// first: that match and the later ones in the window alert.
type Skip struct {
	Count  int
	Within time.Duration
	By     []*FieldRef
}

// Dedup lets a key's first alert of a window through at once and folds
// the repeats within Window into one alert, carrying their count, sent
// when the window ends. Without By the key is the rendered output: only
// identical alerts fold.
type Dedup struct {
	Window time.Duration
	By     []*FieldRef
}

// NoiseKeys are the rule keys ParseNoise reads, in the order the alert
// stage applies them.
var NoiseKeys = []string{"skip_events", "dedup", "throttle"}

// ParseNoise reads the value of one of the NoiseKeys (a map, as YAML or
// Rego metadata give it: throttle {rate, per, by}, skip_events {count,
// within, by}, dedup {window, by}; durations as Go writes them, "30s",
// "1m") into n. Its errors name the key and the sub-key at fault.
func ParseNoise(key string, v any, n *Noise) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s must be a map, not %s", key, describe(v))
	}
	var want []string
	switch key {
	case "throttle":
		want = []string{"rate", "per", "by"}
	case "skip_events":
		want = []string{"count", "within", "by"}
	case "dedup":
		want = []string{"window", "by"}
	default:
		return fmt.Errorf("unknown noise key %q (want one of %s)", key, strings.Join(NoiseKeys, ", "))
	}
	for k := range m {
		if !slices.Contains(want, k) {
			return fmt.Errorf("%s: unknown key %q (want %s)", key, k, strings.Join(want, ", "))
		}
	}
	by, err := noiseBy(key, m["by"])
	if err != nil {
		return err
	}
	switch key {
	case "throttle":
		t := &Throttle{By: by}
		if t.Rate, err = noiseCount(key, "rate", m["rate"]); err == nil {
			t.Per, err = noiseDuration(key, "per", m["per"])
		}
		n.Throttle = t
	case "skip_events":
		s := &Skip{By: by}
		if s.Count, err = noiseCount(key, "count", m["count"]); err == nil {
			s.Within, err = noiseDuration(key, "within", m["within"])
		}
		n.Skip = s
	case "dedup":
		d := &Dedup{By: by}
		d.Window, err = noiseDuration(key, "window", m["window"])
		n.Dedup = d
	}
	return err
}

func noiseCount(key, sub string, v any) (int, error) {
	var n int
	switch x := v.(type) {
	case int:
		n = x
	case int64:
		n = int(x)
	case uint64:
		n = int(x)
	case float64:
		if x != float64(int(x)) {
			return 0, fmt.Errorf("%s.%s must be a whole number, not %v", key, sub, x)
		}
		n = int(x)
	case nil:
		return 0, fmt.Errorf("%s needs %s", key, sub)
	case interface{ Int64() (int64, error) }: // json.Number
		i, err := x.Int64()
		if err != nil {
			return 0, fmt.Errorf("%s.%s must be a whole number, not %v", key, sub, x)
		}
		n = int(i)
	default:
		return 0, fmt.Errorf("%s.%s must be a number, not %s", key, sub, describe(v))
	}
	if n < 1 {
		return 0, fmt.Errorf("%s.%s must be at least 1, not %d", key, sub, n)
	}
	return n, nil
}

func noiseDuration(key, sub string, v any) (time.Duration, error) {
	s, ok := v.(string)
	if v == nil {
		return 0, fmt.Errorf("%s needs %s (a duration such as 30s or 1m)", key, sub)
	}
	if !ok {
		return 0, fmt.Errorf("%s.%s must be a duration such as 30s or 1m, not %s", key, sub, describe(v))
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s.%s: %q is no duration (write 30s, 1m, 1h)", key, sub, s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s.%s must be positive, not %s", key, sub, s)
	}
	return d, nil
}

func noiseBy(key string, v any) ([]*FieldRef, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s.by must be a list of field names, not %s", key, describe(v))
	}
	var out []*FieldRef
	for _, x := range list {
		name, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%s.by must be a list of field names; %s is not a string", key, describe(x))
		}
		name = strings.TrimPrefix(strings.TrimSpace(name), "%")
		t, err := ParseOutput("%" + name)
		if err != nil || len(t.Parts) != 1 || t.Parts[0].Field == nil {
			msg := fmt.Sprintf("%s.by: %q is no field", key, name)
			if s := SuggestField(name); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			return nil, errors.New(msg)
		}
		out = append(out, t.Parts[0].Field)
	}
	return out, nil
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("the string %q", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%v", v)
}
