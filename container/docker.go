package container

import (
	"context"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// dockerEngine asks a Docker-compatible API: Docker's, or Podman's service
// (which serves the same API on its own socket).
type dockerEngine struct {
	kind, socket string
	cli          *client.Client
}

// NewDocker returns the engine speaking the Docker API on the unix socket
// at path; kind names the runtime behind it ("docker" or "podman"), the
// container.type of the containers it finds. It returns an error when the
// client cannot be made (an unusable path); it does not connect: Ping does.
func NewDocker(kind, path string) (Engine, error) {
	// The client negotiates the API version with the server (Podman 4
	// serves 1.41).
	cli, err := client.New(client.WithHost("unix://" + path))
	if err != nil {
		return nil, fmt.Errorf("%s API client for %s: %w", kind, path, err)
	}
	return &dockerEngine{kind: kind, socket: path, cli: cli}, nil
}

// Kind implements Engine: the runtime's name.
func (d *dockerEngine) Kind() string { return d.kind }

// Socket implements Engine: the API socket's path.
func (d *dockerEngine) Socket() string { return d.socket }

// Close implements Engine: it releases the client's connections and returns the client's error.
func (d *dockerEngine) Close() error { return d.cli.Close() }

// Ping implements Engine: it returns the error of the connection or of the call.
func (d *dockerEngine) Ping(ctx context.Context) error {
	_, err := d.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	return err
}

// Inspect implements Engine: it returns ErrNotFound for a container the runtime does not run, else the error of the call.
func (d *dockerEngine) Inspect(ctx context.Context, id string) (*Metadata, error) {
	res, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	c := res.Container
	m := &Metadata{ID: ShortID(c.ID), FullID: c.ID, Type: d.kind, Name: strings.TrimPrefix(c.Name, "/")}
	if c.Config != nil {
		m.Image = c.Config.Image
		m.Labels = c.Config.Labels
	}
	if h := c.HostConfig; h != nil {
		m.Privileged = h.Privileged
		m.HostPID = h.PidMode.IsHost()
		m.HostNetwork = h.NetworkMode.IsHost()
		m.HostIPC = h.IpcMode.IsHost()
	}
	for _, mt := range c.Mounts {
		m.Mounts = append(m.Mounts, Mount{Source: mt.Source, Destination: mt.Destination, Mode: mt.Mode, RW: mt.RW, Propagation: string(mt.Propagation)})
	}
	if n := c.NetworkSettings; n != nil {
		for _, ep := range n.Networks {
			if ep != nil && ep.IPAddress.IsValid() {
				m.IP = ep.IPAddress.String()
				break
			}
		}
	}
	// c.Image is the image's id (sha256:...); the repository, tag and
	// digest are the image's, as its tags and digests name them.
	m.ImageID = strings.TrimPrefix(c.Image, "sha256:")
	m.ImageRepository, m.ImageTag, m.ImageDigest = SplitImage(m.Image)
	if img, err := d.cli.ImageInspect(ctx, c.Image); err == nil {
		imageNames(m, img.RepoTags, img.RepoDigests)
	}
	return m, nil
}

// imageNames sets the image's repository, tag and digest from its
// repository tags (repo:tag) and digests (repo@digest): the tag of the
// reference the container names, else the first; the digest of the same
// repository, else the only one.
func imageNames(m *Metadata, tags, digests []string) {
	repo := m.ImageRepository
	for _, t := range tags {
		r, tag, _ := SplitImage(t)
		if repo == "" || r == repo {
			m.ImageRepository, m.ImageTag = r, tag
			repo = r
			break
		}
	}
	for _, d := range digests {
		r, _, dg := SplitImage(d)
		if r == repo || len(digests) == 1 {
			m.ImageDigest = dg
			if m.ImageRepository == "" {
				m.ImageRepository = r
			}
			break
		}
	}
}
