package runtime_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/container"
	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/internal/containerdtest"
	"github.com/peregrine-sec/peregrine/internal/peertest"
	"github.com/peregrine-sec/peregrine/internal/podmantest"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime"
)

// warnings collects a resolver's warnings.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) add(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, s)
}

func (w *warnings) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

// containerName is a name no other run of the test uses.
func containerName(what string) string {
	return fmt.Sprintf("pg-%s-%d-%d", what, os.Getpid(), time.Now().UnixNano()%1e6)
}

const (
	ruleTerminalShell = "Terminal shell in container"
	ruleCredentials   = "Credential file read by untrusted program"
)

// TestLiveContainerMetadata runs a real Podman container whose first
// process is a shell on a terminal that reads /etc/shadow at once: the
// container starts and execs within a millisecond, so the alerts are held
// until Podman's API (its service, on the test's own socket) has answered.
// Both default rules fire with the container's id, name and image as
// `podman inspect` reports them.
func TestLiveContainerMetadata(t *testing.T) {
	pm := podmantest.New(t)
	requireRoot(t)
	pm.Build()
	sock := pm.Service()
	var warn warnings
	res := container.NewResolver(container.Options{Sockets: []container.Socket{{Kind: "podman", Path: sock}}, Warn: warn.add})
	t.Cleanup(func() { res.Close() })
	// Podman's answers took 20-130 ms on a loaded 2-core machine: the
	// deadline is raised so that CI's load cannot make the test a race.
	le := startLive(t, defaultRules(t), runtime.LiveOptions{Containers: res, ContainerDeadline: 3 * time.Second})

	name := containerName("shell")
	start := time.Now()
	pm.Run(name, []string{"-t"}, "sh", "-c", "cat /etc/shadow >/dev/null; exec sleep 60")
	in := pm.Inspect(name)
	shell := le.wait(t, "the shell in "+name, func(a runtime.Alert) bool {
		return a.Rule.Name == ruleTerminalShell && field(a, "container.id") == in.ID[:12]
	})
	cat := le.wait(t, "cat /etc/shadow in "+name, func(a runtime.Alert) bool {
		return a.Rule.Name == ruleCredentials && field(a, "container.id") == in.ID[:12]
	})
	t.Logf("container started and alerted in %v", time.Since(start))
	le.mu.Lock()
	for _, a := range le.alerts {
		if field(a, "container.id") == in.ID[:12] {
			t.Logf("alert: %s: %s", a.Rule.Name, a.Output)
		}
	}
	le.mu.Unlock()
	for _, a := range []runtime.Alert{shell, cat} {
		want := map[string]string{
			"container.id":               in.ID[:12],
			"container.full_id":          in.ID,
			"container.name":             in.Name,
			"container.image":            in.ImageName,
			"container.image.repository": "localhost/peregrine-busybox",
			"container.image.tag":        "test",
			"container.image.id":         in.Image,
			"container.type":             "podman",
			"container.privileged":       "false",
		}
		wantFields(t, a, want) // podman inspect's
		if !strings.Contains(a.Output, "container_name="+in.Name) {
			t.Errorf("%s: output %q does not name the container %s", a.Rule.Name, a.Output, in.Name)
		}
		if got := field(a, "container.image.digest"); !strings.HasPrefix(got, "sha256:") {
			t.Errorf("%s: container.image.digest = %q, want the image's sha256 digest", a.Rule.Name, got)
		}
		if field(a, "k8s.pod.name") != "" {
			t.Errorf("%s: k8s.pod.name = %q outside Kubernetes", a.Rule.Name, field(a, "k8s.pod.name"))
		}
		// container.start_ts is the start of the container's first
		// process: after the test began, before the alert's event.
		ts, evt := field(a, "container.start_ts"), field(a, "evt.rawtime")
		if ts == "" || ts > evt || ts < fmt.Sprint(start.Add(-time.Second).UnixNano()) {
			t.Errorf("%s: container.start_ts = %q, event at %s, test began %d", a.Rule.Name, ts, evt, start.UnixNano())
		}
	}
	if !strings.Contains(shell.Output, "image_repository=localhost/peregrine-busybox image_tag=test") {
		t.Errorf("shell alert output %q lacks the image", shell.Output)
	}
	m, err := le.live.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("containers %+v, alerts held %d, late %d", m.Containers, m.AlertsHeld, m.AlertsLate)
	if m.AlertsLate != 0 {
		t.Errorf("%d alerts went out at the deadline without metadata", m.AlertsLate)
	}
	// Whether the alerts were held depends on when the lookup began: at
	// the first event of runc in the container's cgroup, it may have
	// ended by the shell's exec; either way they carry the metadata.
	if m.Containers.Found == 0 || m.Containers.Unavailable != 0 {
		t.Errorf("lookups: %+v", m.Containers)
	}
	if w := warn.list(); len(w) != 0 {
		t.Errorf("warnings with a live socket: %q", w)
	}
}

// TestLiveContainerDeadSocket: with the runtime's socket missing, dead or
// not a socket, the resolver says so once at start and counts it; the
// container's events still raise their alerts (with its id, without the
// runtime's fields), and nothing stalls.
func TestLiveContainerDeadSocket(t *testing.T) {
	pm := podmantest.New(t)
	requireRoot(t)
	pm.Build()
	dir := t.TempDir()
	notSocket := filepath.Join(dir, "podman.sock")
	if err := os.WriteFile(notSocket, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A socket whose server accepts and never answers: a hung runtime.
	hung := filepath.Join(dir, "hung", "podman.sock")
	if err := os.Mkdir(filepath.Dir(hung), 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", hung)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	for _, c := range []struct {
		name, path string
		late       bool // the lookup outlives the deadline
	}{
		{"missing", filepath.Join(dir, "missing", "podman.sock"), false},
		{"not a socket", notSocket, false},
		{"hung", hung, true},
	} {
		path := c.path
		t.Run(c.name, func(t *testing.T) {
			var warn warnings
			begun := time.Now()
			res := container.NewResolver(container.Options{Sockets: []container.Socket{{Kind: "podman", Path: path}}, Warn: warn.add})
			t.Cleanup(func() { res.Close() })
			if d := time.Since(begun); d > 2*time.Second {
				t.Errorf("NewResolver took %v with a dead socket", d)
			}
			if w := warn.list(); len(w) != 1 || !strings.Contains(w[0], path) {
				t.Fatalf("warnings at start: %q, want one naming %s", w, path)
			}
			le := startLive(t, defaultRules(t), runtime.LiveOptions{Containers: res})
			name := containerName("dead")
			pm.Run(name, []string{"-t"}, "sh", "-c", "cat /etc/shadow >/dev/null; exec sleep 60")
			in := pm.Inspect(name)
			for _, rule := range []string{ruleTerminalShell, ruleCredentials} {
				a := le.wait(t, rule+" in "+name, func(a runtime.Alert) bool {
					return a.Rule.Name == rule && field(a, "container.id") == in.ID[:12]
				})
				if got := field(a, "container.name"); got != "" {
					t.Errorf("%s: container.name = %q without a runtime", rule, got)
				}
				if !strings.Contains(a.Output, "container_name=<NA>") {
					t.Errorf("%s: output %q", rule, a.Output)
				}
			}
			m, err := le.live.Metrics()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("containers %+v, alerts held %d, late %d, kernel lost %d", m.Containers, m.AlertsHeld, m.AlertsLate, m.Kernel.EventsLost)
			if m.Containers.Unavailable != 1 || m.Containers.Found != 0 {
				t.Errorf("counters %+v: want 1 unavailable engine", m.Containers)
			}
			if c.late {
				// Held for the deadline, then sent without metadata.
				if m.AlertsLate == 0 {
					t.Errorf("no alert counted as sent at the deadline: %d held", m.AlertsHeld)
				}
			} else if m.Containers.Errors == 0 {
				t.Errorf("counters %+v: the failed lookup is not counted", m.Containers)
			}
			if m.Kernel.EventsLost != 0 {
				t.Errorf("%d events lost", m.Kernel.EventsLost)
			}
			if w := warn.list(); len(w) != 1 {
				t.Errorf("warnings: %q, want the one at start", w)
			}
		})
	}
}

// TestLiveContainerdMetadata runs a container through a real containerd,
// as the CRI runs a pod's (k8s.io namespace, CRI labels, a kubepods
// cgroup): the credential rule's alert carries the pod's name, namespace
// and uid, and the container's name and image, from containerd's API.
func TestLiveContainerdMetadata(t *testing.T) {
	pm := podmantest.New(t)
	requireRoot(t)
	cd := containerdtest.Start(t, pm)
	res := container.NewResolver(container.Options{Sockets: []container.Socket{{Kind: "containerd", Path: cd.Socket}},
		Warn: func(s string) { t.Errorf("warning: %s", s) }})
	t.Cleanup(func() { res.Close() })
	le := startLive(t, defaultRules(t), runtime.LiveOptions{Containers: res, ContainerDeadline: 3 * time.Second})
	pod := containerdtest.Pod{Name: "shop-7d9f", Namespace: "payments", UID: "0c6e1f2a-8b3d-4e5f-a1b2-c3d4e5f60718", Container: "api"}
	id := cd.Run(pod, "sh", "-c", "cat /etc/shadow >/dev/null; exec sleep 60")
	a := le.wait(t, "cat /etc/shadow in the pod", func(a runtime.Alert) bool {
		return a.Rule.Name == ruleCredentials && field(a, "container.id") == id[:12]
	})
	want := map[string]string{
		"container.full_id":          id,
		"container.type":             "containerd",
		"container.name":             pod.Container,
		"container.image":            podmantest.Image,
		"container.image.repository": "localhost/peregrine-busybox",
		"k8s.pod.name":               pod.Name,
		"k8s.ns.name":                pod.Namespace,
		"k8s.pod.uid":                pod.UID,
		// Debian's busybox runs its applets by exec'ing /proc/self/exe,
		// argv[0] the applet's name: the kernel's comm is "exe".
		"proc.name":    "exe",
		"proc.exe":     "cat",
		"proc.exepath": "/bin/busybox",
		"fd.name":      "/etc/shadow",
	}
	wantFields(t, a, want)
	if !strings.Contains(a.Output, "container_name="+pod.Container) {
		t.Errorf("output %q", a.Output)
	}
	m, err := le.live.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("containers %+v, alerts held %d, late %d", m.Containers, m.AlertsHeld, m.AlertsLate)
	if m.AlertsLate != 0 || m.Containers.Found == 0 {
		t.Errorf("containers %+v, late %d", m.Containers, m.AlertsLate)
	}
}

// heldRules are rules whose conditions read the runtime's fields, and one
// whose condition does not: evaluated before Podman has answered,
// "Not our image" would match (the repository absent, its negation true)
// and "Busybox image shell" would not.
const heldRules = `
- rule: Busybox image shell
  desc: a shell in the test image
  condition: evt.type in (execve, execveat) and evt.dir = < and container.image.repository = localhost/peregrine-busybox and proc.name = sh
  output: shell in %container.name from %container.image
  priority: WARNING
- rule: Any container shell
  desc: a shell in any container
  condition: evt.type in (execve, execveat) and evt.dir = < and container.id != host and proc.name = sh
  output: shell in %container.id
  priority: NOTICE
- rule: Not our image
  desc: a shell in a container of another image
  condition: evt.type in (execve, execveat) and evt.dir = < and container.id != host and proc.name = sh and not container.image.repository startswith localhost/
  output: shell in %container.id from another image
  priority: NOTICE
- rule: Data mount shell
  desc: a shell in a container with the host's directory on /data, read-only
  condition: evt.type in (execve, execveat) and evt.dir = < and proc.name = sh and container.mount.dest[DATA] = /data and container.mount.rdwr[0] = false
  output: shell with %container.mount[0] source=%container.mount.source[/data] mode=%container.mount.mode[/tmp/*/*]
  priority: NOTICE
`

// TestLiveContainerConditionHeld: rules whose condition reads container
// metadata are decided once the lookup the exec started has ended, under
// both rule matchings: the first matching rule still wins under first, and
// a rule that needs no metadata alerts at once under all.
func TestLiveContainerConditionHeld(t *testing.T) {
	pm := podmantest.New(t)
	requireRoot(t)
	pm.Build()
	sock := pm.Service()
	data := t.TempDir()
	rs := loadRules(t, "held.yaml", []byte(strings.ReplaceAll(heldRules, "DATA", data)))
	for _, c := range []struct {
		name     string
		matching runtime.Matching
		want     []string
	}{
		{"all", runtime.MatchAll, []string{"Busybox image shell", "Any container shell", "Data mount shell"}},
		{"first", runtime.MatchFirst, []string{"Busybox image shell"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := container.NewResolver(container.Options{Sockets: []container.Socket{{Kind: "podman", Path: sock}},
				Warn: func(s string) { t.Errorf("warning: %s", s) }})
			t.Cleanup(func() { res.Close() })
			le := startLiveMatching(t, rs, runtime.LiveOptions{Containers: res, Matching: c.matching, ContainerDeadline: 3 * time.Second})
			name := containerName("held")
			id := pm.Run(name, []string{"-v", data + ":/data:ro"}, "sh", "-c", "exec sleep 60")
			in := pm.Inspect(name)
			mine := func(a runtime.Alert) bool { return field(a, "container.id") == id[:12] }
			le.wait(t, "the shell's alerts", func(a runtime.Alert) bool { return mine(a) && a.Rule.Name == c.want[0] })
			// Every alert of the event is out once Run has ended.
			le.stop()
			var got []string
			for _, a := range le.alerts {
				if mine(a) {
					t.Logf("%s: %s", a.Rule.Name, a.Output)
					got = append(got, a.Rule.Name)
					if a.Rule.Name == "Busybox image shell" && a.Output != "shell in "+in.Name+" from "+in.ImageName {
						t.Errorf("output %q", a.Output)
					}
					if a.Rule.Name == "Data mount shell" && (!strings.HasPrefix(a.Output, "shell with "+data+":/data::false:") ||
						!strings.HasSuffix(a.Output, " source="+data+" mode=")) {
						t.Errorf("output %q", a.Output)
					}
				}
			}
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("alerts %q, want %q", got, want)
			}
		})
	}
}

// TestLiveContainerEvicted: once a container's processes are gone, its
// metadata leaves the cache at the next sweep (here every 500 ms, on an
// exit; 10 s by default).
func TestLiveContainerEvicted(t *testing.T) {
	pm := podmantest.New(t)
	requireRoot(t)
	pm.Build()
	sock := pm.Service()
	res := container.NewResolver(container.Options{Sockets: []container.Socket{{Kind: "podman", Path: sock}},
		Warn: func(s string) { t.Errorf("warning: %s", s) }})
	t.Cleanup(func() { res.Close() })
	le := startLive(t, defaultRules(t), runtime.LiveOptions{Containers: res, ContainerSweep: 500 * time.Millisecond})
	name := containerName("gone")
	id := pm.Run(name, nil, "sh", "-c", "exec sleep 60")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, st, _ := res.Get(id[:12]); st == container.Known {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not looked up in 10 s: %+v", name, res.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	pm.Podman("rm", "-f", "-t", "0", name)
	deadline = time.Now().Add(10 * time.Second)
	for {
		// Exits make the engine sweep. They come in per-CPU batches of
		// 32 (the container's own among them): enough exits flush the
		// batch on every CPU.
		run(t, exec.Command("sh", "-c", "for i in $(seq 80); do /bin/true; done"))
		if _, st, _ := res.Get(id[:12]); st == container.Unknown {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still cached 10 s after its removal: %+v", name, res.Stats())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s := le.live.ContainerStats(); s.Evicted == 0 {
		t.Errorf("stats %+v", s)
	}
}

// containerOnlyRules is a rule set whose every rule is for containers.
const containerOnlyRules = `
- macro: container
  condition: (container.id != host)
- rule: Container process reads etc
  desc: a process in a container opens a file under /etc for reading
  condition: evt.type in (open, openat, openat2) and evt.is_open_read = true and container and fd.name startswith /etc/
  output: read in a container (file=%fd.name container_id=%container.id proc=%proc.name)
  priority: NOTICE
- rule: Container process connects
  desc: a process in a container connects a socket
  condition: evt.type = connect and container
  output: connect in a container (container_id=%container.id proc=%proc.name)
  priority: NOTICE
`

// TestLiveContainerDimension checks the kernel's container dimension with
// the upstream stable rules and with a container-only rule set: a host
// process's syscalls that only container rules want are dropped in the
// kernel (the counter says how many) and never reach userspace, while the
// same syscalls made in a real Podman container pass and alert.
func TestLiveContainerDimension(t *testing.T) {
	pm := podmantest.New(t)
	requireRoot(t)
	pm.Build()
	port := peertest.Closing(t)
	const n = 200
	// The host workload: a shell that waits until its exec record has been
	// read (userspace then classifies its cgroups), and then opens files
	// under /etc and connects n times each.
	hostLoad := fmt.Sprintf("sleep 1; i=0; while [ $i -lt %d ]; do : < /etc/hostname; exec 3<>/dev/tcp/127.0.0.1/%d; exec 3>&-; i=$((i+1)); done", n, port)
	// The container's: the same syscalls, from a shell in the container.
	containerLoad := "sleep 1; cat /etc/hostname /etc/passwd >/dev/null; i=0; while [ $i -lt 20 ]; do busybox nc 127.0.0.1 9 </dev/null 2>/dev/null; i=$((i+1)); done"

	sets := []struct {
		name string
		rs   func(t *testing.T) *policy.Ruleset
		// alert is a rule the container's workload raises (none: the
		// upstream rules have no rule for it; the events reaching
		// userspace are counted instead).
		alert string
	}{
		{"upstream", func(t *testing.T) *policy.Ruleset {
			if _, err := os.Stat(upstreamRulesPath); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("upstream rules needed in CI: %v", err)
				}
				t.Skipf("upstream rules absent: %v", err)
			}
			res := falcocompat.LoadPaths(upstreamRulesPath)
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			return res.Ruleset
		}, ""},
		{"container-only", func(t *testing.T) *policy.Ruleset {
			return loadRules(t, "container-only.yaml", []byte(containerOnlyRules))
		}, "Container process connects"},
	}
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			le := startLive(t, set.rs(t), runtime.LiveOptions{})
			defer le.stop()
			before, err := le.live.Metrics()
			if err != nil {
				t.Fatal(err)
			}
			sentBefore := le.live.SyscallEvents()["connect"]
			host := exec.Command("/bin/bash", "-c", hostLoad)
			if out, err := host.CombinedOutput(); err != nil {
				t.Fatalf("host workload: %v: %s", err, out)
			}
			time.Sleep(time.Second) // the ring buffer's records read
			after, err := le.live.Metrics()
			if err != nil {
				t.Fatal(err)
			}
			dropped := after.Kernel.EventsFilteredContainer - before.Kernel.EventsFilteredContainer
			sent := le.live.SyscallEvents()["connect"] - sentBefore
			t.Logf("host: %d syscalls dropped by the container dimension, %d connects reached userspace; cgroups %+v",
				dropped, sent, after.Cgroups)
			// Each round opens once and connects once (bash's dup2s of the
			// redirections count as well with the upstream rules).
			if dropped < 2*n {
				t.Errorf("host: the container dimension dropped %d syscalls, want at least the workload's %d", dropped, 2*n)
			}
			if sent >= n/4 {
				t.Errorf("host: %d connects reached userspace for a workload of %d that no host rule wants", sent, n)
			}
			if le.has(func(a runtime.Alert) bool { return field(a, "proc.pid") == fmt.Sprint(host.Process.Pid) }) {
				t.Errorf("the host workload alerted")
			}

			name := containerName("dim")
			sentBefore = le.live.SyscallEvents()["connect"]
			pm.Run(name, nil, "sh", "-c", containerLoad+"; exec sleep 60")
			in := pm.Inspect(name)
			if set.alert != "" {
				le.wait(t, set.alert+" in "+name, func(a runtime.Alert) bool {
					return a.Rule.Name == set.alert && field(a, "container.id") == in.ID[:12]
				})
				le.wait(t, "a read of /etc in "+name, func(a runtime.Alert) bool {
					return a.Rule.Name == "Container process reads etc" && field(a, "container.id") == in.ID[:12]
				})
				return
			}
			deadline := time.Now().Add(10 * time.Second)
			for le.live.SyscallEvents()["connect"]-sentBefore < 20 && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
			}
			if got := le.live.SyscallEvents()["connect"] - sentBefore; got < 20 {
				t.Errorf("container: %d connects reached userspace, want the container's 20", got)
			}
		})
	}
}
