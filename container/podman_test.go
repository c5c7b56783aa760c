package container_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/container"
	"github.com/peregrine-sec/peregrine/internal/podmantest"
)

func name(what string) string {
	return fmt.Sprintf("pg-%s-%d-%d", what, os.Getpid(), time.Now().UnixNano()%1e6)
}

// TestPodmanInspect asks Podman's API service (the Docker-compatible API)
// about real containers: a privileged one with a read-only bind mount and
// a label, and a plain one.
func TestPodmanInspect(t *testing.T) {
	pm := podmantest.New(t)
	image := pm.Build()
	sock := pm.Service()
	eng, err := container.NewEngine(container.Socket{Kind: "podman", Path: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	priv := name("priv")
	privID := pm.Run(priv, []string{"--privileged", "-v", data + ":/data:ro", "--label", "app=web", "--label", "tier="}, "sleep", "60")
	plain := name("plain")
	plainID := pm.Run(plain, nil, "sleep", "60")
	digest := strings.TrimSpace(pm.Podman("image", "inspect", "--format", "{{.Digest}}", image))

	md, err := eng.Inspect(ctx, privID[:12])
	if err != nil {
		t.Fatal(err)
	}
	in := pm.Inspect(priv)
	want := container.Metadata{ID: privID[:12], FullID: privID, Type: "podman", Name: priv, Image: in.ImageName, ImageID: in.Image,
		ImageRepository: "localhost/peregrine-busybox", ImageTag: "test", ImageDigest: digest, Privileged: true}
	got := *md
	got.Mounts, got.Labels, got.PodLabels = nil, nil, nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("inspect %s:\n got %+v\nwant %+v", priv, got, want)
	}
	if !slices.ContainsFunc(md.Mounts, func(m container.Mount) bool {
		return m.Source == data && m.Destination == "/data" && !m.RW
	}) {
		t.Errorf("mounts %+v lack %s:/data read-only", md.Mounts, data)
	}
	if !strings.Contains(md.MountsString(), data+":/data:") {
		t.Errorf("container.mounts %q", md.MountsString())
	}
	// The image's own label (peregrine.rootfs) sorts between the two.
	if ls := container.LabelsString(md.Labels); md.Labels["app"] != "web" || !strings.HasPrefix(ls, "app:web, ") || !strings.HasSuffix(ls, ", tier") {
		t.Errorf("labels %v (%q)", md.Labels, container.LabelsString(md.Labels))
	}

	md, err = eng.Inspect(ctx, plainID)
	if err != nil {
		t.Fatal(err)
	}
	if md.Privileged || md.Name != plain || len(md.Mounts) != 0 || md.HostPID || md.HostIPC {
		t.Errorf("plain container: %+v", md)
	}
	if _, err := eng.Inspect(ctx, strings.Repeat("0", 64)); !errors.Is(err, container.ErrNotFound) {
		t.Errorf("an unknown container: %v, want ErrNotFound", err)
	}
}

// TestResolverCache: lookups end Known or Failed, the cache keeps at most
// Capacity containers (the least recently used go), and Sweep drops the
// containers said to be gone.
func TestResolverCache(t *testing.T) {
	pm := podmantest.New(t)
	pm.Build()
	sock := pm.Service()
	r := container.NewResolver(container.Options{Sockets: []container.Socket{{Kind: "podman", Path: sock}}, Capacity: 2,
		Warn: func(s string) { t.Errorf("warning: %s", s) }})
	defer r.Close()
	var ids []string
	for i := range 3 {
		ids = append(ids, pm.Run(name(fmt.Sprint("c", i)), nil, "sleep", "60"))
	}
	lookup := func(full string) (*container.Metadata, container.State) {
		t.Helper()
		id := full[:12]
		r.Request(id, full, "podman")
		if _, st, done := r.Get(id); st == container.Pending {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("lookup of %s still pending after 5 s", id)
			}
		}
		md, st, _ := r.Get(id)
		return md, st
	}
	for _, full := range ids[:2] {
		if md, st := lookup(full); st != container.Known || md.FullID != full {
			t.Fatalf("%s: state %d, metadata %+v", full, st, md)
		}
	}
	if _, st := lookup(strings.Repeat("a", 64)); st != container.Failed {
		t.Errorf("an unknown container: state %d, want Failed", st)
	}
	// The unknown one pushed ids[0] out (least recently used); ids[2]
	// will push ids[1] out, and Sweep the unknown one: 3 evictions.
	if _, st, _ := r.Get(ids[0][:12]); st != container.Unknown {
		t.Errorf("%s: state %d after two newer lookups in a cache of 2", ids[0][:12], st)
	}
	if md, st := lookup(ids[2]); st != container.Known || md.ID != ids[2][:12] {
		t.Fatalf("%s: %d %+v", ids[2], st, md)
	}
	if n := r.Sweep(func(id string) bool { return id == ids[2][:12] }); n != 1 {
		t.Errorf("Sweep dropped %d, want 1", n)
	}
	s := r.Stats()
	if s.Lookups != 4 || s.Found != 3 || s.NotFound != 1 || s.Errors != 0 || s.Cached != 1 || s.Evicted != 3 {
		t.Errorf("stats %+v", s)
	}
}
