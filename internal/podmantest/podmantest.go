// Package podmantest runs real containers with Debian's Podman and runc,
// for tests of container enrichment: an image built once per test binary
// from Debian's busybox-static (no registry is needed), containers run,
// exec'd into, inspected and removed, and Podman's API service on a
// socket of the test's own.
//
// On a cgroup v1 (hybrid) machine Podman needs runc (crun refuses hybrid
// cgroups), no network, and rlimits it may not raise; Podman applies them
// all (see Args).
package podmantest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Image is the reference of the image the package builds.
const Image = "localhost/peregrine-busybox:test"

// Runc is the OCI runtime the containers run with.
const Runc = "/usr/sbin/runc"

// busybox is Debian's busybox-static binary.
const busybox = "/bin/busybox"

// Podman runs containers for one test.
type Podman struct {
	t   testing.TB
	bin string
}

// need skips the test for a missing tool, and fails it when CI is set.
func need(t testing.TB, what, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: %s (CI must install it: .ci/run)", what, why)
	}
	t.Skipf("%s: %s", what, why)
}

// New returns a Podman for t. It skips the test (fails it when CI is set)
// without root, podman, runc or busybox-static.
func New(t testing.TB) *Podman {
	t.Helper()
	if os.Geteuid() != 0 {
		need(t, "root", "running containers with podman needs root")
	}
	bin, err := exec.LookPath("podman")
	if err != nil {
		need(t, "podman", "not installed: apt-get install podman")
	}
	for _, f := range []struct{ path, pkg string }{{Runc, "runc"}, {busybox, "busybox-static"}} {
		if _, err := os.Stat(f.path); err != nil {
			need(t, f.path, "missing: apt-get install "+f.pkg)
		}
	}
	return &Podman{t: t, bin: bin}
}

// Args are the arguments of `podman run` before the image: the runtime,
// no network, and rlimits within the machine's hard limits.
func Args() []string {
	return []string{"--network=none", "--ulimit", "nofile=1024:4096", "--ulimit", "nproc=1024:4096"}
}

// Podman runs podman with args (runc as its runtime) and returns its
// standard output; it fails the test on an error, with podman's stderr.
func (p *Podman) Podman(args ...string) string {
	p.t.Helper()
	out, err := p.Try(args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// Try is Podman returning the error instead of failing the test.
func (p *Podman) Try(args ...string) (string, error) {
	cmd := exec.Command(p.bin, append([]string{"--runtime", Runc}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("podman %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

var (
	buildOnce sync.Once
	buildErr  error
)

// Build imports the test image, once per test binary unless Podman has it
// already with the same root file system (from an earlier run, or another
// test binary running at the same time, whose containers a re-import would
// orphan): busybox with its applets, /etc/passwd and an /etc/shadow, as a
// tar made here, its digest in the image's label peregrine.rootfs. It
// returns Image.
func (p *Podman) Build() string {
	p.t.Helper()
	buildOnce.Do(func() {
		var tarball bytes.Buffer
		if buildErr = rootfs(&tarball); buildErr != nil {
			return
		}
		sum := sha256.Sum256(tarball.Bytes())
		digest := hex.EncodeToString(sum[:])
		if have, err := p.Try("image", "inspect", "--format", `{{index .Labels "peregrine.rootfs"}}`, Image); err == nil && strings.TrimSpace(have) == digest {
			return
		}
		dir, err := os.MkdirTemp("", "podmantest")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "rootfs.tar")
		if buildErr = os.WriteFile(path, tarball.Bytes(), 0o600); buildErr != nil {
			return
		}
		_, buildErr = p.Try("import", "--change", "CMD=/bin/sh", "--change", "LABEL=peregrine.rootfs="+digest, path, Image)
	})
	if buildErr != nil {
		p.t.Fatalf("build the test image: %v", buildErr)
	}
	return Image
}

// applets are the busybox commands the image has in /bin.
var applets = []string{"sh", "cat", "ls", "sleep", "id", "true", "echo", "head", "mount"}

// rootfs writes the image's root file system as a tar.
func rootfs(w io.Writer) error {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	// A fixed time: the same files make the same tar, and its digest says
	// whether the image is up to date.
	now := time.Unix(0, 0)
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: now})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: now}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"bin", "etc", "tmp", "root", "proc", "sys", "dev"} {
		if err := dir(d); err != nil {
			return err
		}
	}
	if err := file("bin/busybox", 0o755, bb); err != nil {
		return err
	}
	for _, a := range applets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: now}); err != nil {
			return err
		}
	}
	if err := file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n")); err != nil {
		return err
	}
	if err := file("etc/group", 0o644, []byte("root:x:0:\n")); err != nil {
		return err
	}
	if err := file("etc/shadow", 0o600, []byte("root:*:19000:0:99999:7:::\n")); err != nil {
		return err
	}
	return tw.Close()
}

// Run runs a container named name from the test image, detached, with
// extra podman run arguments before the image (a tty: "-t") and the
// command cmd, and returns its full id. The container is removed when
// the test ends.
func (p *Podman) Run(name string, extra []string, cmd ...string) string {
	p.t.Helper()
	image := p.Build()
	args := append([]string{"run", "-d", "--name", name}, Args()...)
	args = append(append(args, extra...), image)
	id := strings.TrimSpace(p.Podman(append(args, cmd...)...))
	p.t.Cleanup(func() { _, _ = p.Try("rm", "-f", "-t", "0", name) })
	return id
}

// Exec runs cmd in the running container name, with extra podman exec
// arguments ("-t"), and returns its output.
func (p *Podman) Exec(name string, extra []string, cmd ...string) string {
	p.t.Helper()
	args := append(append([]string{"exec"}, extra...), name)
	return p.Podman(append(args, cmd...)...)
}

// Inspected is what `podman inspect` reports of a container.
type Inspected struct {
	ID        string `json:"Id"`
	Name      string `json:"Name"`
	ImageName string `json:"ImageName"`
	Image     string `json:"Image"`
}

// Inspect returns `podman inspect`'s report of container name.
func (p *Podman) Inspect(name string) Inspected {
	p.t.Helper()
	var out []Inspected
	if err := json.Unmarshal([]byte(p.Podman("inspect", "--type", "container", name)), &out); err != nil || len(out) != 1 {
		p.t.Fatalf("podman inspect %s: %v (%d entries)", name, err, len(out))
	}
	return out[0]
}

// Service starts Podman's API service (`podman system service`) on a unix
// socket in a directory of the test's own, waits until it answers, and
// returns the socket's path. The service stops when the test ends.
func (p *Podman) Service() string {
	p.t.Helper()
	sock := filepath.Join(p.t.TempDir(), "podman.sock")
	cmd := exec.Command(p.bin, "--runtime", Runc, "system", "service", "--time=0", "unix://"+sock)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("podman system service: %v", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	p.t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		select {
		case <-done:
			p.t.Fatalf("podman system service exited: %v: %s", waitErr, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("podman system service: no socket at %s after 20 s: %s", sock, stderr.String())
		}
	}
}
