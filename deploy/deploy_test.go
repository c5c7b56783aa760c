package deploy

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/peregrine-sec/peregrine/internal/privileges"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// configDir is where both deployments put the configuration and the
// local rules, and where the agent's command line names them.
const configDir = "/etc/peregrine/"

// rendered is what kustomize makes of kustomization.yaml, each resource
// decoded strictly into its Kubernetes type.
type rendered struct {
	daemonSet       *appsv1.DaemonSet
	configMap       *corev1.ConfigMap
	serviceAccount  *corev1.ServiceAccount
	namespace       *corev1.Namespace
	kinds, problems []string
}

// decoder is Kubernetes' own decoder for the API types of the manifests,
// strict: a field the type does not have (names are case-sensitive, as
// the API server reads them), a duplicated field or a value of the wrong
// type (a quantity that does not parse) is an error.
var decoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// decodeStrict decodes one resource's YAML into its typed object, of one
// of the kinds the deployment has.
func decodeStrict(kind string, data []byte) (any, error) {
	obj, gvk, err := decoder.Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	if gvk.Kind != kind {
		return nil, fmt.Errorf("decoded a %s as %s", kind, gvk.Kind)
	}
	switch obj.(type) {
	case *appsv1.DaemonSet, *corev1.ConfigMap, *corev1.ServiceAccount, *corev1.Namespace:
		return obj, nil
	}
	return nil, fmt.Errorf("kind %s: not one the deployment has (add it to the test)", kind)
}

var renderOnce = sync.OnceValues(func() (*rendered, error) {
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), ".")
	if err != nil {
		return nil, fmt.Errorf("kustomize: %w", err)
	}
	out := &rendered{}
	for _, r := range resources.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		kind := r.GetKind()
		out.kinds = append(out.kinds, kind)
		obj, err := decodeStrict(kind, data)
		if err != nil {
			out.problems = append(out.problems, err.Error())
			continue
		}
		switch o := obj.(type) {
		case *appsv1.DaemonSet:
			out.daemonSet = o
		case *corev1.ConfigMap:
			out.configMap = o
		case *corev1.ServiceAccount:
			out.serviceAccount = o
		case *corev1.Namespace:
			out.namespace = o
		}
	}
	return out, nil
})

func render(t *testing.T) *rendered {
	t.Helper()
	r, err := renderOnce()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.problems {
		t.Error(p)
	}
	if r.daemonSet == nil || r.configMap == nil || r.serviceAccount == nil || r.namespace == nil {
		t.Fatalf("kustomize rendered %v; want a DaemonSet, a ConfigMap, a ServiceAccount and a Namespace", r.kinds)
	}
	return r
}

// agentContainer is the DaemonSet's one container.
func agentContainer(t *testing.T, ds *appsv1.DaemonSet) *corev1.Container {
	t.Helper()
	if n := len(ds.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("the DaemonSet has %d containers, want the agent alone", n)
	}
	return &ds.Spec.Template.Spec.Containers[0]
}

// TestStrictDecodingRejects checks that the decoding the manifests pass
// is a schema check: a misspelt field, a value of the wrong type and an
// invalid quantity are refused.
func TestStrictDecodingRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":  "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      hostPid: true\n",
		"wrong type":     "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      hostPID: \"yes\"\n",
		"quantity":       "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          resources: {limits: {memory: lots}}\n",
		"duplicate key":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b, a: c}\n",
		"capability add": "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          securityContext: {capabilities: {adds: [BPF]}}\n",
	} {
		kind := "DaemonSet"
		if strings.Contains(doc, "kind: ConfigMap") {
			kind = "ConfigMap"
		}
		if _, err := decodeStrict(kind, []byte(doc)); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
}

// TestManifests renders kustomization.yaml and checks the DaemonSet's
// privileges, mounts and wiring.
func TestManifests(t *testing.T) {
	r := render(t)
	ds := r.daemonSet
	pod := ds.Spec.Template.Spec
	c := agentContainer(t, ds)

	for _, ns := range []string{ds.Namespace, r.configMap.Namespace, r.serviceAccount.Namespace} {
		if ns != r.namespace.Name {
			t.Errorf("a resource in namespace %q, not %q", ns, r.namespace.Name)
		}
	}
	if got := r.namespace.Labels["pod-security.kubernetes.io/enforce"]; got != "privileged" {
		t.Errorf("the namespace enforces Pod Security level %q: hostPID and hostPath need privileged", got)
	}
	for k, v := range ds.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("the selector's %s=%s is not on the pod template", k, v)
		}
	}
	if pod.ServiceAccountName != r.serviceAccount.Name {
		t.Errorf("the pod runs as service account %q, want %q", pod.ServiceAccountName, r.serviceAccount.Name)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod mounts a service account token: the agent never calls the API server")
	}
	// Names the API server would refuse.
	for _, n := range []string{ds.Name, r.configMap.Name, r.serviceAccount.Name, r.namespace.Name} {
		for _, msg := range validation.IsDNS1123Subdomain(n) {
			t.Errorf("name %q: %s", n, msg)
		}
	}
	for _, n := range []string{c.Name, r.namespace.Name} {
		for _, msg := range validation.IsDNS1123Label(n) {
			t.Errorf("name %q: %s", n, msg)
		}
	}
	for _, v := range pod.Volumes {
		for _, msg := range validation.IsDNS1123Label(v.Name) {
			t.Errorf("volume %q: %s", v.Name, msg)
		}
	}
	if !pod.HostPID {
		t.Error("hostPID is off: the agent would see only its own container's /proc")
	}
	if pod.HostNetwork || pod.HostIPC {
		t.Error("hostNetwork or hostIPC is on: the agent needs neither")
	}

	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("the agent's container has no securityContext.capabilities")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("the agent's container is privileged")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the root file system is writable")
	}
	if got := capNames(sc.Capabilities.Drop); !slices.Equal(got, []string{"ALL"}) {
		t.Errorf("capabilities.drop is %v, want [ALL]", got)
	}
	var add []string
	for _, a := range sc.Capabilities.Add {
		add = append(add, "CAP_"+string(a))
	}
	if err := sameSet("the DaemonSet's capabilities.add", add); err != nil {
		t.Error(err)
	}

	// Every mount read-only; the ConfigMap mount names the rendered
	// ConfigMap (kustomize renames it with a hash of its contents).
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mountedConfig := false
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			t.Errorf("mount %s names no volume", m.Name)
			continue
		}
		if !m.ReadOnly {
			t.Errorf("mount %s at %s is writable", m.Name, m.MountPath)
		}
		if v.ConfigMap != nil {
			if v.ConfigMap.Name != r.configMap.Name {
				t.Errorf("volume %s takes ConfigMap %q, but kustomize rendered %q", v.Name, v.ConfigMap.Name, r.configMap.Name)
			}
			if m.MountPath+"/" == configDir {
				mountedConfig = true
			}
		}
		if v.HostPath != nil && v.HostPath.Path != m.MountPath {
			t.Errorf("host path %s is mounted at %s: the agent reads it at the host's path", v.HostPath.Path, m.MountPath)
		}
	}
	if !mountedConfig {
		t.Errorf("no ConfigMap is mounted at %s", configDir)
	}

	// The command line names only files the ConfigMap has.
	if len(c.Command) != 1 {
		t.Errorf("command %q: want the agent's path alone, its arguments in args", c.Command)
	}
	for _, a := range c.Args {
		if name, ok := strings.CutPrefix(a, configDir); ok {
			if _, ok := r.configMap.Data[name]; !ok {
				t.Errorf("the agent is started with %s, which the ConfigMap does not hold (it has %v)", a, slices.Sorted(maps.Keys(r.configMap.Data)))
			}
		}
	}

	// Resources: requests and limits both set, the limit above the
	// request, and the request above the RSS docs/overhead.json measured
	// (53 MB: the comment in daemonset.yaml says which figures).
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		q, ok := req[res]
		l, lok := lim[res]
		if !ok || !lok {
			t.Errorf("%s: request and limit must both be set", res)
			continue
		}
		if l.Cmp(q) <= 0 {
			t.Errorf("%s: limit %s is not above request %s", res, l.String(), q.String())
		}
	}
	if m := req[corev1.ResourceMemory]; m.Value() < 53e6 {
		t.Errorf("memory request %s is below the 53 MB RSS the benchmark measured", m.String())
	}
}

// TestSystemdUnit checks the unit's directives (parsed with go-systemd)
// and has systemd-analyze verify it and rate its sandbox.
func TestSystemdUnit(t *testing.T) {
	opts := unitOptions(t)
	service := func(name string) []string {
		var out []string
		for _, o := range opts {
			if o.Section == "Service" && o.Name == name {
				out = append(out, o.Value)
			}
		}
		return out
	}
	for _, name := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		var caps []string
		for _, v := range service(name) {
			caps = append(caps, strings.Fields(v)...)
		}
		if err := sameSet("the unit's "+name, caps); err != nil {
			t.Error(err)
		}
	}
	for name, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "Restart": "on-failure",
		"DynamicUser": "yes", "ExecReload": "/bin/kill -HUP $MAINPID",
	} {
		if got := service(name); !slices.Equal(got, []string{want}) {
			t.Errorf("%s=%v, want %s", name, got, want)
		}
	}
	if ro := strings.Join(service("ReadOnlyPaths"), " "); !slices.Contains(strings.Fields(ro), "/proc") {
		t.Errorf("ReadOnlyPaths=%s does not make /proc read-only", ro)
	}
	for _, name := range []string{"ProtectProc", "ProcSubset", "User"} {
		if v := service(name); len(v) > 0 {
			t.Errorf("%s=%v: the agent must see every process's /proc, and runs as its dynamic user", name, v)
		}
	}
	for _, name := range []string{"MemoryMax", "MemoryHigh", "CPUQuota"} {
		if len(service(name)) != 1 {
			t.Errorf("no %s: the unit's resource limits come from the benchmark", name)
		}
	}

	// The same command line as the DaemonSet's.
	r := render(t)
	c := agentContainer(t, r.daemonSet)
	start := strings.Fields(strings.Join(service("ExecStart"), ""))
	if len(start) == 0 {
		t.Fatal("no ExecStart")
	}
	k8s := append(slices.Clone(c.Command), c.Args...)
	if !slices.Equal(start, k8s) {
		t.Errorf("ExecStart %q and the DaemonSet's command %q differ", start, k8s)
	}
}

// TestSystemdAnalyze runs systemd-analyze verify on the unit (any warning
// fails) and systemd-analyze security on its sandbox. verify checks that
// ExecStart's program exists: it is given a copy of the unit in which that
// path alone names a freshly built agent.
func TestSystemdAnalyze(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is missing: .ci/run installs systemd")
		}
		t.Skip("systemd-analyze (Debian's systemd) is not installed")
	}
	src, err := os.ReadFile("systemd/peregrine.service")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildAgent(t)
	const installed = "ExecStart=/usr/local/bin/peregrine "
	if n := bytes.Count(src, []byte(installed)); n != 1 {
		t.Fatalf("the unit has %d lines starting %q, want one", n, installed)
	}
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "peregrine.service")
	if err := os.WriteFile(copyPath, bytes.Replace(src, []byte(installed), []byte("ExecStart="+bin+" "), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Exposure 0-100 (systemd prints it divided by 10): the unit rates
	// 2.4, "OK"; a change that loosens its sandbox past 3.0 fails here.
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=30", "--no-pager", copyPath).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out); m == nil {
		t.Errorf("systemd-analyze security printed no exposure level:\n%s", out)
	}
}

// TestConfigStartsTheAgent writes the rendered ConfigMap's files where the
// agent's command line names them (a temporary directory for
// /etc/peregrine) and runs that command line with --dry-run: the
// configuration loads and the rules load and compile. The rules also pass
// validate --strict (no warnings).
func TestConfigStartsTheAgent(t *testing.T) {
	r := render(t)
	c := agentContainer(t, r.daemonSet)
	dir := t.TempDir()
	for name, data := range r.configMap.Data {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var args, rules []string
	for i, a := range c.Args {
		if rest, ok := strings.CutPrefix(a, configDir); ok {
			a = filepath.Join(dir, rest)
		}
		args = append(args, a)
		if i > 0 && c.Args[i-1] == "-r" {
			rules = append(rules, "-r", a)
		}
	}
	bin := buildAgent(t)
	out, err := exec.Command(bin, append(args, "--dry-run")...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dry run:") {
		t.Errorf("%s %s --dry-run: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	if strings.Contains(string(out), "warning") {
		t.Errorf("the configuration or rules give warnings:\n%s", out)
	}
	out, err = exec.Command(bin, append(append([]string{"validate"}, rules...), "--strict")...).CombinedOutput()
	if err != nil {
		t.Errorf("validate --strict %v: %v\n%s", rules, err, out)
	}
}

// TestReadmeCapabilities checks that the README's Deploying section lists
// the capabilities of privileges.Agent, and that the unit's and the
// DaemonSet's comments name each one.
func TestReadmeCapabilities(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Deploying\n")
	if !ok {
		t.Fatal("the README has no Deploying section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(CAP_[A-Z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		listed = append(listed, m[1])
	}
	if err := sameSet("the README's capability table", listed); err != nil {
		t.Error(err)
	}
	for _, f := range []string{"systemd/peregrine.service", "kubernetes/daemonset.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range privileges.Agent {
			name := c.Name
			if strings.HasSuffix(f, ".yaml") {
				name = strings.TrimPrefix(name, "CAP_")
			}
			if !regexp.MustCompile(`(?m)^\s*#.*\b` + name + `\b`).Match(data) {
				t.Errorf("%s: no comment names %s and says why", f, name)
			}
		}
	}
}

// TestSameSet checks the comparison the tests above rely on.
func TestSameSet(t *testing.T) {
	all := privileges.Names(privileges.Agent)
	if err := sameSet("all", slices.Clone(all)); err != nil {
		t.Error(err)
	}
	for name, set := range map[string][]string{
		"one missing": all[1:],
		"one more":    append(slices.Clone(all), "CAP_SYS_ADMIN"),
		"repeated":    append(slices.Clone(all), all[0]),
		"empty":       nil,
	} {
		if sameSet(name, set) == nil {
			t.Errorf("%s: %v passes as %v", name, set, all)
		}
	}
}

// sameSet reports how caps differs from privileges.Agent's names.
func sameSet(what string, caps []string) error {
	want := privileges.Names(privileges.Agent)
	got := slices.Clone(caps)
	slices.Sort(got)
	if c := slices.Compact(slices.Clone(got)); len(c) != len(got) {
		return fmt.Errorf("%s lists a capability twice: %v", what, caps)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		var missing, extra []string
		for _, w := range want {
			if !slices.Contains(got, w) {
				missing = append(missing, w)
			}
		}
		for _, g := range got {
			if !slices.Contains(want, g) {
				extra = append(extra, g)
			}
		}
		return fmt.Errorf("%s is %v: missing %v, not needed %v (internal/privileges is the list)", what, caps, missing, extra)
	}
	return nil
}

func capNames(caps []corev1.Capability) []string {
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = string(c)
	}
	return out
}

func unitOptions(t *testing.T) []*unit.UnitOption {
	t.Helper()
	f, err := os.Open("systemd/peregrine.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts, err := unit.DeserializeOptions(f)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// buildDir holds the agent the tests build; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	var err error
	buildDir, err = os.MkdirTemp("", "peregrine-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(buildDir)
	os.Exit(code)
}

var agentOnce = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(buildDir, "peregrine")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/peregrine")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/peregrine: %v\n%s", err, out)
	}
	return bin, nil
})

// buildAgent builds the agent from this repository's main module, once
// for the tests of the package.
func buildAgent(t *testing.T) string {
	t.Helper()
	bin, err := agentOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
