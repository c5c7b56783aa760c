package container

import (
	"strings"
	"testing"
)

func TestSplitImage(t *testing.T) {
	for _, c := range []struct{ ref, repo, tag, digest string }{
		{"nginx", "nginx", "", ""},
		{"nginx:1.27", "nginx", "1.27", ""},
		{"localhost/peregrine-busybox:test", "localhost/peregrine-busybox", "test", ""},
		{"registry.example:5000/team/app", "registry.example:5000/team/app", "", ""},
		{"registry.example:5000/team/app:v2", "registry.example:5000/team/app", "v2", ""},
		{"docker.io/library/alpine@sha256:abc", "docker.io/library/alpine", "", "sha256:abc"},
		{"quay.io/x/y:1@sha256:def", "quay.io/x/y", "1", "sha256:def"},
	} {
		repo, tag, digest := SplitImage(c.ref)
		if repo != c.repo || tag != c.tag || digest != c.digest {
			t.Errorf("SplitImage(%q) = %q, %q, %q; want %q, %q, %q", c.ref, repo, tag, digest, c.repo, c.tag, c.digest)
		}
	}
}

func TestRenderings(t *testing.T) {
	m := &Metadata{Mounts: []Mount{
		{Source: "/srv/data", Destination: "/data", Mode: "Z", RW: true, Propagation: "rprivate"},
		{Source: "/etc/hosts", Destination: "/etc/hosts", RW: false},
	}}
	if got, want := m.MountsString(), "/srv/data:/data:Z:true:rprivate,/etc/hosts:/etc/hosts::false:"; got != want {
		t.Errorf("MountsString() = %q, want %q", got, want)
	}
	labels := map[string]string{"app": "web", "tier": "", "io.kubernetes.pod.name": "web-1", "annotation.x": "y", "a.b": "c"}
	if got, want := LabelsString(labels), "a.b:c, app:web, tier"; got != want {
		t.Errorf("LabelsString() = %q, want %q", got, want)
	}
	m.Labels = labels
	if m.PodName() != "web-1" || m.PodNamespace() != "" {
		t.Errorf("pod %q namespace %q", m.PodName(), m.PodNamespace())
	}
	if ShortID(strings.Repeat("ab", 32)) != "abababababab" || ShortID("abc") != "abc" {
		t.Error("ShortID")
	}
}

func TestParseSocket(t *testing.T) {
	for _, c := range []struct {
		in, kind, path, err string
	}{
		{"/var/run/docker.sock", "docker", "/var/run/docker.sock", ""},
		{"/run/podman/podman.sock", "podman", "/run/podman/podman.sock", ""},
		{"/run/containerd/containerd.sock", "containerd", "/run/containerd/containerd.sock", ""},
		{"/var/run/crio/crio.sock", "cri-o", "/var/run/crio/crio.sock", ""},
		{"podman:/tmp/x/api.sock", "podman", "/tmp/x/api.sock", ""},
		{"cri-o:/run/crio.sock", "cri-o", "/run/crio.sock", ""},
		{"/tmp/api.sock", "", "", "cannot tell the runtime"},
		{"rkt:/run/rkt.sock", "", "", `unknown runtime "rkt"`},
		{"docker:run/docker.sock", "", "", "want an absolute path"},
		{"relative.sock", "", "", "want an absolute path"},
	} {
		s, err := ParseSocket(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseSocket(%q) = %+v, %v; want an error with %q", c.in, s, err, c.err)
			}
			continue
		}
		if err != nil || s.Kind != c.kind || s.Path != c.path {
			t.Errorf("ParseSocket(%q) = %+v, %v; want %s at %s", c.in, s, err, c.kind, c.path)
		}
	}
}
