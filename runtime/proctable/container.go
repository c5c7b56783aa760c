package proctable

import (
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
)

// containerPrefixes maps the prefixes of systemd scope (or cgroupfs) names
// that wrap a 64-hex-char container id to the runtime that creates them:
// "docker-<id>.scope", "cri-containerd-<id>.scope", "crio-<id>.scope",
// "libpod-<id>.scope" (podman's cgroupfs manager drops ".scope").
var containerPrefixes = []struct{ prefix, runtime string }{
	{"docker-", "docker"},
	{"cri-containerd-", "containerd"},
	{"crio-", "cri-o"},
	{"libpod-", "podman"},
}

// ParseContainerID finds the container that a cgroup path (the third field of
// a /proc/PID/cgroup line) belongs to. It returns the first 12 hex chars of
// the container id and its runtime: "docker" for "/docker/<id>" and
// "docker-<id>.scope", "containerd" for "cri-containerd-<id>.scope" and for a
// bare id under a kubepods hierarchy ("/kubepods/<qos>/pod<uid>/<id>"),
// "cri-o" for "crio-<id>.scope" and "podman" for "libpod-<id>.scope". Path
// components are examined from the innermost outwards, so a nested path
// reports its innermost container. Any other path gives ("host", "host").
// It never fails.
func ParseContainerID(cgroupPath string) (id, runtime string) {
	full, runtime := ParseFullContainerID(cgroupPath)
	if runtime == policy.Host {
		return full, runtime
	}
	return full[:12], runtime
}

// ParseFullContainerID is ParseContainerID with the container's full id
// (64 hex chars), which some runtimes' APIs need (containerd's); ("host",
// "host") outside containers. It never fails.
func ParseFullContainerID(cgroupPath string) (id, runtime string) {
	comps := strings.Split(cgroupPath, "/")
	kube := false
	for _, c := range comps {
		if strings.HasPrefix(c, "kubepods") {
			kube = true
			break
		}
	}
	for i := len(comps) - 1; i >= 0; i-- {
		c := comps[i]
		if isContainerID(c) {
			if i > 0 && comps[i-1] == "docker" {
				return c, "docker"
			}
			if kube {
				return c, "containerd"
			}
			continue
		}
		name := strings.TrimSuffix(c, ".scope")
		for _, cp := range containerPrefixes {
			if rest, ok := strings.CutPrefix(name, cp.prefix); ok && isContainerID(rest) {
				return rest, cp.runtime
			}
		}
	}
	return policy.Host, policy.Host
}

// isContainerID reports whether s is a full container id: 64 lowercase hex chars.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
