package policy

import "sort"

// metaEvents are event types that are not system calls: scheduler,
// process and container events that Falco's event table names too.
var metaEvents = []string{
	"switch", "procexit", "signaldeliver", "container", "pluginevent", "asyncevent",
	"notification", "drop", "sysdigevent", "cpu_hotplug", "page_fault", "infra",
	"k8s", "mesos", "tracer", "procinfo", "scapevent", "umount", "signalfd",
}

var eventTypeSet = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range linuxSyscalls {
		m[n] = true
	}
	for _, n := range metaEvents {
		m[n] = true
	}
	return m
}()

// IsEventType reports whether name is an event type (evt.type value).
func IsEventType(name string) bool { return eventTypeSet[name] }

// EventTypes returns every event type name, sorted.
func EventTypes() []string {
	out := make([]string, 0, len(eventTypeSet))
	for n := range eventTypeSet {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
