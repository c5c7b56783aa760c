package rego

import (
	"context"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/policy"
)

func load1(t testing.TB, src string) *policy.Rule {
	t.Helper()
	l, err := Load(map[string][]byte{"t.rego": []byte(src)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(l.Warnings) > 0 {
		t.Fatalf("Load warns: %v", l.Warnings)
	}
	rules := l.Rules
	if len(rules) != 1 {
		t.Fatalf("got %d rules, want 1", len(rules))
	}
	return rules[0]
}

func TestTranslate(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"eq", `input.proc.name == "bash"`, `proc.name = bash`},
		{"eq swapped", `"bash" == input.proc.name`, `proc.name = bash`},
		{"ne", `input.proc.name != "bash"`, `proc.name != bash`},
		{"lt number", `input.user.uid < 1000`, `user.uid < 1000`},
		{"ge swapped", `1000 <= input.user.uid`, `user.uid >= 1000`},
		{"number vs string field", `input.proc.name == 123`, `rego("input.proc.name = 123")`},
		{"string vs number field", `input.user.uid == "0"`, `rego("input.user.uid = \"0\"")`},
		{"negative unsigned", `input.user.uid == -1`, `rego("input.user.uid = -1")`},
		{"negative signed", `input.proc.pid == -1`, `proc.pid = -1`},
		{"float", `input.user.uid == 1.5`, `rego("input.user.uid = 1.5")`},
		{"bool", `input.evt.failed == true`, `evt.failed = true`},
		{"bare bool", `input.evt.failed`, `evt.failed = true`},
		{"bare string", `input.proc.name`, `proc.name exists`},
		{"not", `not input.proc.name == "bash"`, `not proc.name = bash`},
		{"not call", `not startswith(input.proc.name, "ba")`, `(proc.name exists and not proc.name startswith ba)`},
		{"not in", `not input.proc.name in {"a"}`, `(proc.name exists and not proc.name in (a))`},
		{"not ne", `not input.user.uid != 0`, `(user.uid exists and not user.uid != 0)`},
		{"not lower", `not lower(input.proc.name) == "a"`, `(proc.name exists and not tolower(proc.name) = a)`},
		{"not bare", `not input.proc.name`, `not proc.name exists`},
		{"not ancestor call", `not startswith(input.proc.aname[1], "a")`, `rego("not startswith(input.proc.aname[1], \"a\")")`},
		{"in set", `input.proc.name in {"sh", "bash"}`, `proc.name in (bash, sh)`},
		{"in array numbers", `input.user.uid in [0, 1]`, `user.uid in (0, 1)`},
		{"in mixed", `input.user.uid in [0, "1"]`, `rego("internal.member_2(input.user.uid, [0, \"1\"])")`},
		{"in empty", `input.proc.name in set()`, `(evt.num < 0)`},
		{"startswith", `startswith(input.fd.name, "/etc/")`, `fd.name startswith /etc/`},
		{"endswith", `endswith(input.fd.name, ".conf")`, `fd.name endswith .conf`},
		{"contains", `contains(input.proc.cmdline, "-c")`, `proc.cmdline contains -c`},
		{"lower", `lower(input.proc.name) == "bash"`, `tolower(proc.name) = bash`},
		{"upper startswith", `startswith(upper(input.proc.name), "BA")`, `toupper(proc.name) startswith BA`},
		{"ancestor", `input.proc.aname[2] == "sshd"`, `proc.aname[2] = sshd`},
		{"ancestor ne", `input.proc.aname[2] != "sshd"`, `rego("neq(input.proc.aname[2], \"sshd\")")`},
		{"ancestor bare", `input.proc.aname[2]`, `rego(input.proc.aname[2])`},
		{"ancestor any", `some i; input.proc.aname[i] == "sshd"`, `rego("input.proc.aname[__local0__1] = \"sshd\"")`},
		{"evt.arg", `input.evt.arg.flags == "O_RDONLY"`, `evt.arg[flags] = O_RDONLY`},
		{"evt.type", `input.evt.type == "openat"`, `evt.type = openat`},
		{"glob null", `glob.match("/etc/*", null, input.fd.name)`, `fd.name glob /etc/*`},
		{"glob default delimiter", `glob.match("/etc/*", [], input.fd.name)`, `rego("glob.match(\"/etc/*\", [], input.fd.name)")`},
		{"glob class", `glob.match("/etc/[ab]", null, input.fd.name)`, `rego("glob.match(\"/etc/[ab]\", null, input.fd.name)")`},
		{"regex anchored", `regex.match("^/etc/[a-z]+$", input.fd.name)`,
			`((not fd.name contains "\n" and fd.name regex /etc/[a-z]+) or (fd.name contains "\n" and rego("regex.match(\"^/etc/[a-z]+$\", input.fd.name)")))`},
		{"regex search", `regex.match("etc", input.fd.name)`, `rego("regex.match(\"etc\", input.fd.name)")`},
		{"regex alternation", `regex.match("^a|b$", input.fd.name)`, `rego("regex.match(\"^a|b$\", input.fd.name)")`},
		{"regex perl", `regex.match("^\\d+$", input.proc.name)`, `rego("regex.match(\"^\\\\d+$\", input.proc.name)")`},
		{"conflicted field", `input.container.image == "nginx"`, `rego("input.container.image = \"nginx\"")`},
		{"ip field", `input.fd.sip == "10.0.0.1"`, `fd.sip = 10.0.0.1`},
		{"ip in", `input.fd.rip in {"::1", "10.0.0.1"}`, `fd.rip in (10.0.0.1, ::1)`},
		{"ip not canonical", `input.fd.sip == "0:0::1"`, `rego("input.fd.sip = \"0:0::1\"")`},
		{"ip order", `input.fd.sip < "10.0.0.1"`, `rego("lt(input.fd.sip, \"10.0.0.1\")")`},
		{"ip either", `input.fd.ip == "10.0.0.1"`, `rego("input.fd.ip = \"10.0.0.1\"")`},
		{"cidr v4", `net.cidr_contains("10.0.0.0/8", input.fd.sip)`, `fd.snet in (10.0.0.0/8, ::ffff:10.0.0.0/104)`},
		{"cidr v4 unmasked", `net.cidr_contains("10.1.2.3/8", input.fd.rip)`, `fd.rnet in (10.0.0.0/8, ::ffff:10.0.0.0/104)`},
		{"cidr mapped", `net.cidr_contains("::ffff:10.0.0.0/104", input.fd.sip)`, `fd.snet in (10.0.0.0/8, ::ffff:10.0.0.0/104)`},
		{"cidr v6", `net.cidr_contains("fd00::/8", input.fd.sip)`, `fd.snet = fd00::/8`},
		{"cidr v6 over mapped", `net.cidr_contains("::/0", input.fd.sip)`, `(fd.snet = ::/0 and not fd.snet = ::ffff:0.0.0.0/96)`},
		{"cidr not", `not net.cidr_contains("10.0.0.0/8", input.fd.sip)`, `(fd.sip exists and not fd.snet in (10.0.0.0/8, ::ffff:10.0.0.0/104))`},
		{"cidr bad", `net.cidr_contains("10.0.0.0", input.fd.sip)`, `rego("net.cidr_contains(\"10.0.0.0\", input.fd.sip)")`},
		{"cidr string field", `net.cidr_contains("10.0.0.0/8", input.fd.name)`, `rego("net.cidr_contains(\"10.0.0.0/8\", input.fd.name)")`},
		{"ancestor walk", "some i, n in input.proc.aname\ni > 0\nn in {\"cron\", \"sshd\"}\nevery j in numbers.range(1, i) { input.proc.aname[j] != null }",
			`proc.aname in (cron, sshd)`},
		{"ancestor walk ne", "some i\ni >= 1\nstartswith(input.proc.aexepath[i], \"/usr/\")\nevery j in numbers.range(1, i) { input.proc.aexepath[j] != null }",
			`proc.aexepath startswith /usr/`},
		{"ancestor walk from 0", "some i, n in input.proc.aname\nn == \"cron\"\nevery j in numbers.range(1, i) { input.proc.aname[j] != null }",
			`rego("\"cron\" = input.proc.aname[__local0__1]; every __local2__1, __local3__1 in numbers.range(1, __local0__1) { __local8__1 = input.proc.aname[__local3__1]; neq(__local8__1, null) }")`},
		{"ancestor walk no gap check", "some i\ni > 0\ninput.proc.aname[i] == \"cron\"",
			`rego("input.proc.aname[__local0__1] = \"cron\"; gt(__local0__1, 0)")`},
		{"ancestor walk other field gap", "some i\ni > 0\ninput.proc.aname[i] == \"cron\"\nevery j in numbers.range(1, i) { input.proc.aexe[j] != null }",
			`rego("input.proc.aname[__local0__1] = \"cron\"; every __local1__1, __local2__1 in numbers.range(1, __local0__1) { __local7__1 = input.proc.aexe[__local2__1]; neq(__local7__1, null) }; gt(__local0__1, 0)")`},
		{"ancestor walk pid", "some i\ni > 0\ninput.proc.apid[i] == 1\nevery j in numbers.range(1, i) { input.proc.apid[j] != null }",
			`rego("input.proc.apid[__local0__1] = 1; every __local1__1, __local2__1 in numbers.range(1, __local0__1) { __local7__1 = input.proc.apid[__local2__1]; neq(__local7__1, null) }; gt(__local0__1, 0)")`},
		{"constant false", `1 == 2`, `(evt.num < 0)`},
		{"conjunction", `input.evt.type == "openat"; input.user.uid == 0; count(input.proc.args) > 3`,
			`(evt.type = openat and user.uid = 0 and rego("gt(count(input.proc.args), 3)"))`},
		{"helper", `not shell`, `not (proc.name in (bash, sh) or proc.name startswith zsh)`},
		{"data list", `input.proc.name == lst[_]`, `(proc.name = a or proc.name = b)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "package t\nshell if input.proc.name in {\"sh\", \"bash\"}\nshell if startswith(input.proc.name, \"zsh\")\nlst := [\"a\", \"b\"]\nalert if {\n" + tc.body + "\n}\n"
			r := load1(t, src)
			if got := r.Condition.String(); got != tc.want {
				t.Errorf("condition\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	r := load1(t, `# METADATA
# title: Shadow read
# description: A shell read the shadow file
# custom:
#   priority: critical
#   tags: [filesystem, mitre_credential_access]
#   output: "Shadow read (proc=%proc.name file=%fd.name flags=%evt.arg.flags anc=%proc.aname[2] 100%%)"
package x.y

alert if {
	input.evt.type in {"open", "openat"}
	input.fd.name == "/etc/shadow"
}
`)
	if r.Name != "Shadow read" || r.Desc != "A shell read the shadow file" || r.Priority != policy.PriorityCritical ||
		strings.Join(r.Tags, ",") != "filesystem,mitre_credential_access" || r.Source != "syscall" || !r.Enabled {
		t.Errorf("rule = %+v", r)
	}
	if got := strings.Join(r.EventTypes, ","); got != "open,openat" {
		t.Errorf("event types %s", got)
	}
	if got, want := r.Output.String(), "Shadow read (proc=%proc.name file=%fd.name flags=%evt.arg[flags] anc=%proc.aname[2] 100%%)"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if r.Pos.File != "t.rego" || r.Pos.Line != 10 {
		t.Errorf("pos %v", r.Pos)
	}
	d := load1(t, "package x.y\nalert if input.proc.name == \"a\"\n")
	if d.Name != "x.y" || d.Desc != "x.y" || d.Priority != DefaultPriority || d.Tags != nil ||
		d.Output.String() != "x.y"+DefaultOutput {
		t.Errorf("defaults: %+v %s", d, d.Output.String())
	}
	// Rule-scope annotations count too; equal values do not conflict.
	r2 := load1(t, `# METADATA
# title: T
package z

# METADATA
# title: T
# custom:
#   priority: Notice
alert if input.proc.name == "a"
`)
	if r2.Name != "T" || r2.Priority != policy.PriorityNotice {
		t.Errorf("rule-scope: %+v", r2)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"syntax", map[string]string{"bad.rego": "package p\n\nalert if {\n  input.x ==\n}\n"}, "bad.rego:5:1: rego_parse_error"},
		{"type", map[string]string{"ty.rego": "package p\n\nalert if {\n  startswith(input.x, 1)\n}\n"}, "ty.rego:4:3: rego_type_error"},
		{"http.send", map[string]string{"h.rego": "package p\n\nalert if {\n  r := http.send({\"method\": \"get\", \"url\": \"http://x\"})\n  r.status_code == 200\n}\n"},
			"h.rego:4:8: builtin http.send is not allowed"},
		{"net.lookup", map[string]string{"n.rego": "package p\nalert if net.lookup_ip_addr(\"x\")\n"}, "n.rego:2:10: builtin net.lookup_ip_addr is not allowed"},
		{"opa.runtime", map[string]string{"o.rego": "package p\nalert if opa.runtime().env\n"}, "builtin opa.runtime is not allowed"},
		{"time.now_ns", map[string]string{"tn.rego": "package p\nalert if time.now_ns() > 0\n"}, "tn.rego:2:10: builtin time.now_ns is not allowed"},
		{"string alert", map[string]string{"s.rego": "package p\nalert := \"yes\"\n"}, "s.rego:2:10: alert must be a boolean rule"},
		{"set alert", map[string]string{"s.rego": "package p\nalert contains x if x := input.proc.name\n"}, "s.rego:2:1: alert must be a boolean rule"},
		{"function alert", map[string]string{"f.rego": "package p\nalert(x) if x == 1\n"}, "f.rego:2:1: alert must be a boolean rule"},
		{"computed alert", map[string]string{"c.rego": "package p\nalert := x if x := input.proc.name\n"}, "c.rego:2:1: alert must be a boolean rule; it has type"},
		{"conflicting metadata", map[string]string{"m.rego": "# METADATA\n# title: A\npackage p\n\n# METADATA\n# title: B\nalert if input.proc.name == \"a\"\n"},
			"conflicting metadata: title is"},
		{"conflicting across files", map[string]string{
			"a.rego": "package p\n\n# METADATA\n# custom:\n#   priority: Error\nalert if input.proc.name == \"a\"\n",
			"b.rego": "package p\n\n# METADATA\n# custom:\n#   priority: Notice\nalert if input.proc.name == \"b\"\n"},
			"conflicting metadata: custom.priority is"},
		{"bad priority", map[string]string{"p.rego": "# METADATA\n# custom:\n#   priority: urgent\npackage p\nalert if input.proc.name == \"a\"\n"},
			"p.rego:1:1: metadata custom.priority: unknown priority"},
		{"bad output field", map[string]string{"o.rego": "# METADATA\n# custom:\n#   output: \"x %proc.nope\"\npackage p\nalert if input.proc.name == \"a\"\n"},
			"unknown field %proc.nope"},
		{"not rego", map[string]string{"x.yaml": "a: b"}, "x.yaml: not a .rego file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			for n, s := range tc.files {
				files[n] = []byte(s)
			}
			_, err := Load(files)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// Differential testing: the translated rules against OPA on the original
// policies.

var diffPolicies = map[string]string{
	"d1": `package d1
shells := {"bash", "sh"}
is_shell if input.proc.name in shells
is_shell if startswith(input.proc.name, "zsh")
is_shell if lower(input.proc.pname) == "bash"
alert if {
	input.evt.type == "openat"
	lower(input.fd.name) == "/etc/shadow"
	not is_shell
}
alert if {
	input.user.uid == 0
	regex.match("^/etc/[a-z.]+$", input.fd.name)
	input.proc.aname[2] == "sshd"
}
alert if {
	some i
	input.proc.aname[i] == "cron"
	input.fd.name == data.d1.lst[_]
}
lst := ["/a", "/b", "/etc/x.txt"]
`,
	"d2": `package d2
alert if {
	glob.match("/etc/*", null, input.fd.name)
	not input.evt.failed
	input.user.uid != 1000
}
alert if {
	glob.match("*.txt", [], input.fd.name)
	input.user.uid == "0"
}
alert if { input.proc.name == 123 }
alert if { input.proc.pid < 100; input.proc.pid >= -5 }
alert if { regex.match("sh", input.proc.name); not contains(input.proc.cmdline, "-c") }
alert if { endswith(upper(input.proc.name), "SH"); input.evt.arg.flags == "O_RDONLY" }
`,
	"d3": `package d3
trusted contains "nginx"
trusted contains "redis"
untrusted if not input.container.image.repository in trusted
alert if {
	untrusted
	input.evt.type in {"execve", "connect"}
	not input.proc.name in {"bash", "cat"}
}
alert if { input.container.image == "x"; input.evt.failed == false }
alert if { count(input.proc.aname) > 3; input.proc.apid[1] == 1 }
alert if { input.user.uid in {0, 1, 18446744073709551615} ; input.evt.rawres < 0 }
alert if { input.proc.name; not input.proc.pname }
alert if { input.proc.aname[2] != "sshd"; input.proc.apid[1] > 1 }
alert if { input.proc.aname[1]; not startswith(input.proc.aname[1], "c") }
`,
	"d4": `package d4
watched := {"cron", "sshd", "bash"}
alert if {
	some i, n in input.proc.aname
	i > 0
	n in watched
	every j in numbers.range(1, i) { input.proc.aname[j] != null }
	input.evt.type == "openat"
}
alert if {
	some i
	i >= 1
	input.proc.aexepath[i] != "/usr/sbin/cron"
	every j in numbers.range(1, i) { input.proc.aexepath[j] != null }
	input.evt.type == "execve"
}
from_ss if {
	some i, n in input.proc.aname
	i > 0
	startswith(n, "ss")
	every j in numbers.range(1, i) { input.proc.aname[j] != null }
}
alert if { not from_ss; input.evt.type == "connect"; input.proc.name == "bash" }
alert if { net.cidr_contains("10.0.0.0/8", input.fd.sip); input.evt.type == "connect" }
alert if { net.cidr_contains("::/0", input.fd.sip); input.evt.type == "open" }
alert if { net.cidr_contains("::ffff:192.168.0.0/112", input.fd.rip); not input.proc.name }
alert if { not net.cidr_contains("fd00::/8", input.fd.rip); input.evt.type == "execve"; input.proc.name == "cat" }
alert if { input.fd.sip in {"127.0.0.1", "::1"}; input.user.uid == 0 }
alert if { input.fd.rip != "::ffff:10.0.0.1"; input.proc.name == "sh" }
`,
}

var diffPools = map[string][]any{
	"evt.type":                   {"openat", "execve", "connect", "open"},
	"proc.name":                  {"bash", "sh", "zsh5", "cat", "Bash", 123, "", "a\nsh", "cron", "BaSh", true},
	"proc.pname":                 {"bash", "BASH", "sshd", 7, "cron"},
	"proc.cmdline":               {"bash -c ls", "cat /etc/shadow", 5},
	"fd.name":                    {"/etc/shadow", "/ETC/SHADOW", "/etc/x.txt", "/a", "/b", "/etc/\nfoo", "/etc/a.b.c", 5, "/etc/passwd"},
	"user.uid":                   {0, "0", 1000, "abc", -1, "1000", 1, 4294967296, "18446744073709551615"},
	"proc.pid":                   {1, 99, 100, -5, -6, "50", "x", "18446744073709551615"},
	"evt.failed":                 {true, false, "true", "x"},
	"evt.arg.flags":              {"O_RDONLY", "O_WRONLY|O_CREAT", 0},
	"evt.rawres":                 {0, -2, 3, "-1"},
	"container.image":            {"x", "nginx"},
	"container.image.repository": {"nginx", "redis", "evil"},
	"proc.aname": {[]any{"cat", "bash", "sshd"}, []any{"x", "cron"}, []any{"a", "b", "c", "d", "e"}, []any{"a", nil, "sshd"},
		[]any{"cron"}, []any{"a", 5, "sshd"}, []any{"a", "b", nil, "bash"}},
	"proc.aname[3]": {"cron", "sshd"},
	"proc.aexepath": {[]any{"/bin/cat", "/usr/sbin/cron"}, []any{"/bin/cat", nil, "/bin/x"}, []any{"/bin/a", "/usr/sbin/cron", "/bin/sh"}},
	"fd.sip": {"10.1.2.3", "::ffff:10.1.2.3", "127.0.0.1", "::1", "0:0:0:0:0:0:0:1", "fe80::1%eth0", "fd00::5",
		"garbage", 5, "10.0.0.1/8", "2001:db8::1", "::ffff:127.0.0.1"},
	"fd.rip":        {"192.168.1.1", "::ffff:192.168.3.4", "fd00::1", "10.0.0.1", "::ffff:10.0.0.1", "::FFFF:10.0.0.1", "x", 7},
	"proc.apid":     {[]any{5, 1}, []any{5, "1"}, []any{5, 2}},
	"proc.aname[2]": {"sshd", "cron"},
}

func genEvent(rng *rand.Rand, pick func(n int) int) *policy.Event {
	ev := policy.NewEvent()
	names := make([]string, 0, len(diffPools))
	for n := range diffPools {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if pick(10) < 4 {
			continue
		}
		pool := diffPools[n]
		ev.Set(n, pool[pick(len(pool))])
	}
	return ev
}

type diffSuite struct {
	rules []*policy.Rule
	refEv *policy.Evaluator
	tree  *compiler.Tree
	opa   map[string]rego.PreparedEvalQuery // by rule name (package path)
}

func newDiffSuite(t testing.TB) *diffSuite {
	files := map[string][]byte{}
	var mods []func(*rego.Rego)
	for n, s := range diffPolicies {
		files[n+".rego"] = []byte(s)
		mods = append(mods, rego.Module(n+".rego", s))
	}
	l, err := Load(files)
	if err != nil {
		t.Fatal(err)
	}
	rules := l.Rules
	s := &diffSuite{rules: rules, opa: map[string]rego.PreparedEvalQuery{}}
	rs := &policy.Ruleset{Rules: rules}
	if s.refEv, err = policy.NewEvaluator(rs); err != nil {
		t.Fatal(err)
	}
	if s.tree, err = compiler.BuildTree(rs); err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		opts := append([]func(*rego.Rego){rego.Query("data." + r.Name + ".alert == true")}, mods...)
		pq, err := rego.New(opts...).PrepareForEval(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s.opa[r.Name] = pq
	}
	return s
}

// check compares, on one event, every rule's translation (reference
// evaluator and decision tree) with OPA on the original policy.
func (s *diffSuite) check(t testing.TB, ev *policy.Event) {
	input := Input(ev)
	var treeHits []int
	treeHits = s.tree.Match(ev, false, nil, treeHits)
	inTree := map[int]bool{}
	for _, i := range treeHits {
		inTree[i] = true
	}
	for i, r := range s.rules {
		rs, err := s.opa[r.Name].Eval(context.Background(), rego.EvalParsedInput(input))
		if err != nil {
			t.Fatalf("OPA: %v", err)
		}
		want := holds(rs)
		got := s.refEv.Match(r, ev)
		if got != want || inTree[i] != want {
			js, _ := ev.MarshalJSON()
			t.Fatalf("rule %s on %s (input %v): reference %v, tree %v, OPA %v\ncondition %s",
				r.Name, js, input, got, inTree[i], want, r.Condition)
		}
	}
}

func TestDifferential(t *testing.T) {
	s := newDiffSuite(t)
	rng := rand.New(rand.NewSource(1))
	n := 5000
	if testing.Short() {
		n = 1000
	}
	matches := map[string]int{}
	for range n {
		ev := genEvent(rng, rng.Intn)
		s.check(t, ev)
		for _, r := range s.rules {
			if s.refEv.Match(r, ev) {
				matches[r.Name]++
			}
		}
	}
	for _, r := range s.rules {
		if matches[r.Name] == 0 {
			t.Errorf("rule %s never matched: the generator does not exercise it", r.Name)
		}
	}
	t.Logf("%d events, matches %v", n, matches)
}

func FuzzDifferential(f *testing.F) {
	s := newDiffSuite(f)
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, "bash", int64(0))
	f.Add([]byte{0, 0, 0, 0}, "/etc/shadow", int64(-1))
	f.Fuzz(func(t *testing.T, choices []byte, str string, num int64) {
		i := 0
		pick := func(n int) int {
			if i >= len(choices) {
				return 0
			}
			i++
			return int(choices[i-1]) % n
		}
		ev := genEvent(nil, pick)
		// Free-form values from the fuzzer, in a field chosen by it.
		names := []string{"proc.name", "fd.name", "user.uid", "proc.pid", "evt.type", "proc.pname", "evt.arg.flags", "proc.cmdline",
			"fd.sip", "fd.rip", "proc.aname[2]"}
		ev.Set(names[pick(len(names))], str)
		ev.Set(names[pick(len(names))], num)
		s.check(t, ev)
	})
}

func TestInput(t *testing.T) {
	ev := policy.NewEvent()
	ev.Set("proc.aname", []any{"a", nil, "c"})
	ev.Set("proc.name", 123) // proc.aname[0]
	ev.Set("user.uid", "0")
	ev.Set("proc.pid", "x")
	ev.Set("evt.arg.flags", "O_RDONLY")
	ev.Set("container.image", "nginx")
	ev.Set("container.image.tag", "1")
	ev.Set("evt.failed", "true")
	got := Input(ev).String()
	// proc.name is proc.aname[0]; evt.dir and proc.cmdline are derived.
	want := `{"container": {"image": {"tag": "1"}}, "evt": {"arg": {"flags": "O_RDONLY"}, "dir": "<", "failed": true}, "proc": {"acmdline": ["123"], "aname": ["123", null, "c"], "cmdline": "123", "name": "123"}, "user": {"uid": 0}}`
	if got != want {
		t.Errorf("input\n got %s\nwant %s", got, want)
	}
}

// Benchmarks: one openat event against the d1 rules, through the
// decision tree over the translated rules and through OPA's prepared
// query on the original policy.
func benchEvent() *policy.Event {
	ev := policy.NewEvent()
	ev.Set("evt.type", "openat")
	ev.Set("proc.name", "cat")
	ev.Set("proc.pname", "bash")
	ev.Set("fd.name", "/etc/hosts")
	ev.Set("user.uid", 1000)
	ev.Set("proc.aname", []any{"cat", "bash", "sshd"})

	return ev
}

func BenchmarkTranslated(b *testing.B) {
	l, err := Load(map[string][]byte{"d1.rego": []byte(diffPolicies["d1"])})
	if err != nil {
		b.Fatal(err)
	}
	rules := l.Rules
	tree, err := compiler.BuildTree(&policy.Ruleset{Rules: rules})
	if err != nil {
		b.Fatal(err)
	}
	ev := benchEvent()
	var dst []int
	b.ReportAllocs()
	for b.Loop() {
		dst = tree.Match(ev, false, nil, dst[:0])
	}
}

func BenchmarkOPA(b *testing.B) {
	pq, err := rego.New(rego.Query("data.d1.alert == true"), rego.Module("d1.rego", diffPolicies["d1"])).
		PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ev := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		rs, _ := pq.Eval(context.Background(), rego.EvalParsedInput(Input(ev)))
		_ = holds(rs)
	}
}

func BenchmarkOPAPreconverted(b *testing.B) {
	pq, err := rego.New(rego.Query("data.d1.alert == true"), rego.Module("d1.rego", diffPolicies["d1"])).
		PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	input := Input(benchEvent())
	b.ReportAllocs()
	for b.Loop() {
		rs, _ := pq.Eval(context.Background(), rego.EvalParsedInput(input))
		_ = holds(rs)
	}
}

// TestOutputSyntax checks that custom.output takes Falco's output syntax,
// transformers and %(field) included, and %% for a percent sign.
func TestOutputSyntax(t *testing.T) {
	r := load1(t, "# METADATA\n# custom:\n#   output: \"%tolower(proc.name) %(fd.name) 5%%\"\npackage p\nalert if input.proc.name == \"a\"\n")
	if got, want := r.Output.String(), "%tolower(proc.name) %fd.name 5%%"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}
