// Package compiler turns a policy.Ruleset into a Plan: for every rule and
// syscall a kernel predicate that over-approximates the rule (the kernel
// filter never drops an event a rule matches), grouped into classes and
// encoded as the contents of the kernel filter's maps, and the userspace
// decision tree that evaluates what the kernel lets through.
//
// Compile runs an ordered list of named passes, each timed; Plan.Passes
// reports them and `peregrine explain` shows them.
package compiler

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/peregrine-sec/peregrine/policy"
)

// Options configure Compile.
type Options struct {
	// Syscalls are the syscalls the capture can deliver; rules are
	// compiled for these. Empty means every event type of the rules.
	Syscalls []string
	// MaxClasses is the class budget (the width of the kernel mask);
	// 0 means MaskBits. Over budget, classes are merged (soundly) and a
	// warning is reported.
	MaxClasses int
	// NoKernelFilter makes every kernel predicate true but for the
	// syscall: the syscall-set-only mode Falco has.
	NoKernelFilter bool
}

// Plan is a compiled ruleset.
type Plan struct {
	Rules []*policy.Rule // the enabled rules, in load order
	// Preds holds the kernel predicate of each rule for each syscall.
	Preds [][]SyscallPred
	// Classes are the distinct kernel predicates; a class is a bit of
	// the kernel mask.
	Classes []*Class
	// Encoding is the content of the kernel filter's maps.
	Encoding *Encoding
	// Tree evaluates the rules in userspace.
	Tree *Tree
	// classRules holds, per syscall and class, the rules (a bitmap over
	// rule numbers) that class admits.
	classRules map[string][][]uint64
	// Passes are the passes run, in order, with their durations.
	Passes []PassTiming
	// Warnings from compiling (class merges).
	Warnings []string
	opts     Options
}

// SyscallPred is a rule's kernel predicate for one syscall.
type SyscallPred struct {
	Syscall string
	Pred    *Pred
	Class   int
	// Exact is true when the predicate is the rule's whole condition for
	// this syscall: the kernel decides the rule alone.
	Exact bool
}

// PassTiming is a compiler pass and how long it took.
type PassTiming struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
	// Start is when the pass began (for trace spans; not in the JSON).
	Start time.Time `json:"-"`
}

// pass is one named stage of the compiler.
type pass struct {
	name string
	run  func(*compilation) error
}

// compilation is the state the passes share.
type compilation struct {
	rs    *policy.Ruleset
	opts  Options
	plan  *Plan
	conds []policy.Expr // per rule, normalised
	types [][]string    // per rule, the syscalls it is compiled for
}

// passes are Compile's stages, in order.
var passes = []pass{
	{"select-rules", (*compilation).selectRules},
	{"normalize", (*compilation).normalize},
	{"infer-event-types", (*compilation).inferEventTypes},
	{"split-kernel-predicates", (*compilation).splitKernel},
	{"group-classes", (*compilation).groupClasses},
	{"encode-maps", (*compilation).encodeMaps},
	{"build-tree", (*compilation).buildTree},
}

// PassNames returns the names of the compiler's passes, in order.
func PassNames() []string {
	out := make([]string, len(passes))
	for i, p := range passes {
		out[i] = p.name
	}
	return out
}

// Compile compiles the enabled rules of rs. It returns an error when a
// rule's condition cannot be compiled (an invalid comparison).
func Compile(rs *policy.Ruleset, opts Options) (*Plan, error) {
	if opts.MaxClasses <= 0 || opts.MaxClasses > MaskBits {
		opts.MaxClasses = MaskBits
	}
	c := &compilation{rs: rs, opts: opts, plan: &Plan{opts: opts}}
	for _, p := range passes {
		start := time.Now()
		if err := p.run(c); err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		c.plan.Passes = append(c.plan.Passes, PassTiming{Name: p.name, Duration: time.Since(start), Start: start})
	}
	return c.plan, nil
}

func (c *compilation) selectRules() error {
	c.plan.Rules = c.rs.Enabled()
	return nil
}

func (c *compilation) normalize() error {
	c.conds = make([]policy.Expr, len(c.plan.Rules))
	for i, r := range c.plan.Rules {
		c.conds[i] = Normalize(r.Condition)
	}
	return nil
}

// inferEventTypes decides, per rule, the syscalls it is compiled for: its
// event types (all capturable ones when unrestricted) that the capture
// can deliver.
func (c *compilation) inferEventTypes() error {
	capturable := map[string]bool{}
	for _, s := range c.opts.Syscalls {
		capturable[s] = true
	}
	c.types = make([][]string, len(c.plan.Rules))
	for i, r := range c.plan.Rules {
		types := r.EventTypes
		if types == nil {
			types = c.opts.Syscalls
		}
		for _, t := range types {
			if len(capturable) == 0 || capturable[t] {
				c.types[i] = append(c.types[i], t)
			}
		}
		sort.Strings(c.types[i])
	}
	return nil
}

func (c *compilation) splitKernel() error {
	c.plan.Preds = make([][]SyscallPred, len(c.plan.Rules))
	for i := range c.plan.Rules {
		// A rule is compiled for every syscall it may match, up to all
		// of them; but most syscalls project a condition alike, and a
		// long condition would be walked once for each. Projections are
		// shared between the syscalls that the condition's evt.type
		// comparisons do not name and that have the same projectionKey
		// for the fields it compares.
		named, fields := readsOf(c.conds[i])
		type projection struct {
			pred  *Pred
			exact bool
		}
		memo := map[string]projection{}
		for _, s := range c.types[i] {
			p, exact := Truth(), false
			if !c.opts.NoKernelFilter {
				k := projectionKey(s, fields)
				if named[s] {
					k = s + "\x00" + k
				}
				pr, ok := memo[k]
				if !ok {
					x := SpecializeEventType(c.conds[i], s)
					pr = projection{Project(x, s), Exact(x, s)}
					memo[k] = pr
				}
				p, exact = pr.pred, pr.exact
			}
			if p.False {
				continue // the rule cannot match this syscall
			}
			c.plan.Preds[i] = append(c.plan.Preds[i], SyscallPred{Syscall: s, Pred: p, Exact: exact})
		}
	}
	return nil
}

// readsOf returns the values of the comparisons on evt.type in x, which
// SpecializeEventType decides alike for every syscall not among them, and
// the fields of syscallFields x compares, sorted.
func readsOf(x policy.Expr) (named map[string]bool, fields []string) {
	named = map[string]bool{}
	seen := map[string]bool{}
	policy.Walk(x, func(x policy.Expr) {
		c, ok := x.(*policy.Compare)
		if !ok {
			return
		}
		if c.Left.Field.Name == "evt.type" {
			for _, v := range c.Values {
				named[v] = true
			}
		}
		if f := fieldName(&c.Left); syscallFields[f] && !seen[f] {
			seen[f] = true
			fields = append(fields, f)
		}
	})
	sort.Strings(fields)
	return named, fields
}

// syscallFields are the fields whose comparisons project differently from
// one syscall to another (atom, atomExact): the path and port fields of
// the syscall table, the fields derived from the path, and those that
// featureAtom reads for opens only. TestSyscallFields checks that every
// other field projects alike for every syscall.
var syscallFields = func() map[string]bool {
	m := map[string]bool{"fd.directory": true, "fd.filename": true,
		"evt.is_open_read": true, "evt.is_open_write": true, "evt.arg.flags": true,
		"fd.nameraw": true, "fd.typechar": true, "fd.num": true}
	for _, f := range PathFields {
		for n := range f {
			m[n] = true
		}
	}
	for _, roles := range PortFields {
		for _, r := range roles {
			for _, n := range r {
				m[n] = true
			}
		}
	}
	return m
}()

// projectionKey names everything Project and Exact read of syscall s for
// comparisons on fields (atom, atomExact, featureAtom): the syscalls with
// equal keys project a condition on those fields, specialised alike, to
// the same predicate. A new fact those functions read must be added here.
func projectionKey(s string, fields []string) string {
	var b strings.Builder
	for _, f := range fields {
		role := -1
		for i, r := range PortFields[s] {
			if slices.Contains(r, f) {
				role = i
			}
		}
		fmt.Fprint(&b, role, PathFields[s][f], PathFields[s]["fd.name"], OpenSyscalls[s], OpenFlagSyscalls[s], ";")
	}
	return b.String()
}

func (c *compilation) buildTree() error {
	t, err := BuildTree(&policy.Ruleset{Rules: c.plan.Rules})
	if err != nil {
		return err
	}
	c.plan.Tree = t
	words := (len(c.plan.Rules) + 63) / 64
	c.plan.classRules = map[string][][]uint64{}
	for i, preds := range c.plan.Preds {
		for _, sp := range preds {
			byClass := c.plan.classRules[sp.Syscall]
			if byClass == nil {
				byClass = make([][]uint64, len(c.plan.Classes))
				c.plan.classRules[sp.Syscall] = byClass
			}
			if byClass[sp.Class] == nil {
				byClass[sp.Class] = make([]uint64, words)
			}
			byClass[sp.Class][i/64] |= 1 << (i % 64)
		}
	}
	return nil
}

// RuleClasses returns, for rule i, the classes it belongs to, by syscall.
func (p *Plan) RuleClasses(i int) map[string]int {
	out := map[string]int{}
	for _, sp := range p.Preds[i] {
		out[sp.Syscall] = sp.Class
	}
	return out
}

// Candidates returns the rules the kernel mask admits for a syscall, as a
// bitmap over rule numbers for Tree.Match, written into dst. It allocates
// only when dst is too small.
func (p *Plan) Candidates(syscall string, m Mask, dst []uint64) []uint64 {
	n := (len(p.Rules) + 63) / 64
	if cap(dst) < n {
		dst = make([]uint64, n)
	}
	dst = dst[:n]
	clear(dst)
	byClass := p.classRules[syscall]
	for w, word := range m {
		for word != 0 {
			c := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			if c < len(byClass) {
				for i, r := range byClass[c] {
					dst[i] |= r
				}
			}
		}
	}
	return dst
}
