package policy

import (
	"sort"
	"strings"
)

// RuntimeField reports whether a field's value comes from the container
// runtime's API (container.name, container.image*, container.privileged,
// container.mounts, labels, k8s.*), looked up once per container after
// it is first seen, rather than from the kernel or /proc. container.id
// and container.type (from the cgroup path) and container.start_ts and
// container.duration (from the pid namespace's first process) do not.
func RuntimeField(name string) bool {
	switch name {
	case "container.id", "container.type", "container.start_ts", "container.duration":
		return false
	}
	return strings.HasPrefix(name, "container.") || strings.HasPrefix(name, "k8s.")
}

// MetadataNeeds says which runtime fields (RuntimeField) a rule reads: in
// its condition (Condition; Residual is set when an untranslated Rego part
// may read any field) and in its output. A rule whose condition needs none
// can be decided before the runtime has answered; one whose output needs
// some renders them empty until it has.
type MetadataNeeds struct {
	Condition []string `json:"condition,omitempty"`
	Residual  bool     `json:"residual,omitempty"`
	Output    []string `json:"output,omitempty"`
}

// InCondition reports whether the condition needs runtime metadata.
func (n MetadataNeeds) InCondition() bool { return len(n.Condition) > 0 || n.Residual }

// Any reports whether the condition or the output needs runtime metadata.
func (n MetadataNeeds) Any() bool { return n.InCondition() || len(n.Output) > 0 }

// NeedsMetadata returns the runtime fields r reads, each once, sorted.
func NeedsMetadata(r *Rule) MetadataNeeds {
	var n MetadataNeeds
	cond, out := map[string]bool{}, map[string]bool{}
	add := func(set map[string]bool, f *FieldRef) {
		if f != nil && f.Field != nil && RuntimeField(f.Field.Name) {
			set[f.Field.Name] = true
		}
	}
	if r.Condition != nil {
		Walk(r.Condition, func(x Expr) {
			switch x := x.(type) {
			case *Compare:
				add(cond, &x.Left)
				add(cond, x.Right)
			case *Residual:
				n.Residual = true
			}
		})
	}
	for _, f := range r.Output.Fields() {
		add(out, f)
	}
	keys := func(m map[string]bool) []string {
		var s []string
		for k := range m {
			s = append(s, k)
		}
		sort.Strings(s)
		return s
	}
	n.Condition, n.Output = keys(cond), keys(out)
	return n
}
