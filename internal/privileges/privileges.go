// Package privileges is the one list of the Linux capabilities `peregrine
// run` needs, with the reason for each. The run command checks its
// effective set against it, and the deployment files (deploy/: the
// systemd unit, the Kubernetes DaemonSet) and the README grant and name
// exactly these; deploy's tests compare them with this list, and
// cmd/peregrine's tests start the agent with exactly this set, and with
// each one of them dropped, to show the set is needed and enough.
package privileges

import (
	"fmt"
	"os"
	"strings"
)

// Capability is one capability the agent holds, with why.
type Capability struct {
	// Name is the kernel's name, CAP_ and upper case (CAP_BPF).
	Name string
	// Bit is its number in include/uapi/linux/capability.h.
	Bit uint
	// Required: without it the capture cannot start at all. The others
	// are needed for what the alerts say about processes started before
	// the agent (read from /proc); without one the agent runs, with a
	// warning, and those fields are empty.
	Required bool
	// Why says what the kernel refuses without it.
	Why string
}

// Agent is the capability set of `peregrine run`, found by starting it
// with exactly these and with each one dropped (see the README's
// Deploying section for the evidence).
var Agent = []Capability{
	{Name: "CAP_BPF", Bit: 39, Required: true,
		Why: "create the BPF maps (ring buffer, task storage, filter tables) and load the capture programs"},
	{Name: "CAP_PERFMON", Bit: 38, Required: true,
		Why: "load tracing programs that read kernel memory and attach them to the raw and per-syscall tracepoints and the scheduler's BTF tracepoints"},
	{Name: "CAP_SYS_PTRACE", Bit: 19, Required: false,
		Why: "read /proc/PID/exe, cwd and ns/* of processes that hold capabilities the agent lacks or run as another user (the kernel's ptrace read check), for processes started before the agent"},
	{Name: "CAP_DAC_READ_SEARCH", Bit: 2, Required: false,
		Why: "read /proc/PID/environ and search /proc/PID/fd of processes of other users (owner-only files), and search tracefs (mode 0700) when not root"},
}

// Names returns the names of caps, in order.
func Names(caps []Capability) []string {
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = c.Name
	}
	return out
}

// Effective reads the calling process's effective capability set.
func Effective() (uint64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var eff uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%x", &eff); err != nil {
				return 0, fmt.Errorf("reading CapEff in /proc/self/status: %w", err)
			}
			return eff, nil
		}
	}
	return 0, fmt.Errorf("no CapEff line in /proc/self/status")
}

// Missing splits the capabilities of Agent absent from the effective set
// eff into the required ones and the others.
func Missing(eff uint64) (required, optional []Capability) {
	for _, c := range Agent {
		if eff&(1<<c.Bit) != 0 {
			continue
		}
		if c.Required {
			required = append(required, c)
		} else {
			optional = append(optional, c)
		}
	}
	return required, optional
}
