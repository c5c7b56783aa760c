// Package containerdtest runs a real containerd (Debian's) for one test,
// with its root, state and socket in a directory of its own, the test
// image of package podmantest imported into its k8s.io namespace, and
// containers run with ctr the way the kubelet's CRI lays them out: CRI
// labels (io.kubernetes.pod.name, .namespace, .uid, .container.name) and a
// cgroup under /kubepods/<qos>/pod<uid>/<id>.
package containerdtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/peregrine-sec/peregrine/internal/peertest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/internal/podmantest"
)

// Namespace is the containerd namespace the containers run in (the CRI's).
const Namespace = "k8s.io"

// Containerd is a running containerd.
type Containerd struct {
	t      testing.TB
	dir    string
	Socket string
	ctr    string
	Image  string
}

// Pod is the Kubernetes identity a container is run with.
type Pod struct {
	Name, Namespace, UID, Container string
}

// Start starts containerd and imports the test image (podmantest.Image,
// built with Podman and saved as an OCI archive). It skips the test (fails
// it under CI) without root, containerd, ctr or Podman; containerd stops,
// with its containers, when the test ends.
func Start(t testing.TB, pm *podmantest.Podman) *Containerd {
	t.Helper()
	bin, err := exec.LookPath("containerd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("containerd: not installed (CI must install Debian's containerd: .ci/run)")
		}
		t.Skip("containerd: not installed: apt-get install containerd")
	}
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		t.Fatal("ctr missing beside containerd")
	}
	image := pm.Build()
	dir, err := os.MkdirTemp("", "containerdtest")
	if err != nil {
		t.Fatal(err)
	}
	c := &Containerd{t: t, dir: dir, Socket: filepath.Join(dir, "containerd.sock"), ctr: ctr, Image: image}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Socket, c.Socket+".ttrpc", filepath.Join(dir, "debug.sock"))
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// Removed after containerd stops: cleanups run last registered first.
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	done := peertest.Start(t, dir, "containerd", bin, "--config", filepath.Join(dir, "config.toml"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		if conn, err := net.Dial("unix", c.Socket); err == nil {
			conn.Close()
			break
		}
		select {
		case <-done:
			t.Fatal("containerd exited (its log follows)")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd: no socket after 20 s (its log follows)")
		}
	}
	archive := filepath.Join(dir, "image.tar")
	pm.Podman("save", "--format", "oci-archive", "-o", archive, image)
	c.Ctr("images", "import", archive)
	return c
}

// Ctr runs ctr against the test's containerd in its namespace, and returns
// its output; it fails the test on an error.
func (c *Containerd) Ctr(args ...string) string {
	c.t.Helper()
	cmd := exec.Command(c.ctr, append([]string{"-a", c.Socket, "-n", Namespace}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("ctr %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// Run runs cmd in a new container of pod, detached, and returns its id
// (64 hex characters, as the CRI makes them). It is killed and removed
// when the test ends.
func (c *Containerd) Run(pod Pod, cmd ...string) string {
	c.t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		c.t.Fatal(err)
	}
	id := hex.EncodeToString(b)
	args := []string{"run", "-d",
		"--label", "io.kubernetes.pod.name=" + pod.Name,
		"--label", "io.kubernetes.pod.namespace=" + pod.Namespace,
		"--label", "io.kubernetes.pod.uid=" + pod.UID,
		"--label", "io.kubernetes.container.name=" + pod.Container,
		"--cgroup", "/kubepods/besteffort/pod" + pod.UID + "/" + id,
		c.Image, id}
	c.Ctr(append(args, cmd...)...)
	c.t.Cleanup(func() {
		run := func(args ...string) {
			_ = exec.Command(c.ctr, append([]string{"-a", c.Socket, "-n", Namespace}, args...)...).Run()
		}
		run("task", "kill", "-s", "KILL", id)
		for range 50 {
			if exec.Command(c.ctr, "-a", c.Socket, "-n", Namespace, "task", "rm", id).Run() == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		run("containers", "rm", id)
	})
	return id
}
