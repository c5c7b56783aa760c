package container

import (
	"context"
	"fmt"
	"slices"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// containerdEngine asks containerd through its client, in every namespace
// (k8s.io, where the CRI plugin keeps Kubernetes' containers, included).
type containerdEngine struct {
	socket string
	cli    *containerd.Client
}

// NewContainerd returns the engine for containerd's socket at path. It
// returns the client's error; the client connects lazily, so a dead
// socket shows at Ping.
func NewContainerd(path string) (Engine, error) {
	cli, err := containerd.New(path)
	if err != nil {
		return nil, fmt.Errorf("containerd client for %s: %w", path, err)
	}
	return &containerdEngine{socket: path, cli: cli}, nil
}

// Kind implements Engine: the runtime's name.
func (c *containerdEngine) Kind() string { return "containerd" }

// Socket implements Engine: the API socket's path.
func (c *containerdEngine) Socket() string { return c.socket }

// Close implements Engine: it releases the client's connections and returns the client's error.
func (c *containerdEngine) Close() error { return c.cli.Close() }

// Ping implements Engine: it returns the error of the connection or of the call.
func (c *containerdEngine) Ping(ctx context.Context) error {
	_, err := c.cli.Version(ctx)
	return err
}

// Inspect implements Engine: it returns ErrNotFound for a container the runtime does not run, else the error of the call.
func (c *containerdEngine) Inspect(ctx context.Context, id string) (*Metadata, error) {
	nss, err := c.cli.NamespaceService().List(ctx)
	if err != nil {
		return nil, err
	}
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		ctr, err := c.cli.LoadContainer(nctx, id)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		info, err := ctr.Info(nctx)
		if err != nil {
			return nil, err
		}
		spec, err := ctr.Spec(nctx)
		if err != nil {
			return nil, err
		}
		m := &Metadata{ID: ShortID(id), FullID: id, Type: "containerd", Name: ShortID(id), Image: info.Image, Labels: info.Labels}
		if n := info.Labels["io.kubernetes.container.name"]; n != "" {
			m.Name = n
		}
		m.ImageRepository, m.ImageTag, m.ImageDigest = SplitImage(info.Image)
		if img, err := ctr.Image(nctx); err == nil {
			m.ImageDigest = img.Target().Digest.String()
		}
		specMetadata(m, spec)
		sandbox := info.SandboxID
		if sandbox == "" && spec != nil {
			sandbox = spec.Annotations["io.kubernetes.cri.sandbox-id"]
		}
		if sandbox != "" {
			if sb, err := c.cli.LoadSandbox(nctx, sandbox); err == nil {
				if labels, err := sb.Labels(nctx); err == nil && len(labels) > 0 {
					m.PodLabels = labels
				}
			}
		}
		return m, nil
	}
	return nil, ErrNotFound
}

// specMetadata reads what the OCI spec says: mounts, the namespaces shared
// with the host (a namespace the spec does not list is the host's), and
// privilege, as containerd's privileged option leaves a spec: every
// capability, no seccomp profile, no masked or read-only paths.
func specMetadata(m *Metadata, spec *specs.Spec) {
	if spec == nil {
		return
	}
	prop := ""
	if spec.Linux != nil {
		prop = spec.Linux.RootfsPropagation
	}
	for _, mt := range spec.Mounts {
		mode := ""
		rw := true
		for _, o := range mt.Options {
			if o == "ro" {
				rw = false
			} else if v, ok := strings.CutPrefix(o, "mode="); ok {
				mode = v
			}
		}
		m.Mounts = append(m.Mounts, Mount{Source: mt.Source, Destination: mt.Destination, Mode: mode, RW: rw, Propagation: prop})
	}
	if spec.Linux == nil {
		return
	}
	m.HostPID, m.HostNetwork, m.HostIPC = true, true, true
	for _, ns := range spec.Linux.Namespaces {
		switch ns.Type {
		case specs.PIDNamespace:
			m.HostPID = false
		case specs.NetworkNamespace:
			m.HostNetwork = false
		case specs.IPCNamespace:
			m.HostIPC = false
		}
	}
	if p := spec.Process; p != nil && p.Capabilities != nil {
		m.Privileged = slices.Contains(p.Capabilities.Bounding, "CAP_SYS_ADMIN") &&
			spec.Linux.Seccomp == nil && len(spec.Linux.MaskedPaths) == 0 && len(spec.Linux.ReadonlyPaths) == 0
	}
}
