// Package container asks container runtimes about containers: given the id
// the kernel read from a process's cgroup, it returns the container's
// name, image, privileges, mounts, labels and Kubernetes pod, as Falco's
// container plugin defines its container.* and k8s.* fields.
//
// Engines speak each runtime's own API through its maintained Go client:
// the Docker API (Docker's socket and Podman's service socket), containerd
// (its client, every namespace, k8s.io included) and CRI-O (the inspect
// API its socket serves). A Resolver looks each container up once, off the
// event path, and keeps what it found in a bounded cache until the
// container goes away.
//
// The package knows nothing of events or rules: it imports no other
// Peregrine package.
package container

import (
	"errors"
	"sort"
	"strings"
)

// ErrNotFound is what an Engine returns for a container it does not run.
var ErrNotFound = errors.New("no such container")

// Mount is one of a container's mounts.
type Mount struct {
	Source      string
	Destination string
	Mode        string
	RW          bool
	Propagation string
}

// String renders the mount as Falco's container.mount does:
// source:dest:mode:rdrw:propagation, rdrw being true or false.
func (m Mount) String() string {
	rw := "false"
	if m.RW {
		rw = "true"
	}
	return m.Source + ":" + m.Destination + ":" + m.Mode + ":" + rw + ":" + m.Propagation
}

// Metadata is what a runtime says about one container.
type Metadata struct {
	// ID is the short id (12 characters), FullID the runtime's full id.
	ID, FullID string
	// Type is the runtime: docker, podman, containerd or cri-o.
	Type string
	// Name is the container's name, without Docker's leading slash.
	Name string
	// Image is the image as the container was created from it
	// (repository:tag, as the runtime spells it); ImageID the image's id
	// without its "sha256:"; ImageRepository, ImageTag and ImageDigest
	// come from the image's repository tags and digests.
	Image, ImageID, ImageRepository, ImageTag, ImageDigest string
	Privileged, HostPID, HostNetwork, HostIPC              bool
	Mounts                                                 []Mount
	// Labels are the container's labels; PodLabels the labels of its
	// Kubernetes pod (CRI runtimes).
	Labels, PodLabels map[string]string
	IP                string
}

// The CRI labels a container of a Kubernetes pod carries.
const (
	LabelPodName      = "io.kubernetes.pod.name"
	LabelPodNamespace = "io.kubernetes.pod.namespace"
	LabelPodUID       = "io.kubernetes.pod.uid"
)

// PodName returns the container's Kubernetes pod name (k8s.pod.name),
// from its CRI label; "" outside Kubernetes.
func (m *Metadata) PodName() string { return m.Labels[LabelPodName] }

// PodNamespace returns the pod's namespace (k8s.ns.name).
func (m *Metadata) PodNamespace() string { return m.Labels[LabelPodNamespace] }

// PodUID returns the pod's uid (k8s.pod.uid).
func (m *Metadata) PodUID() string { return m.Labels[LabelPodUID] }

// MountsString renders every mount as container.mounts does: the
// mounts' renderings joined by commas, in the runtime's order.
func (m *Metadata) MountsString() string {
	parts := make([]string, len(m.Mounts))
	for i, mt := range m.Mounts {
		parts[i] = mt.String()
	}
	return strings.Join(parts, ",")
}

// LabelsString renders labels as container.labels and k8s.pod.labels do:
// key:value (key alone for an empty value), sorted by key, joined by ", ",
// leaving out the runtime's own io.kubernetes.* and annotation.* keys.
func LabelsString(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if strings.HasPrefix(k, "io.kubernetes.") || strings.HasPrefix(k, "annotation.") {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		if v := labels[k]; v != "" {
			b.WriteString(":" + v)
		}
	}
	return b.String()
}

// SplitImage splits an image reference (registry/path:tag@digest) into its
// repository, tag and digest; the tag is the part after the last colon
// that follows the last slash, so a registry's port is not taken for one.
func SplitImage(ref string) (repo, tag, digest string) {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	slash := strings.LastIndexByte(ref, '/')
	if i := strings.LastIndexByte(ref, ':'); i > slash {
		return ref[:i], ref[i+1:], digest
	}
	return ref, "", digest
}

// ShortID returns the first 12 characters of a container id.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
