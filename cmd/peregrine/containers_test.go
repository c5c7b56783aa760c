package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/internal/podmantest"
)

// TestExplainContainerMetadata: explain says which runtime fields a rule
// reads, in its condition or only in its output.
func TestExplainContainerMetadata(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	writeFiles(t, dir, map[string]string{"rules.yaml": `
- rule: Untrusted image shell
  desc: a shell in a container whose image is not ours
  condition: evt.type = execve and container.id != host and not container.image.repository startswith registry.example/ and proc.name = sh
  output: shell in %container.name (%k8s.pod.name)
  priority: NOTICE
- rule: Host only
  desc: needs nothing from the runtime
  condition: evt.type = execve and container.id = host and proc.name = sh
  output: shell on %container.id since %container.start_ts
  priority: NOTICE
`})
	out, stderr, code := run(t, "", "explain", "--json", "-r", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Rules []struct {
			Name              string
			ContainerMetadata *struct{ Condition, Output []string } `json:"container_metadata"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Rules) != 2 {
		t.Fatalf("rules %+v", doc.Rules)
	}
	m := doc.Rules[0].ContainerMetadata
	if m == nil || !slices.Equal(m.Condition, []string{"container.image.repository"}) || !slices.Equal(m.Output, []string{"container.name", "k8s.pod.name"}) {
		t.Errorf("%s: container_metadata %+v", doc.Rules[0].Name, m)
	}
	if m := doc.Rules[1].ContainerMetadata; m != nil {
		t.Errorf("%s reads only the cgroup's id and the start time, yet needs %+v", doc.Rules[1].Name, m)
	}
	text, _, _ := run(t, "", "explain", "-r", path, "--rule", "Untrusted image shell")
	if !strings.Contains(text, "container metadata: condition reads container.image.repository; output reads container.name,k8s.pod.name (decided once a container's lookup is done") {
		t.Errorf("explain's text:\n%s", text)
	}
}

// TestRunContainerSocketFlag: --container-socket that cannot be parsed is
// refused before anything is attached.
func TestRunContainerSocketFlag(t *testing.T) {
	requireRoot(t)
	_, stderr, code := run(t, "", "run", "--container-socket", "relative.sock")
	if code == 0 || !strings.Contains(stderr, `container socket "relative.sock": want an absolute path`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestRunContainers runs `peregrine run` with a real Podman container:
// with Podman's service socket, the shell alert names the container;
// with a socket that does not exist, run says so once, still alerts, and
// counts it in the metrics file.
func TestRunContainers(t *testing.T) {
	requireRoot(t)
	pm := podmantest.New(t)
	pm.Build()
	live := pm.Service()
	for _, c := range []struct {
		name, socket string
		wantName     bool
	}{
		{"service", "podman:" + live, true},
		{"missing socket", "podman:" + filepath.Join(t.TempDir(), "none", "podman.sock"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			metrics := filepath.Join(t.TempDir(), "metrics.json")
			// A deadline CI's load cannot outlast (Podman answers in
			// 20-130 ms on a loaded machine).
			cmd, alerts, logs := startCLI(t, os.Args[0], "run", "--container-socket", c.socket, "--container-deadline", "3s", "--metrics-file", metrics)
			defer cmd.Process.Kill()
			logs.waitFor(t, "the capture", nil, "capturing")
			name := fmt.Sprintf("pg-cli-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
			pm.Run(name, []string{"-t"}, "sh", "-c", "exec sleep 60")
			in := pm.Inspect(name)
			want := "container_name=<NA>"
			if c.wantName {
				want = "container_name=" + in.Name + " image=" + in.ImageName
			}
			alerts.waitFor(t, "the shell's alert", nil, "Shell with a terminal started in a container", "container_id="+in.ID[:12], want)
			stopCLI(t, cmd, logs)
			warned := logs.count("warning: container engine podman")
			data, err := os.ReadFile(metrics)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]uint64
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			if c.wantName {
				if warned != 0 || m["containers.found"] == 0 || m["containers.engines_unavailable"] != 0 {
					t.Errorf("%d warnings, metrics %v\n%s", warned, m, logs.text())
				}
				return
			}
			if warned != 1 || m["containers.engines_unavailable"] != 1 || m["containers.errors"] == 0 || m["kernel.events_lost"] != 0 {
				t.Errorf("%d warnings (want 1), metrics %v\n%s", warned, m, logs.text())
			}
		})
	}
}
