package container

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Engine is one container runtime's API.
type Engine interface {
	// Kind is the runtime: docker, podman, containerd or cri-o.
	Kind() string
	// Socket is the path of the API's unix socket.
	Socket() string
	// Ping checks that the API answers; it returns the error of the
	// connection or of the call.
	Ping(ctx context.Context) error
	// Inspect returns what the runtime says about the container with the
	// given id (the full id, or a prefix where the API accepts one); it
	// returns ErrNotFound for a container the runtime does not run, or the
	// error of the call.
	Inspect(ctx context.Context, id string) (*Metadata, error)
	// Close releases the client.
	Close() error
}

// Socket names a runtime's API socket.
type Socket struct {
	Kind string // docker, podman, containerd or cri-o
	Path string
}

// Kinds are the runtimes an Engine can speak to.
var Kinds = []string{"docker", "podman", "containerd", "cri-o"}

// DefaultSockets are the runtimes' sockets at their usual paths.
func DefaultSockets() []Socket {
	return []Socket{
		{"docker", "/var/run/docker.sock"},
		{"podman", "/run/podman/podman.sock"},
		{"containerd", "/run/containerd/containerd.sock"},
		{"cri-o", "/var/run/crio/crio.sock"},
	}
}

// ParseSocket reads a socket given as KIND:PATH (docker:/var/run/docker.sock)
// or as a path alone, whose file name says the kind (docker.sock,
// podman.sock, containerd.sock, crio.sock). It returns an error for an
// unknown kind, a relative path, or a path whose kind it cannot tell.
func ParseSocket(s string) (Socket, error) {
	kind, path, ok := strings.Cut(s, ":")
	if !ok || strings.HasPrefix(s, "/") {
		kind, path = "", s
	}
	if !filepath.IsAbs(path) {
		return Socket{}, fmt.Errorf("container socket %q: want an absolute path, optionally after KIND: (one of %s)", s, strings.Join(Kinds, ", "))
	}
	if kind == "" {
		switch base := filepath.Base(path); {
		case strings.Contains(base, "podman"):
			kind = "podman"
		case strings.Contains(base, "containerd"):
			kind = "containerd"
		case strings.Contains(base, "crio") || strings.Contains(base, "cri-o"):
			kind = "cri-o"
		case strings.Contains(base, "docker"):
			kind = "docker"
		default:
			return Socket{}, fmt.Errorf("container socket %q: cannot tell the runtime from the file name; write KIND:PATH (one of %s)", s, strings.Join(Kinds, ", "))
		}
	}
	for _, k := range Kinds {
		if k == kind {
			return Socket{Kind: kind, Path: path}, nil
		}
	}
	return Socket{}, fmt.Errorf("container socket %q: unknown runtime %q (want one of %s)", s, kind, strings.Join(Kinds, ", "))
}

// NewEngine returns the engine for a socket: the Docker API for docker and
// podman, containerd's client, CRI-O's inspect API. It returns the error
// of making the client; it does not connect.
func NewEngine(s Socket) (Engine, error) {
	switch s.Kind {
	case "docker", "podman":
		return NewDocker(s.Kind, s.Path)
	case "containerd":
		return NewContainerd(s.Path)
	case "cri-o":
		return NewCRIO(s.Path)
	}
	return nil, fmt.Errorf("container socket %s: unknown runtime %q", s.Path, s.Kind)
}

// State is how far a container's lookup has got.
type State uint8

// Lookup states.
const (
	// Unknown: nobody asked for the container (or it was evicted).
	Unknown State = iota
	// Pending: a lookup is under way.
	Pending
	// Known: the runtime answered; Metadata holds what it said.
	Known
	// Failed: no engine knows the container, or none could be asked.
	Failed
)

// Options configure a Resolver.
type Options struct {
	// Sockets are the runtimes to ask. Nil asks the DefaultSockets that
	// exist on this machine; given sockets are asked even when missing
	// (and warned about).
	Sockets []Socket
	// Capacity bounds the containers kept (0: 4096); the least recently
	// used go first.
	Capacity int
	// Timeout bounds one lookup (0: 2 s) and Ping at start (0: 1 s).
	Timeout, PingTimeout time.Duration
	// Warn receives each warning, once per cause (nil: none): a socket
	// that does not answer at start, or the first failed lookup of one
	// that did. It may be called from several goroutines at once.
	Warn func(string)
}

// Stats are a Resolver's counters.
type Stats struct {
	// Engines is the number of engines asked, Unavailable the ones that
	// did not answer at start (or could not be made).
	Engines     int    `json:"engines"`
	Unavailable uint64 `json:"engines_unavailable"`
	// Lookups counts containers looked up; Found, NotFound, Errors and
	// NoEngine how they ended (NoEngine: no engine to ask).
	Lookups  uint64 `json:"lookups"`
	Found    uint64 `json:"found"`
	NotFound uint64 `json:"not_found"`
	Errors   uint64 `json:"errors"`
	NoEngine uint64 `json:"no_engine"`
	// Evicted counts containers dropped from the cache (gone, or the
	// cache full); Cached is how many it holds.
	Evicted uint64 `json:"evicted"`
	Cached  int    `json:"cached"`
	// LookupTime is the time the lookups took, from Request to their
	// end, summed; LookupMax the longest.
	LookupTime time.Duration `json:"lookup_ns"`
	LookupMax  time.Duration `json:"lookup_max_ns"`
}

// Resolver looks containers up once each, in the background, and keeps
// what the runtimes said. Its methods are safe for concurrent use and
// never wait for a runtime (Wait's channel does).
type Resolver struct {
	engines  []Engine
	capacity int
	timeout  time.Duration
	warn     func(string)

	mu      sync.Mutex
	entries map[string]*entry
	lru     list.List // of *entry, most recently used first
	warned  map[string]bool

	sem                                             chan struct{}
	wg                                              sync.WaitGroup
	ctx                                             context.Context
	cancel                                          context.CancelFunc
	unavailable, lookups, found, notFound, errs, no atomic.Uint64
	evicted                                         atomic.Uint64
	lookupTime, lookupMax                           atomic.Int64
}

type entry struct {
	id    string
	asked time.Time // when Request started the lookup
	md    *Metadata
	st    State
	done  chan struct{} // closed when st leaves Pending
	elem  *list.Element
}

// NewResolver makes the engines of opts.Sockets and pings them all at
// once, each for at most opts.PingTimeout: a socket that is missing, dead
// or speaks no such API costs one warning (through opts.Warn) and counts
// in Stats.Unavailable; it is still asked on lookups, in case its runtime
// comes up later. It never fails.
func NewResolver(opts Options) *Resolver {
	r := &Resolver{capacity: opts.Capacity, timeout: opts.Timeout, warn: opts.Warn,
		entries: map[string]*entry{}, warned: map[string]bool{}, sem: make(chan struct{}, 4)}
	if r.capacity <= 0 {
		r.capacity = 4096
	}
	if r.timeout <= 0 {
		r.timeout = 2 * time.Second
	}
	if r.warn == nil {
		r.warn = func(string) {}
	}
	pingTimeout := opts.PingTimeout
	if pingTimeout <= 0 {
		pingTimeout = time.Second
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	sockets, explicit := opts.Sockets, opts.Sockets != nil
	if !explicit {
		for _, s := range DefaultSockets() {
			if _, err := os.Stat(s.Path); err == nil {
				sockets = append(sockets, s)
			}
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, s := range sockets {
		e, err := NewEngine(s)
		if err != nil {
			r.unavailable.Add(1)
			r.warnOnce("engine "+s.Path, fmt.Sprintf("container engine %s at %s: %v; its containers get no metadata", s.Kind, s.Path, err))
			continue
		}
		r.engines = append(r.engines, e)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.ctx, pingTimeout)
			defer cancel()
			if err := e.Ping(ctx); err != nil {
				r.unavailable.Add(1)
				mu.Lock()
				defer mu.Unlock()
				r.warnOnce("engine "+s.Path, fmt.Sprintf("container engine %s at %s does not answer: %v; its containers get no metadata (container.name, image, k8s.* stay empty) until it does", s.Kind, s.Path, err))
			}
		}()
	}
	wg.Wait()
	return r
}

// warnOnce warns with msg the first time of cause.
func (r *Resolver) warnOnce(cause, msg string) {
	r.mu.Lock()
	seen := r.warned[cause]
	r.warned[cause] = true
	r.mu.Unlock()
	if !seen {
		r.warn(msg)
	}
}

// Engines returns the engines the resolver asks.
func (r *Resolver) Engines() []Engine { return r.engines }

// Request starts looking up the container with short id id (full is its
// full id, kind the runtime its cgroup names) unless it is known or under
// way. It returns at once.
func (r *Resolver) Request(id, full, kind string) {
	r.mu.Lock()
	if e, ok := r.entries[id]; ok {
		r.lru.MoveToFront(e.elem)
		r.mu.Unlock()
		return
	}
	e := &entry{id: id, st: Pending, done: make(chan struct{}), asked: time.Now()}
	e.elem = r.lru.PushFront(e)
	r.entries[id] = e
	for len(r.entries) > r.capacity {
		old := r.lru.Back().Value.(*entry)
		r.removeLocked(old)
	}
	r.mu.Unlock()
	r.lookups.Add(1)
	if len(r.engines) == 0 {
		r.no.Add(1)
		r.warnOnce("no engine", fmt.Sprintf("container %s (%s): no container engine socket configured or found at the usual paths; container.name, image and k8s.* fields stay empty", id, kind))
		r.finish(e, nil, Failed)
		return
	}
	r.wg.Add(1)
	go r.lookup(e, full, kind)
}

// lookup asks the engines of kind first, then the others.
func (r *Resolver) lookup(e *entry, full, kind string) {
	defer r.wg.Done()
	select {
	case r.sem <- struct{}{}:
	case <-r.ctx.Done():
		r.finish(e, nil, Failed)
		return
	}
	defer func() { <-r.sem }()
	order := make([]Engine, 0, len(r.engines))
	for _, en := range r.engines {
		if en.Kind() == kind {
			order = append(order, en)
		}
	}
	for _, en := range r.engines {
		if en.Kind() != kind {
			order = append(order, en)
		}
	}
	id := full
	if id == "" {
		id = e.id
	}
	answered := false // an engine said it does not run the container
	for _, en := range order {
		ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
		md, err := en.Inspect(ctx, id)
		cancel()
		if r.ctx.Err() != nil {
			// Closed: the lookup is abandoned, not failed.
			r.finish(e, nil, Failed)
			return
		}
		switch {
		case err == nil:
			r.found.Add(1)
			if md.Type == "" {
				md.Type = en.Kind()
			}
			r.finish(e, md, Known)
			return
		case errors.Is(err, ErrNotFound):
			answered = true
		default:
			r.errs.Add(1)
			// One warning per socket: a socket that was dead at start
			// was warned about then.
			r.warnOnce("engine "+en.Socket(), fmt.Sprintf("container engine %s at %s: looking up %s: %v (further errors are counted, not logged)", en.Kind(), en.Socket(), e.id, err))
		}
	}
	if answered {
		r.notFound.Add(1)
	}
	r.finish(e, nil, Failed)
}

func (r *Resolver) finish(e *entry, md *Metadata, st State) {
	took := int64(time.Since(e.asked))
	r.lookupTime.Add(took)
	for {
		max := r.lookupMax.Load()
		if took <= max || r.lookupMax.CompareAndSwap(max, took) {
			break
		}
	}
	r.mu.Lock()
	e.md, e.st = md, st
	r.mu.Unlock()
	close(e.done)
}

// Get returns what is known of the container with short id id: its
// metadata (nil unless Known), the state of its lookup, and a channel
// closed when the lookup ends (nil when none is under way).
func (r *Resolver) Get(id string) (*Metadata, State, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok {
		return nil, Unknown, nil
	}
	if e.st == Pending {
		return nil, Pending, e.done
	}
	return e.md, e.st, nil
}

// Forget drops a container from the cache: it has gone away.
func (r *Resolver) Forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[id]; ok {
		r.removeLocked(e)
	}
}

// Sweep drops every container alive says is gone, and returns how many
// it dropped. A lookup under way stays.
func (r *Resolver) Sweep(alive func(id string) bool) int {
	r.mu.Lock()
	var gone []*entry
	for id, e := range r.entries {
		if e.st != Pending && !alive(id) {
			gone = append(gone, e)
		}
	}
	for _, e := range gone {
		r.removeLocked(e)
	}
	r.mu.Unlock()
	return len(gone)
}

func (r *Resolver) removeLocked(e *entry) {
	delete(r.entries, e.id)
	r.lru.Remove(e.elem)
	r.evicted.Add(1)
}

// Stats returns the resolver's counters.
func (r *Resolver) Stats() Stats {
	r.mu.Lock()
	n := len(r.entries)
	r.mu.Unlock()
	return Stats{Engines: len(r.engines), Unavailable: r.unavailable.Load(), Lookups: r.lookups.Load(),
		Found: r.found.Load(), NotFound: r.notFound.Load(), Errors: r.errs.Load(), NoEngine: r.no.Load(),
		Evicted: r.evicted.Load(), Cached: n,
		LookupTime: time.Duration(r.lookupTime.Load()), LookupMax: time.Duration(r.lookupMax.Load())}
}

// Close stops the lookups under way and closes the engines; it returns
// the engines' errors.
func (r *Resolver) Close() error {
	r.cancel()
	r.wg.Wait()
	var errs []error
	for _, e := range r.engines {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
}
