package falcocompat

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
)

// EngineVersion is the Falco rules engine version whose language Peregrine
// implements (Falco 0.44's). required_engine_version is checked against it.
const EngineVersion = "0.62.0"

// ContainerPluginVersion is the version of Falco's container plugin whose
// fields Peregrine provides itself.
const ContainerPluginVersion = "0.6.0"

// Result is what loading rules gives: the ruleset and the counts, warnings
// and errors. The ruleset is nil when there are errors.
type Result struct {
	Ruleset  *policy.Ruleset
	Rules    int
	Macros   int
	Lists    int
	Warnings []*LoadError
	Errors   []*LoadError
	// ListItems holds every list's expanded items, by name.
	ListItems map[string][]string
}

// Err returns the first error, or nil.
func (r *Result) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	return r.Errors[0]
}

// Loader collects rule files in order and compiles them into a ruleset.
type Loader struct {
	lists  []*listDef
	macros []*macroDef
	rules  []*ruleDef
	byName map[string]int // "list:x", "macro:x", "rule:x" -> position in its slice
	next   int            // the definition counter Falco calls m_cur_index
	res    *Result
	limits Limits
	// expanded is what expansion has added to the files so far (see
	// Limits.ExpandedBytes).
	expanded int
}

// NewLoader returns an empty loader, with DefaultLimits.
func NewLoader() *Loader {
	return &Loader{byName: map[string]int{}, res: &Result{}, limits: DefaultLimits}
}

// source is the text of a condition or output, with where each part of it
// came from, so a position in it can be mapped back to a file.
type source struct {
	// buf grows in place: an item appended to n times must not copy its
	// text n times.
	buf  []byte
	segs []segment
}

func (s *source) text() string { return string(s.buf) }

type segment struct {
	off  int
	node *ynode
	conv *converter
	file string
}

func (s *source) add(text string, n *ynode, c *converter, file string) {
	s.segs = append(s.segs, segment{off: len(s.buf), node: n, conv: c, file: file})
	s.buf = append(s.buf, text...)
}

// pos maps an offset in the text to a file position.
func (s *source) pos(off int) Pos {
	if len(s.segs) == 0 {
		return Pos{}
	}
	seg := s.segs[0]
	for _, sg := range s.segs {
		if sg.off <= off {
			seg = sg
		}
	}
	p := Pos{File: seg.file}
	if seg.node == nil {
		return p
	}
	p.Line, p.Column = seg.node.line, seg.node.col
	if seg.conv != nil && seg.node.kind == yScalar {
		p.Line, p.Column = seg.conv.offsetPos(seg.node, off-seg.off)
	}
	return p
}

type listDef struct {
	name        string
	items       []string
	index, vis  int
	pos         Pos
	file        string
	used        bool
	compiledSet []string
	// size is the length of its own items written into a condition: each
	// quoted as needed, with the ", " after it.
	size int
}

type macroDef struct {
	name       string
	cond       source
	index, vis int
	pos        Pos
	file       string
	used       bool
	ast        node
	parsed     *parsed
	failed     bool
	// size and depth are the length of the condition with its macros
	// written out and how deeply it nests (see expansion).
	size, depth int
}

type exceptionDef struct {
	name      string
	fields    []string
	fieldList bool
	comps     []string
	values    []*ynode
	node      *ynode
	conv      *converter
	file      string
}

type ruleDef struct {
	name       string
	cond       source
	output     source
	desc       []byte // appended to in place, as source
	priority   policy.Priority
	source     string
	tags       []string
	enabled    bool
	warnEvt    bool
	skipUnk    bool
	exceptions []*exceptionDef
	noise      policy.Noise
	index      int
	pos        Pos
	file       string
}

func (l *Loader) warn(p Pos, code, item, msg string) {
	l.res.Warnings = append(l.res.Warnings, &LoadError{Pos: p, Code: code, Item: item, Msg: msg})
}

func (l *Loader) fail(p Pos, code, item, msg string) {
	l.res.Errors = append(l.res.Errors, &LoadError{Pos: p, Code: code, Item: item, Msg: msg})
}

// LoadPaths reads rule files and directories (their *.yaml and *.yml
// files, sorted by name) in order, and compiles them.
func LoadPaths(paths ...string) *Result {
	l := NewLoader()
	for _, p := range paths {
		l.AddPath(p)
	}
	return l.Compile()
}

// AddPath adds the rule files of path p (a file, or a directory's *.yaml
// and *.yml files but for *_test.yaml) in order; a path or file that
// cannot be read is an error of the result (LOAD_ERR_FILE_READ).
func (l *Loader) AddPath(p string) {
	files, err := ExpandPaths(p)
	if err != nil {
		l.fail(Pos{File: p}, errFileRead, "", err.Error())
		return
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			l.fail(Pos{File: f}, errFileRead, "", err.Error())
			continue
		}
		l.AddFile(f, src)
	}
}

// ExpandPaths returns p itself when it is a file, or the rule files of the
// directory p (*.yaml and *.yml but *_test.yaml), sorted. It returns an error when p cannot be read.
func ExpandPaths(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		// *_test.yaml files are Peregrine test files (peregrine test), not rules.
		isTest := strings.HasSuffix(strings.TrimSuffix(e.Name(), ext), "_test")
		if !e.IsDir() && (ext == ".yaml" || ext == ".yml") && !isTest {
			out = append(out, filepath.Join(p, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// AddFile collects the items of one rules file. Problems are recorded in
// the result; the first error in a file stops reading that file, as in
// Falco.
func (l *Loader) AddFile(name string, src []byte) {
	docs, aliased, over, err := parseYAML(name, src, l.limits.ExpandedBytes-l.expanded)
	if err != nil {
		l.res.Errors = append(l.res.Errors, err.(*LoadError))
		return
	}
	if !l.expand(aliased) {
		at := Pos{File: name}
		if over != nil {
			at = posOf(name, over)
		}
		l.failAt(l.budgetError(at), "")
		return
	}
	conv := &converter{lines: strings.Split(string(src), "\n")}
	for _, doc := range docs {
		if doc.kind != ySeq {
			l.fail(Pos{File: name, Line: doc.line, Column: doc.col}, errYAMLValidate, "", "Rules content is not yaml array of objects")
			return
		}
		for _, item := range doc.items {
			before := len(l.res.Errors)
			l.addItem(name, conv, item)
			if len(l.res.Errors) > before {
				return
			}
		}
	}
}

func posOf(file string, n *ynode) Pos { return Pos{File: file, Line: n.line, Column: n.col} }

// itemReader reads keys of one item, recording the first problem.
type itemReader struct {
	l    *Loader
	file string
	conv *converter
	n    *ynode
	item string
	err  bool
}

func (r *itemReader) failAt(n *ynode, msg string) {
	if r.err {
		return
	}
	r.err = true
	if n == nil {
		n = r.n
	}
	r.l.fail(posOf(r.file, n), errYAMLValidate, r.item, msg)
}

// str returns a required, non-empty scalar.
func (r *itemReader) str(key string) (string, *ynode) {
	v := r.n.get(key)
	switch {
	case v == nil:
		r.failAt(r.n, fmt.Sprintf("Item has no mapping for key '%s'", key))
	case v.kind == yNull:
		r.failAt(v, fmt.Sprintf("Mapping for key '%s' is empty", key))
	case v.kind != yScalar:
		r.failAt(v, fmt.Sprintf("Value for key '%s' is not a scalar value", key))
	case v.value == "":
		r.failAt(v, fmt.Sprintf("Value must be non-empty (key '%s')", key))
	default:
		return v.value, v
	}
	return "", v
}

func (r *itemReader) has(key string) bool { return r.n.get(key) != nil }

func (r *itemReader) boolean(key string, def bool) bool {
	v := r.n.get(key)
	if v == nil {
		return def
	}
	if v.kind == yScalar {
		switch strings.ToLower(v.value) {
		case "true", "yes", "on":
			return true
		case "false", "no", "off":
			return false
		}
	}
	r.failAt(v, fmt.Sprintf("Can't decode YAML scalar value for key '%s' as a boolean", key))
	return def
}

func (r *itemReader) strings(key string) []string {
	v := r.n.get(key)
	if v == nil || v.kind == yNull {
		return nil
	}
	if v.kind != ySeq {
		r.failAt(v, fmt.Sprintf("Value for key '%s' is not a sequence", key))
		return nil
	}
	out := make([]string, 0, len(v.items))
	for _, it := range v.items {
		if it.kind != yScalar {
			r.failAt(it, fmt.Sprintf("Sequence value for key '%s' is not scalar", key))
			return nil
		}
		out = append(out, it.value)
	}
	return out
}

// noise reads the rule's throttle, skip_events and dedup keys into n.
func (r *itemReader) noise(n *policy.Noise) {
	for _, k := range policy.NoiseKeys {
		v := r.n.get(k)
		if v == nil {
			continue
		}
		if err := policy.ParseNoise(k, v.plain(), n); err != nil {
			r.failAt(v, err.Error())
			return
		}
	}
}

// checkKeys warns about keys the item kind does not know.
func (r *itemReader) checkKeys(allowed ...string) {
	for _, k := range r.n.keys {
		known := false
		for _, a := range allowed {
			if k.value == a {
				known = true
			}
		}
		if !known {
			r.l.warn(posOf(r.file, k), warnUnknownKey, r.item, fmt.Sprintf("Unknown key '%s'. The key will be ignored.", k.value))
		}
	}
}

// overrides reads the override mapping and the legacy append key. It
// returns key -> "append" or "replace".
func (r *itemReader) overrides(appendable, replaceable []string) map[string]string {
	out := map[string]string{}
	ov := r.n.get("override")
	legacy := r.boolean("append", false)
	if ov != nil && legacy {
		r.failAt(ov, "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.")
		return nil
	}
	if legacy {
		r.l.warn(posOf(r.file, r.n.get("append")), warnDeprecated, r.item, "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.")
		for _, k := range appendable {
			if r.has(k) {
				out[k] = "append"
			}
		}
		out[""] = "legacy"
		return out
	}
	if ov == nil {
		return out
	}
	if ov.kind != yMap {
		r.failAt(ov, "Value for key 'override' is not a mapping")
		return nil
	}
	for i, k := range ov.keys {
		op := ov.vals[i].value
		allowed := appendable
		if op == "replace" {
			allowed = replaceable
		} else if op != "append" {
			r.failAt(ov.vals[i], fmt.Sprintf("Invalid override operation for key '%s': '%s'. Allowed values are: append replace ", k.value, op))
			return nil
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == k.value
		}
		if !ok {
			if op == "append" {
				r.failAt(k, fmt.Sprintf("Key '%s' cannot be appended to, use 'replace' instead", k.value))
			} else {
				r.failAt(k, fmt.Sprintf("Key '%s' cannot be replaced", k.value))
			}
			return nil
		}
		if !r.has(k.value) {
			r.failAt(k, fmt.Sprintf("An %s override for '%s' was specified but '%s' is not defined", op, k.value, k.value))
			return nil
		}
		out[k.value] = op
	}
	// Every overridable key present must be listed under override.
	for _, k := range r.n.keys {
		if _, listed := out[k.value]; listed {
			continue
		}
		for _, a := range append(append([]string{}, appendable...), replaceable...) {
			if a == k.value && a != "enabled" {
				r.failAt(k, fmt.Sprintf("Unexpected key '%s': no corresponding entry under 'override' is defined.", k.value))
				return nil
			}
		}
	}
	return out
}

func (l *Loader) addItem(file string, conv *converter, item *ynode) {
	if item.kind != yMap {
		l.fail(posOf(file, item), errYAMLValidate, "", "Unexpected element type. Each element should be a yaml associative array.")
		return
	}
	r := &itemReader{l: l, file: file, conv: conv, n: item}
	switch {
	case item.get("required_engine_version") != nil:
		l.engineVersion(r)
	case item.get("required_plugin_versions") != nil:
		l.pluginVersions(r)
	case item.get("list") != nil:
		l.addList(r)
	case item.get("macro") != nil:
		l.addMacro(r)
	case item.get("rule") != nil:
		l.addRule(r)
	default:
		l.warn(posOf(file, item), warnUnknownItem, "", "Unknown top level item")
	}
}

func (l *Loader) engineVersion(r *itemReader) {
	r.item = "required_engine_version"
	v := r.n.get("required_engine_version")
	if v.kind != yScalar {
		r.failAt(v, "Value is not a scalar value")
		return
	}
	want := v.value
	if _, err := strconv.Atoi(want); err == nil {
		want = "0." + want + ".0"
	}
	w, ok := parseSemver(want)
	if !ok {
		r.failAt(v, fmt.Sprintf("Unable to parse engine version '%s' as a semver string. Expected \"x.y.z\" semver format.", v.value))
		return
	}
	have, _ := parseSemver(EngineVersion)
	if w[0] != have[0] || semverLess(have, w) {
		r.failAt(v, fmt.Sprintf("Rules require engine version %s, but engine version is %s", want, EngineVersion))
	}
}

func (l *Loader) pluginVersions(r *itemReader) {
	r.item = "required_plugin_versions"
	seq := r.n.get("required_plugin_versions")
	if seq.kind == yNull {
		return
	}
	if seq.kind != ySeq {
		r.failAt(seq, "Value is not a sequence")
		return
	}
	for _, p := range seq.items {
		if p.kind != yMap {
			r.failAt(p, "Unexpected element type in required_plugin_versions")
			return
		}
		pr := &itemReader{l: l, file: r.file, n: p, item: r.item}
		name, _ := pr.str("name")
		ver, vn := pr.str("version")
		if pr.err {
			return
		}
		want, ok := parseSemver(ver)
		if !ok {
			r.failAt(vn, fmt.Sprintf("Invalid required version '%s' for plugin '%s'", ver, name))
			return
		}
		candidates := []string{name}
		if alts := p.get("alternatives"); alts != nil && alts.kind == ySeq {
			for _, a := range alts.items {
				if n := a.get("name"); n != nil {
					candidates = append(candidates, n.value)
				}
			}
		}
		satisfied := false
		for _, c := range candidates {
			if c == "container" {
				have, _ := parseSemver(ContainerPluginVersion)
				satisfied = satisfied || (have[0] == want[0] && !semverLess(have, want))
			}
		}
		if !satisfied {
			r.failAt(p, fmt.Sprintf("Plugin '%s' version %s is required by this rules file, and Peregrine does not provide it (it provides the container plugin's fields, version %s)", name, ver, ContainerPluginVersion))
			return
		}
	}
}

func parseSemver(s string) ([3]int, bool) {
	var v [3]int
	parts := strings.SplitN(strings.TrimSpace(s), ".", 3)
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		if i == 2 {
			// Allow pre-release or build suffixes: 1.2.3-rc1.
			if j := strings.IndexAny(p, "-+"); j >= 0 {
				p = p[:j]
			}
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

func semverLess(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// id hands out the next definition number.
func (l *Loader) id() int {
	l.next++
	return l.next
}

func (l *Loader) addList(r *itemReader) {
	name, nn := r.str("list")
	r.item = itemRef("list", name)
	if r.err {
		return
	}
	r.checkKeys("list", "items", "append", "override")
	if !bareStringOK(name) {
		l.warn(posOf(r.file, nn), warnInvalidList, r.item, "List has an invalid name. List names should match a regular expression: ([^()\"'[:space:]=,]+)")
	}
	ops := r.overrides([]string{"items"}, []string{"items"})
	if r.err {
		return
	}
	if !r.has("items") {
		r.failAt(r.n, "Item has no mapping for key 'items'")
		return
	}
	items := r.strings("items")
	if r.err {
		return
	}
	key := "list:" + name
	i, exists := l.byName[key]
	switch ops["items"] {
	case "append":
		if !exists {
			r.failAt(nn, "List uses 'append' or 'override.items: append' but no list by that name already exists")
			return
		}
		if len(items) == 0 {
			l.warn(posOf(r.file, nn), warnAppendNoValues, r.item, "Overriding/appending list with no values")
		}
		d := l.lists[i]
		d.items = append(d.items, items...)
		d.vis = l.id()
		return
	case "replace":
		if !exists {
			r.failAt(nn, "An 'override.items: replace' to a list was requested but no list by that name already exists")
			return
		}
	}
	d := &listDef{name: name, items: items, pos: posOf(r.file, r.n), file: r.file}
	d.vis = l.id()
	if exists {
		d.index = l.lists[i].index
		l.lists[i] = d
		return
	}
	d.index = d.vis
	l.byName[key] = len(l.lists)
	l.lists = append(l.lists, d)
}

func bareStringOK(s string) bool {
	return s != "" && !strings.ContainsAny(s, "()\"' \t\n\r\v\f=,")
}

func (l *Loader) addMacro(r *itemReader) {
	name, nn := r.str("macro")
	r.item = itemRef("macro", name)
	if r.err {
		return
	}
	r.checkKeys("macro", "condition", "append", "override")
	if policy.IdentifierLen(name, 0) != len(name) {
		l.warn(posOf(r.file, nn), warnInvalidMacro, r.item, "Macro has an invalid name. Macro names should match a regular expression: ([a-zA-Z]+[a-zA-Z0-9_]*)")
	}
	ops := r.overrides([]string{"condition"}, []string{"condition"})
	if r.err {
		return
	}
	cond, cn := r.str("condition")
	if r.err {
		return
	}
	key := "macro:" + name
	i, exists := l.byName[key]
	switch ops["condition"] {
	case "append":
		if !exists {
			r.failAt(nn, "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists")
			return
		}
		d := l.macros[i]
		d.cond.add(" ", nil, nil, r.file)
		d.cond.add(cond, cn, r.conv, r.file)
		d.vis = l.id()
		return
	case "replace":
		if !exists {
			r.failAt(nn, "An 'override.condition: replace' to a macro was requested but no macro by that name already exists")
			return
		}
	}
	d := &macroDef{name: name, pos: posOf(r.file, r.n), file: r.file}
	d.cond.add(cond, cn, r.conv, r.file)
	d.vis = l.id()
	if exists {
		d.index = l.macros[i].index
		l.macros[i] = d
		return
	}
	d.index = d.vis
	l.byName[key] = len(l.macros)
	l.macros = append(l.macros, d)
}

var (
	// Peregrine's noise keys (policy.NoiseKeys) are rule keys too, and
	// replaceable.
	ruleKeys        = append([]string{"rule", "condition", "output", "desc", "priority", "source", "enabled", "capture", "capture_duration", "warn_evttypes", "skip-if-unknown-filter", "tags", "exceptions", "override", "append"}, policy.NoiseKeys...)
	ruleAppendable  = []string{"condition", "output", "desc", "tags", "exceptions"}
	ruleReplaceable = append([]string{"condition", "output", "desc", "priority", "capture", "capture_duration", "tags", "exceptions", "enabled", "warn_evttypes", "skip-if-unknown-filter"}, policy.NoiseKeys...)
)

func (l *Loader) addRule(r *itemReader) {
	name, nn := r.str("rule")
	r.item = itemRef("rule", name)
	if r.err {
		return
	}
	r.checkKeys(ruleKeys...)
	for _, k := range []string{"capture", "capture_duration"} {
		if v := r.n.get(k); v != nil {
			l.warn(posOf(r.file, v), warnIgnoredCapture, r.item, fmt.Sprintf("Key '%s' is accepted and ignored: Peregrine does not write capture files", k))
		}
	}
	ops := r.overrides(ruleAppendable, ruleReplaceable)
	if r.err {
		return
	}
	key := "rule:" + name
	i, exists := l.byName[key]
	var prev *ruleDef
	if exists {
		prev = l.rules[i]
	}
	_, legacyAppend := ops[""]
	delete(ops, "")
	if legacyAppend || len(ops) > 0 {
		l.overrideRule(r, prev, nn, ops, legacyAppend)
		return
	}
	if !r.has("condition") && !r.has("output") && !r.has("desc") && !r.has("priority") {
		// An enabled-only item.
		if !r.has("enabled") {
			r.failAt(r.n, "Item has no mapping for key 'condition'")
			return
		}
		enabled := r.boolean("enabled", true)
		if r.err {
			return
		}
		if prev == nil {
			r.failAt(nn, "Rule has 'enabled' key but no rule by that name already exists")
			return
		}
		l.warn(posOf(r.file, r.n.get("enabled")), warnDeprecated, r.item, "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace').")
		prev.enabled = enabled
		return
	}
	d := &ruleDef{name: name, pos: posOf(r.file, r.n), file: r.file, source: "syscall"}
	cond, cn := r.str("condition")
	out, on := r.str("output")
	desc, _ := r.str("desc")
	d.desc = []byte(desc)
	prio, pn := r.str("priority")
	if r.err {
		return
	}
	p, err := policy.ParsePriority(prio)
	if err != nil {
		l.fail(posOf(r.file, pn), errValidate, r.item, "Invalid priority")
		return
	}
	d.priority = p
	d.cond.add(cond, cn, r.conv, r.file)
	d.output.add(strings.TrimSpace(out), on, r.conv, r.file)
	if s := r.n.get("source"); s != nil && s.kind == yScalar && s.value != "" {
		d.source = s.value
	}
	d.enabled = r.boolean("enabled", true)
	d.warnEvt = r.boolean("warn_evttypes", true)
	d.skipUnk = r.boolean("skip-if-unknown-filter", false)
	d.tags = r.strings("tags")
	d.exceptions = l.readExceptions(r, nil)
	r.noise(&d.noise)
	if r.err {
		return
	}
	if prev != nil {
		if prev.file == r.file {
			l.fail(posOf(r.file, nn), errValidate, r.item, fmt.Sprintf("Rule is defined twice in the same file (first at %s); use 'override' to change it", prev.pos))
			return
		}
		if explicit := r.n.get("source"); explicit != nil && prev.source != d.source {
			r.failAt(explicit, "Rule has been re-defined with a different source")
			return
		}
		d.index = prev.index
		l.id()
		l.rules[i] = d
		return
	}
	d.index = l.id()
	l.byName[key] = len(l.rules)
	l.rules = append(l.rules, d)
}

// overrideRule applies append and replace operations to an existing rule.
func (l *Loader) overrideRule(r *itemReader, prev *ruleDef, nn *ynode, ops map[string]string, legacy bool) {
	anyAppend, anyReplace := legacy, false
	for _, op := range ops {
		anyAppend = anyAppend || op == "append"
		anyReplace = anyReplace || op == "replace"
	}
	if prev == nil {
		if anyAppend {
			r.failAt(nn, "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists")
		} else {
			r.failAt(nn, "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists")
		}
		return
	}
	if legacy && !r.has("condition") && !r.has("exceptions") {
		r.failAt(r.n, "Appended rule must have exceptions or condition property")
		return
	}
	l.id()
	for key, op := range ops {
		v := r.n.get(key)
		switch key {
		case "condition", "output", "desc":
			text, vn := r.str(key)
			if r.err {
				return
			}
			if key == "output" {
				text = strings.TrimSpace(text)
			}
			switch {
			case key == "desc" && op == "append":
				prev.desc = append(append(prev.desc, ' '), text...)
			case key == "desc":
				prev.desc = []byte(text)
			default:
				src := &prev.cond
				if key == "output" {
					src = &prev.output
				}
				if op == "replace" {
					*src = source{}
				} else if text != "" {
					src.add(" ", nil, nil, r.file)
				}
				src.add(text, vn, r.conv, r.file)
			}
		case "tags":
			tags := r.strings("tags")
			if op == "replace" {
				prev.tags = tags
				break
			}
			have := make(map[string]bool, len(prev.tags))
			for _, t := range prev.tags {
				have[t] = true
			}
			for _, t := range tags {
				if !have[t] {
					have[t] = true
					prev.tags = append(prev.tags, t)
				}
			}
		case "exceptions":
			if op == "replace" {
				prev.exceptions = l.readExceptions(r, nil)
			} else {
				prev.exceptions = l.readExceptions(r, prev.exceptions)
			}
		case "priority":
			p, err := policy.ParsePriority(v.value)
			if err != nil {
				l.fail(posOf(r.file, v), errValidate, r.item, "Invalid priority")
				return
			}
			prev.priority = p
		case "enabled":
			prev.enabled = r.boolean("enabled", true)
		case "warn_evttypes":
			prev.warnEvt = r.boolean(key, true)
		case "skip-if-unknown-filter":
			prev.skipUnk = r.boolean(key, false)
		case "capture", "capture_duration":
			// Falco's captures: accepted, nothing to do.
		default:
			// A noise key (policy.NoiseKeys), replaced one at a time: a
			// rule overriding its throttle keeps its dedup.
			if err := policy.ParseNoise(key, v.plain(), &prev.noise); err != nil {
				r.failAt(v, err.Error())
			}
		}
		if r.err {
			return
		}
	}
}

// readExceptions reads the exceptions key; with prev, appends to them.
func (l *Loader) readExceptions(r *itemReader, prev []*exceptionDef) []*exceptionDef {
	v := r.n.get("exceptions")
	if v == nil || v.kind == yNull {
		return prev
	}
	if v.kind != ySeq {
		r.failAt(v, "Value for key 'exceptions' is not a sequence")
		return prev
	}
	out := append([]*exceptionDef(nil), prev...)
	byName := map[string]*exceptionDef{} // the last of each name
	for _, p := range out {
		byName[p.name] = p
	}
	seen := map[string]bool{}
	for _, en := range v.items {
		if en.kind != yMap {
			r.failAt(en, "Exception is not a mapping")
			return prev
		}
		er := &itemReader{l: l, file: r.file, conv: r.conv, n: en, item: r.item}
		name, _ := er.str("name")
		if er.err {
			r.err = true
			return prev
		}
		if seen[name] {
			l.warn(posOf(r.file, en), warnExceptionName, r.item, fmt.Sprintf("Multiple definitions of exception '%s' in the same rule", name))
		}
		seen[name] = true
		if existing := byName[name]; existing != nil && prev != nil {
			if en.get("fields") != nil {
				r.failAt(en.get("fields"), "Can not append exception fields to existing exception, only values")
				return prev
			}
			if en.get("comps") != nil {
				r.failAt(en.get("comps"), "Can not append exception comps to existing exception, only comps")
				return prev
			}
			if vals := en.get("values"); vals != nil && vals.kind == ySeq {
				existing.values = append(existing.values, vals.items...)
			}
			continue
		}
		ex := &exceptionDef{name: name, node: en, conv: r.conv, file: r.file}
		fv := en.get("fields")
		switch {
		case fv == nil:
			r.failAt(en, "Item has no mapping for key 'fields'")
			return prev
		case fv.kind == yScalar:
			ex.fields = []string{fv.value}
		case fv.kind == ySeq:
			ex.fieldList = true
			ex.fields = er.strings("fields")
		default:
			r.failAt(fv, "Value for key 'fields' is not a scalar or a sequence")
			return prev
		}
		if cv := en.get("comps"); cv != nil && cv.kind != yNull {
			if cv.kind == yScalar {
				ex.comps = []string{cv.value}
			} else {
				ex.comps = er.strings("comps")
			}
		}
		if er.err {
			r.err = true
			return prev
		}
		if !l.checkException(r, ex, fv) {
			return prev
		}
		if vals := en.get("values"); vals != nil && vals.kind != yNull {
			if vals.kind != ySeq {
				r.failAt(vals, "Value for key 'values' is not a sequence")
				return prev
			}
			// Capped: a later append must copy, not write into the YAML
			// node, which an alias may share with another rule.
			ex.values = vals.items[:len(vals.items):len(vals.items)]
		}
		out = append(out, ex)
		byName[name] = ex
	}
	return out
}

// checkException fills default comparison operators and validates them.
func (l *Loader) checkException(r *itemReader, ex *exceptionDef, fv *ynode) bool {
	if !ex.fieldList {
		if len(ex.comps) == 0 {
			ex.comps = []string{"in"}
		}
		c := ex.comps[0]
		if c != "in" && c != "pmatch" && c != "intersects" && !isModifierOp(c) {
			r.failAt(fv, "When fields is a single value, comps must be one of (in, pmatch, intersects) or a modifier operator (e.g. startswith oneof)")
			return false
		}
	} else {
		if len(ex.comps) == 0 {
			for range ex.fields {
				ex.comps = append(ex.comps, "=")
			}
		}
		if len(ex.comps) != len(ex.fields) {
			r.failAt(fv, "Fields and comps lists must have equal length")
			return false
		}
	}
	for _, c := range ex.comps {
		if _, ok := policy.ParseOp(c); !ok && !isModifierOp(c) {
			r.failAt(fv, fmt.Sprintf("'%s' is not a supported comparison operator", c))
			return false
		}
	}
	for _, f := range ex.fields {
		if _, err := policy.ResolveFieldName(f); err != nil {
			r.failAt(fv, fmt.Sprintf("'%s' is not a supported filter field", f))
			return false
		}
	}
	return true
}

// isModifierOp reports whether c is "<op> <modifier>", as "startswith oneof".
func isModifierOp(c string) bool {
	parts := strings.Fields(c)
	if len(parts) != 2 {
		return false
	}
	op, ok := policy.ParseOp(parts[0])
	_, mok := policy.ParseModifier(parts[1])
	return ok && mok && policy.ModifierOK(op)
}

func isListComp(c string) bool {
	return c == "in" || c == "intersects" || c == "pmatch" || isModifierOp(c)
}

// quoteItem quotes a list item that holds a space, as Falco does.
func quoteItem(e string) string {
	if strings.Contains(e, " ") && e != "" && e[0] != '"' && e[0] != '\'' {
		return `"` + e + `"`
	}
	return e
}

func parenItem(e string) string {
	if e == "" || e[0] != '(' {
		return "(" + e + ")"
	}
	return e
}
