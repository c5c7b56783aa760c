package container_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/container"
	"github.com/peregrine-sec/peregrine/internal/containerdtest"
	"github.com/peregrine-sec/peregrine/internal/podmantest"
)

// TestContainerdInspect asks a real containerd (Debian's, started by the
// test) about a container run as the CRI runs a pod's: in the k8s.io
// namespace with the CRI labels, found by its full id in any namespace.
func TestContainerdInspect(t *testing.T) {
	pm := podmantest.New(t)
	cd := containerdtest.Start(t, pm)
	pod := containerdtest.Pod{Name: "web-0", Namespace: "shop", UID: "5e2b8c1a-0d4f-4c1e-9a7b-3f6d2e1c0b9a", Container: "web"}
	id := cd.Run(pod, "sleep", "60")
	eng, err := container.NewEngine(container.Socket{Kind: "containerd", Path: cd.Socket})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	md, err := eng.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	digest := strings.Fields(cd.Ctr("images", "ls", "-q"))
	checks := map[string][2]string{
		"id":         {md.ID, id[:12]},
		"full id":    {md.FullID, id},
		"type":       {md.Type, "containerd"},
		"name":       {md.Name, "web"},
		"image":      {md.Image, podmantest.Image},
		"repository": {md.ImageRepository, "localhost/peregrine-busybox"},
		"tag":        {md.ImageTag, "test"},
		"pod":        {md.PodName(), pod.Name},
		"namespace":  {md.PodNamespace(), pod.Namespace},
		"pod uid":    {md.PodUID(), pod.UID},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", what, c[0], c[1])
		}
	}
	if !strings.HasPrefix(md.ImageDigest, "sha256:") || len(digest) == 0 {
		t.Errorf("image digest %q (images %q)", md.ImageDigest, digest)
	}
	if md.Privileged || md.HostPID || md.HostNetwork {
		t.Errorf("privileged %v host pid %v host network %v", md.Privileged, md.HostPID, md.HostNetwork)
	}
	if !strings.Contains(md.MountsString(), "proc:/proc::true:") {
		t.Errorf("container.mounts %q", md.MountsString())
	}
	if _, err := eng.Inspect(ctx, strings.Repeat("0", 64)); !errors.Is(err, container.ErrNotFound) {
		t.Errorf("an unknown container: %v, want ErrNotFound", err)
	}
}
