package runtime

import (
	"path"
	"strconv"
	"time"

	"github.com/peregrine-sec/peregrine/container"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime/proctable"
)

// Container metadata in live events. The kernel gives a process's
// container id (its cgroup path); the rest (name, image, privileges,
// mounts, labels, the Kubernetes pod) comes from the container runtime's
// API through a container.Resolver, looked up when the container is first
// seen (an exec in it, or at start for the containers already running)
// and never on the event path: until the runtime has answered, those
// fields are absent, and the pipeline holds only the alerts that need
// them (Pipeline.Hold), for at most the deadline.

// DefaultContainerDeadline is how long an alert whose rule needs container
// metadata waits for a lookup under way.
const DefaultContainerDeadline = 250 * time.Millisecond

// containerSweep is how often, by default, the cache drops the
// containers no process runs in any more.
const containerSweep = 10 * time.Second

// metaField reads one runtime field of a container from its metadata.
type metaField func(md *container.Metadata) (policy.Value, bool)

func metaText(get func(md *container.Metadata) string) metaField {
	return func(md *container.Metadata) (policy.Value, bool) { return policy.Text(get(md)), true }
}

func metaBool(get func(md *container.Metadata) bool) metaField {
	return func(md *container.Metadata) (policy.Value, bool) { return policy.Bool(get(md)), true }
}

// metaFields are the fields runtime metadata gives, as Falco's container
// plugin renders them; k8s.* are absent outside Kubernetes.
var metaFields = map[string]metaField{
	"container.name":             metaText(func(md *container.Metadata) string { return md.Name }),
	"container.image":            metaText(func(md *container.Metadata) string { return md.Image }),
	"container.image.id":         metaText(func(md *container.Metadata) string { return md.ImageID }),
	"container.image.repository": metaText(func(md *container.Metadata) string { return md.ImageRepository }),
	"container.image.tag":        metaText(func(md *container.Metadata) string { return md.ImageTag }),
	"container.image.digest":     metaText(func(md *container.Metadata) string { return md.ImageDigest }),
	"container.privileged":       metaBool(func(md *container.Metadata) bool { return md.Privileged }),
	"container.host_pid":         metaBool(func(md *container.Metadata) bool { return md.HostPID }),
	"container.host_network":     metaBool(func(md *container.Metadata) bool { return md.HostNetwork }),
	"container.host_ipc":         metaBool(func(md *container.Metadata) bool { return md.HostIPC }),
	"container.mounts":           metaText((*container.Metadata).MountsString),
	"container.ip":               metaText(func(md *container.Metadata) string { return md.IP }),
	"container.labels":           metaText(func(md *container.Metadata) string { return container.LabelsString(md.Labels) }),
	"k8s.pod.name":               k8sText((*container.Metadata).PodName),
	"k8s.ns.name":                k8sText((*container.Metadata).PodNamespace),
	"k8s.pod.uid":                k8sText((*container.Metadata).PodUID),
	"k8s.pod.id":                 k8sText((*container.Metadata).PodUID),
	"k8s.pod.labels": func(md *container.Metadata) (policy.Value, bool) {
		if md.PodLabels == nil {
			return policy.Value{}, false
		}
		return policy.Text(container.LabelsString(md.PodLabels)), true
	},
}

func k8sText(get func(md *container.Metadata) string) metaField {
	return func(md *container.Metadata) (policy.Value, bool) {
		if v := get(md); v != "" {
			return policy.Text(v), true
		}
		return policy.Value{}, false
	}
}

var (
	keyContainerID    = policy.MustKey("container.id")
	keyContainerLabel = policy.MustKey("container.label")
	keyPodLabel       = policy.MustKey("k8s.pod.label")
	// metaKeys are the keys of metaFields.
	metaKeys = map[policy.Key]metaField{}
)

func init() {
	for name, f := range metaFields {
		metaKeys[policy.MustKey(name)] = f
	}
}

// containerFields are the live readers of the container fields that are
// not the host's process-table values: container.full_id from the cgroup,
// the runtime fields from the metadata, container.start_ts and
// container.duration from the pid namespace's first process.
func containerFields() map[string]liveField {
	host := map[string]policy.Value{}
	for _, f := range hostContainerFields {
		host[f.name] = f.v
	}
	out := map[string]liveField{}
	for name, get := range metaFields {
		hv, hasHost := host[name]
		out[name] = func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
			if s.p == nil {
				return policy.Value{}, false
			}
			if isHost(s.p.ContainerID) {
				return hv, hasHost
			}
			if md := s.metadata(); md != nil {
				return get(md)
			}
			return policy.Value{}, false
		}
	}
	out["container.full_id"] = func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
		if s.p == nil {
			return policy.Value{}, false
		}
		if isHost(s.p.ContainerID) {
			return policy.Text(policy.Host), true
		}
		if full, rt := proctable.ParseFullContainerID(s.p.CgroupPath); rt != policy.Host {
			return policy.Text(full), true
		}
		return policy.Value{}, false
	}
	out["container.start_ts"] = func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
		ts, ok := s.containerStart()
		return policy.Uint(ts), ok
	}
	out["container.duration"] = func(s *liveEvent, _ *policy.Event, _ policy.Key) (policy.Value, bool) {
		ts, ok := s.containerStart()
		now := uint64(int64(s.r.Timestamp) + s.l.bootToWall)
		if !ok || now <= ts {
			return policy.Value{}, false
		}
		return policy.Uint(now - ts), true
	}
	return out
}

// containerStart is container.start_ts: the boot time on the host, else
// the start of the container's first process (the pid namespace's init,
// whose start Falco takes): the furthest ancestor in the same container.
func (s *liveEvent) containerStart() (uint64, bool) {
	if s.p == nil {
		return 0, false
	}
	if isHost(s.p.ContainerID) {
		return s.l.bootEpoch, s.l.bootEpoch > 0
	}
	c := s.process()
	if c == nil {
		return 0, false
	}
	var start uint64
	for _, a := range c.chain {
		if a.ContainerID != s.p.ContainerID {
			break
		}
		start = a.StartTime
	}
	if start == 0 {
		return 0, false
	}
	return uint64(int64(start) + s.l.bootToWall), true
}

// metadata returns what the runtime said about the event's container, nil
// while it is unknown; the first call asks for a lookup if none was.
func (s *liveEvent) metadata() *container.Metadata {
	if s.metaRead {
		return s.meta
	}
	s.metaRead = true
	if s.l.containers == nil || s.p == nil || isHost(s.p.ContainerID) {
		return nil
	}
	s.l.requestContainer(s.p)
	s.meta, _, _ = s.l.containers.Get(s.p.ContainerID)
	return s.meta
}

// metaArgValue is a runtime field taking an argument: container.label[KEY],
// k8s.pod.label[KEY], container.mount[...] and its parts.
func (s *liveEvent) metaArgValue(base policy.Key, arg string) (policy.Value, bool) {
	md := s.metadata()
	if md == nil {
		return policy.Value{}, false
	}
	return argOf(md, base, arg)
}

// isMetaArg tells whether base is a runtime field taking an argument.
func isMetaArg(base policy.Key) bool {
	_, mount := mountParts[base]
	return mount || base == keyContainerLabel || base == keyPodLabel
}

func argOf(md *container.Metadata, base policy.Key, arg string) (policy.Value, bool) {
	if part, ok := mountParts[base]; ok {
		if m, ok := mountOf(md, base, arg); ok {
			return policy.Text(part(m)), true
		}
		return policy.Value{}, false
	}
	labels := md.Labels
	if base == keyPodLabel {
		labels = md.PodLabels
	}
	v, ok := labels[arg]
	return policy.Text(v), ok
}

var keyMountSource = policy.MustKey("container.mount.source")

// mountParts are the container.mount fields, each with the part of the
// mount it gives.
var mountParts = map[policy.Key]func(container.Mount) string{
	policy.MustKey("container.mount"):             container.Mount.String,
	keyMountSource:                                func(m container.Mount) string { return m.Source },
	policy.MustKey("container.mount.dest"):        func(m container.Mount) string { return m.Destination },
	policy.MustKey("container.mount.mode"):        func(m container.Mount) string { return m.Mode },
	policy.MustKey("container.mount.propagation"): func(m container.Mount) string { return m.Propagation },
	policy.MustKey("container.mount.rdwr"): func(m container.Mount) string {
		return strconv.FormatBool(m.RW)
	},
}

// mountOf finds the mount an argument names, as Falco does: by index, or
// by path, a glob matched against the mount's destination for
// container.mount.source and its source for the others; the first that
// matches.
func mountOf(md *container.Metadata, base policy.Key, arg string) (container.Mount, bool) {
	if i, err := strconv.Atoi(arg); err == nil {
		if i >= 0 && i < len(md.Mounts) {
			return md.Mounts[i], true
		}
		return container.Mount{}, false
	}
	for _, m := range md.Mounts {
		target := m.Source
		if base == keyMountSource {
			target = m.Destination
		}
		if ok, _ := path.Match(arg, target); ok {
			return m, true
		}
	}
	return container.Mount{}, false
}

// requestContainer asks for the metadata of p's container once.
func (l *Live) requestContainer(p *proctable.Process) {
	if l.containers == nil || p == nil || isHost(p.ContainerID) || l.requested[p.ContainerID] {
		return
	}
	if l.requested == nil || len(l.requested) >= 8192 {
		l.requested = map[string]bool{}
	}
	l.requested[p.ContainerID] = true
	full, _ := proctable.ParseFullContainerID(p.CgroupPath)
	if full == policy.Host {
		full = ""
	}
	l.containers.Request(p.ContainerID, full, p.ContainerRuntime)
}

// sweepContainers drops from the cache, every l.sweepEvery, the
// containers no process of the table runs in.
func (l *Live) sweepContainers(now time.Time) {
	if l.containers == nil || now.Sub(l.lastSweep) < l.sweepEvery {
		return
	}
	l.lastSweep = now
	alive := l.table.Containers()
	if l.containers.Sweep(func(id string) bool { return alive[id] != nil }) > 0 {
		for id := range l.requested {
			if alive[id] == nil {
				delete(l.requested, id)
			}
		}
	}
}

// Pending implements Holder: the lookup of the live event's container, when
// one is under way.
func (l *Live) Pending(ev *policy.Event) <-chan struct{} {
	if ev != &l.ev || l.containers == nil {
		return nil
	}
	p := l.src.p
	if p == nil || isHost(p.ContainerID) {
		return nil
	}
	l.requestContainer(p)
	_, st, ch := l.containers.Get(p.ContainerID)
	if st != container.Pending {
		return nil
	}
	return ch
}

// Complete implements Holder: it gives a held event's snapshot the
// runtime fields its container's metadata has now, those of the labels
// the rules name included.
func (l *Live) Complete(ev *policy.Event) {
	id, ok := ev.Text(keyContainerID)
	if !ok || isHost(id) || l.containers == nil {
		return
	}
	md, _, _ := l.containers.Get(id)
	if md == nil {
		return
	}
	for k, get := range metaKeys {
		if v, ok := get(md); ok {
			ev.SetKey(k, v)
		}
	}
	if ek := l.envKeys.Load(); ek != nil {
		for _, k := range ek.labels {
			arg, _ := k.Arg()
			if v, ok := argOf(md, k.Base(), arg); ok {
				ev.SetKey(k, v)
			}
		}
	}
}

// ContainerStats returns the metadata lookups' counters (zero without a
// resolver).
func (l *Live) ContainerStats() container.Stats {
	if l.containers == nil {
		return container.Stats{}
	}
	return l.containers.Stats()
}
