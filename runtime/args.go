package runtime

import (
	"path/filepath"
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
)

// unknownDir is the directory libsinsp puts before a relative path whose
// base (a dirfd it has no fd for) it does not know; it is glued to the
// path without a separator ("<UNKNOWN>file").
const unknownDir = "<UNKNOWN>"

// argPath is a path argument (PT_FSPATH, PT_FSRELPATH) as evt.arg shows it:
// an absolute path as the process gave it, not normalised; a relative one
// joined to its base directory and normalised, or as given when the base
// is unknown (resolved is still relative).
func argPath(raw, resolved string) string {
	if raw == "" || filepath.IsAbs(raw) {
		return raw
	}
	return resolved
}

// resolvedPath is a path as fd.name and fs.path.* have it: normalised and
// absolute, or "<UNKNOWN>" and the path as given when its base is unknown.
func resolvedPath(raw, resolved string) string {
	if filepath.IsAbs(resolved) {
		return resolved
	}
	return unknownDir + raw
}

// fdArgOf renders fd, described by the event's fd.* fields, as a PT_FD
// argument: known when the event has its fd.type (or fd.typechar) and
// fd.name.
func fdArgOf(ev *policy.Event, fd int64) string {
	str := func(k policy.Key) (string, bool) {
		v, ok := ev.Get(k)
		if !ok || v.Kind() != policy.KindText {
			return "", false
		}
		return v.Text()
	}
	tc, okT := str(keyFdTypechar)
	name, okN := str(keyFdName)
	l4, _ := str(keyFdL4proto)
	return FDArg(fd, tc, l4, name, okT && okN)
}

// hostContainerFields are the container.* fields Falco's container plugin
// (v0.7.1) gives a process outside containers: its built-in "host" entry,
// whose image, ip, labels and mounts are empty strings and whose flags are
// false. container.start_ts and container.duration come from the process
// (its pid namespace's start, the boot time on the host), and
// container.label[...] and container.mount[...] find nothing.
var hostContainerFields = func() []struct {
	name string
	v    policy.Value
} {
	empty := []string{"container.image", "container.image.id", "container.image.repository", "container.image.tag",
		"container.image.digest", "container.mounts", "container.ip", "container.cni.json", "container.labels"}
	var out []struct {
		name string
		v    policy.Value
	}
	add := func(name string, v policy.Value) {
		out = append(out, struct {
			name string
			v    policy.Value
		}{name, v})
	}
	for _, n := range []string{"container.id", "container.full_id", "container.name", "container.type"} {
		add(n, policy.Text(policy.Host))
	}
	for _, n := range empty {
		add(n, policy.Text(""))
	}
	for _, n := range []string{"container.privileged", "container.host_pid", "container.host_network", "container.host_ipc"} {
		add(n, policy.Bool(false))
	}
	return out
}()

// isHost tells whether a container id names the host.
func isHost(id string) bool { return id == "" || strings.EqualFold(id, policy.Host) }
