package container

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// crioEngine asks CRI-O's inspect API, the HTTP server on its socket
// (GET /info, GET /containers/ID).
type crioEngine struct {
	socket string
	http   *http.Client
}

// NewCRIO returns the engine for CRI-O's socket at path. It never fails
// (it does not connect: Ping does).
func NewCRIO(path string) (Engine, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &crioEngine{socket: path, http: &http.Client{Transport: tr}}, nil
}

// Kind implements Engine: the runtime's name.
func (c *crioEngine) Kind() string { return "cri-o" }

// Socket implements Engine: the API socket's path.
func (c *crioEngine) Socket() string { return c.socket }

// Close implements Engine: it releases the client's connections and returns the client's error.
func (c *crioEngine) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

func (c *crioEngine) get(ctx context.Context, path string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://cri-o"+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

// Ping implements Engine: it returns the error of the connection or of the call.
func (c *crioEngine) Ping(ctx context.Context) error {
	var info map[string]any
	_, err := c.get(ctx, "/info", &info)
	return err
}

// crioContainer is the part of CRI-O's container inspection Peregrine reads.
type crioContainer struct {
	Name        string            `json:"name"`
	Image       string            `json:"image"`
	ImageRef    string            `json:"image_ref"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Sandbox     string            `json:"sandbox"`
	IPs         []string          `json:"ip_addresses"`
}

// Inspect implements Engine: it returns ErrNotFound for a container the runtime does not run, else the error of the call.
func (c *crioEngine) Inspect(ctx context.Context, id string) (*Metadata, error) {
	var ci crioContainer
	code, err := c.get(ctx, "/containers/"+url.PathEscape(id), &ci)
	if code == http.StatusNotFound {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	m := &Metadata{ID: ShortID(id), FullID: id, Type: "cri-o", Name: ci.Name, Image: ci.Image, Labels: ci.Labels}
	if n := ci.Labels["io.kubernetes.container.name"]; n != "" {
		m.Name = n
	}
	m.ImageRepository, m.ImageTag, m.ImageDigest = SplitImage(ci.Image)
	if _, dg, ok := strings.Cut(ci.ImageRef, "@"); ok {
		m.ImageDigest = dg
	} else {
		m.ImageID = strings.TrimPrefix(ci.ImageRef, "sha256:")
	}
	if len(ci.IPs) > 0 {
		m.IP = ci.IPs[0]
	}
	m.Privileged = ci.Annotations["io.kubernetes.cri-o.PrivilegedRuntime"] == "true"
	return m, nil
}
