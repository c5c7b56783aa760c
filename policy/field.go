// Package policy holds Peregrine's intermediate representation of detection
// rules: the field catalog, expressions over fields, rules and rulesets, the
// Event model, and the reference evaluator that defines what a rule means.
//
// Every front end (Falco YAML, Rego) lowers into this package; every back end
// (the compiler, the kernel filter, the runtime) reads from it.
package policy

import (
	"fmt"
	"sort"
	"strings"
)

// FieldType is the type of a field's value, named as Falco names it.
type FieldType uint8

// Field types. Their names follow libsinsp's ppm_param_type names.
const (
	TypeString  FieldType = iota + 1 // CHARBUF
	TypePath                         // FSPATH: a string that is a file system path
	TypeInt64                        // INT64
	TypeUint64                       // UINT64
	TypeUint32                       // UINT32
	TypePort                         // PORT: a 16-bit port number
	TypeBool                         // BOOL
	TypeIPAddr                       // IPADDR: an IPv4 or IPv6 address
	TypeIPNet                        // IPNET: compared with a CIDR network
	TypeRelTime                      // RELTIME: a duration in nanoseconds
	TypeAbsTime                      // ABSTIME: nanoseconds since the epoch
	TypeBytes                        // BYTEBUF: binary data
)

var typeNames = map[FieldType]string{
	TypeString: "CHARBUF", TypePath: "FSPATH", TypeInt64: "INT64", TypeUint64: "UINT64",
	TypeUint32: "UINT32", TypePort: "PORT", TypeBool: "BOOL", TypeIPAddr: "IPADDR",
	TypeIPNet: "IPNET", TypeRelTime: "RELTIME", TypeAbsTime: "ABSTIME", TypeBytes: "BYTEBUF",
}

// String returns Falco's name for the type.
func (t FieldType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("FieldType(%d)", t)
}

// Numeric reports whether values of the type compare as numbers.
func (t FieldType) Numeric() bool {
	switch t {
	case TypeInt64, TypeUint64, TypeUint32, TypePort, TypeRelTime, TypeAbsTime:
		return true
	}
	return false
}

// Stringy reports whether values of the type compare as strings.
func (t FieldType) Stringy() bool { return t == TypeString || t == TypePath }

// ArgKind says whether and how a field takes an argument in brackets.
type ArgKind uint8

// Argument kinds.
const (
	ArgNone          ArgKind = iota // the field takes no argument
	ArgIndexOptional                // proc.aname[2]; without it, any ancestor
	ArgKeyOptional                  // proc.env[HOME]; without it, the whole value
	ArgKeyRequired                  // k8s.pod.label[app]
	ArgIndexOrKey                   // evt.arg[0], evt.arg[name] and evt.arg.name
)

// Field describes one field of the catalog.
type Field struct {
	Name string    `json:"name"`
	Type FieldType `json:"-"`
	Arg  ArgKind   `json:"-"`
	// List fields hold several values at once (fd.types).
	List bool `json:"list,omitempty"`
	// Desc says what the field means, in Falco's sense.
	Desc string `json:"desc"`
}

// TakesArg reports whether the field accepts an argument.
func (f *Field) TakesArg() bool { return f.Arg != ArgNone }

// f is a short constructor used to keep the catalog table readable.
func f(name string, t FieldType, desc string) Field { return Field{Name: name, Type: t, Desc: desc} }

func fa(name string, t FieldType, arg ArgKind, desc string) Field {
	return Field{Name: name, Type: t, Arg: arg, Desc: desc}
}

// catalog lists every field Peregrine knows. It covers at least every field
// that the upstream Falco rule files use; types and meanings are Falco's.
var catalog = []Field{
	// evt.*
	f("evt.num", TypeUint64, "event number, increasing from 1"),
	f("evt.time", TypeString, "event timestamp as a string with nanoseconds"),
	f("evt.time.s", TypeString, "event timestamp as a string, seconds precision"),
	f("evt.time.iso8601", TypeString, "event timestamp in ISO 8601 with nanoseconds"),
	f("evt.datetime", TypeString, "event timestamp as date and time"),
	f("evt.rawtime", TypeAbsTime, "event timestamp, nanoseconds since the epoch"),
	f("evt.rawtime.s", TypeAbsTime, "integer part of the event timestamp in seconds"),
	f("evt.rawtime.ns", TypeAbsTime, "fractional part of the event timestamp in nanoseconds"),
	f("evt.reltime", TypeRelTime, "nanoseconds since the start of capture"),
	f("evt.latency", TypeRelTime, "nanoseconds between the enter and exit of the syscall"),
	f("evt.type", TypeString, "event type: the syscall name (open, execve...)"),
	f("evt.dir", TypeString, "event direction: > for enter, < for exit"),
	f("evt.category", TypeString, "event category (file, net, process...)"),
	f("evt.cpu", TypeInt64, "CPU number the event was captured on"),
	f("evt.hostname", TypeString, "name of the host the event was captured on"),
	f("evt.args", TypeString, "all arguments of the event as one string"),
	fa("evt.arg", TypeString, ArgIndexOrKey, "one event argument, by name (evt.arg.fd) or index (evt.arg[0]), as text"),
	fa("evt.rawarg", TypeInt64, ArgIndexOrKey, "one event argument by name, unformatted; compare with numbers"),
	f("evt.res", TypeString, "result: SUCCESS, or the errno name (ENOENT...) on failure"),
	f("evt.rawres", TypeInt64, "result as a number: negative errno on failure"),
	f("evt.failed", TypeBool, "true for events that returned an error"),
	f("evt.is_io", TypeBool, "true for events that read or write to an fd"),
	f("evt.is_io_read", TypeBool, "true for events that read from an fd"),
	f("evt.is_io_write", TypeBool, "true for events that write to an fd"),
	f("evt.is_wait", TypeBool, "true for events that make the thread wait"),
	f("evt.is_syslog", TypeBool, "true for writes to /dev/log"),
	f("evt.is_open_read", TypeBool, "true for open/openat/openat2/open_by_handle_at events whose flags include read access (O_RDONLY or O_RDWR); false for creat and other events"),
	f("evt.is_open_write", TypeBool, "true for open/openat/openat2/open_by_handle_at events whose flags include write access (O_WRONLY or O_RDWR); false for creat and other events"),
	f("evt.is_open_exec", TypeBool, "true for open events with O_CREAT or O_TMPFILE, and creat events, whose mode has an execute bit"),
	f("evt.is_open_create", TypeBool, "true for open events that created the file (O_F_CREATED, or O_TMPFILE and success); false for creat and other events"),
	f("evt.buffer", TypeBytes, "the binary data buffer of the event"),
	f("evt.buflen", TypeUint64, "length of the binary data buffer"),
	f("evt.count", TypeUint32, "1 for every event; used to count"),
	f("evt.source", TypeString, "the event source: syscall"),
	f("evt.plugininfo", TypeString, "summary of a plugin event"),

	// proc.*
	f("proc.pid", TypeInt64, "id of the process"),
	f("proc.exe", TypeString, "first command-line argument (argv[0]) of the process"),
	f("proc.name", TypeString, "name of the executable (comm, at most 15 characters in the kernel)"),
	f("proc.args", TypeString, "command-line arguments after argv[0], joined by spaces"),
	fa("proc.env", TypeString, ArgKeyOptional, "environment variables; with an argument, the value of that variable"),
	fa("proc.aenv", TypeString, ArgKeyOptional, "environment variable looked up in the process and its ancestors"),
	f("proc.cmdline", TypeString, "proc.name followed by proc.args"),
	f("proc.exeline", TypeString, "proc.exe followed by proc.args"),
	f("proc.cwd", TypeString, "current working directory"),
	f("proc.nthreads", TypeUint64, "number of threads the process has, including the main one"),
	f("proc.nchilds", TypeUint64, "number of threads that are not the main one"),
	f("proc.ppid", TypeInt64, "id of the parent process"),
	f("proc.pname", TypeString, "name of the parent process"),
	f("proc.pcmdline", TypeString, "command line of the parent process"),
	f("proc.pexe", TypeString, "argv[0] of the parent process"),
	f("proc.pexepath", TypeString, "full executable path of the parent process"),
	f("proc.ppid.duration", TypeRelTime, "nanoseconds since the parent process started"),
	fa("proc.apid", TypeInt64, ArgIndexOptional, "id of an ancestor: [0] the process itself, [1] its parent...; without an index, any ancestor"),
	fa("proc.aname", TypeString, ArgIndexOptional, "name of an ancestor: [0] the process itself, [1] its parent...; without an index, any ancestor"),
	fa("proc.aexe", TypeString, ArgIndexOptional, "argv[0] of an ancestor, indexed like proc.aname"),
	fa("proc.aexepath", TypeString, ArgIndexOptional, "executable path of an ancestor, indexed like proc.aname"),
	fa("proc.acmdline", TypeString, ArgIndexOptional, "command line of an ancestor, indexed like proc.aname"),
	f("proc.loginshellid", TypeInt64, "pid of the oldest shell among the process's ancestors"),
	f("proc.duration", TypeRelTime, "nanoseconds since the process started"),
	f("proc.fdopencount", TypeUint64, "number of open fds of the process"),
	f("proc.exepath", TypeString, "full path of the executable, resolved from /proc/PID/exe at exec"),
	f("proc.vpid", TypeInt64, "id of the process as seen from its own pid namespace"),
	f("proc.pvpid", TypeInt64, "id of the parent as seen from its own pid namespace"),
	f("proc.sid", TypeInt64, "session id of the process"),
	f("proc.sname", TypeString, "name of the session leader of the process"),
	f("proc.sid.exe", TypeString, "argv[0] of the session leader"),
	f("proc.sid.exepath", TypeString, "executable path of the session leader"),
	f("proc.vpgid", TypeInt64, "process group id as seen from its own pid namespace"),
	f("proc.vpgid.name", TypeString, "name of the process group leader"),
	f("proc.vpgid.exe", TypeString, "argv[0] of the process group leader"),
	f("proc.vpgid.exepath", TypeString, "executable path of the process group leader"),
	f("proc.tty", TypeUint32, "controlling terminal of the process; 0 when it has none"),
	f("proc.is_vpgid_leader", TypeBool, "true when the process leads its process group"),
	f("proc.is_sid_leader", TypeBool, "true when the process leads its session"),
	f("proc.is_exe_writable", TypeBool, "true when the process's executable file is writable by the user that ran it (as the kernel found at exec)"),
	f("proc.is_exe_upper_layer", TypeBool, "true when the executable lives in the upper layer of an overlay file system"),
	f("proc.is_exe_lower_layer", TypeBool, "true when the executable lives in the lower layer of an overlay file system"),
	f("proc.is_exe_from_memfd", TypeBool, "true when the executable is a memfd (fileless execution)"),
	f("proc.is_container_healthcheck", TypeBool, "true for a container health check process"),
	f("proc.is_container_liveness_probe", TypeBool, "true for a Kubernetes liveness probe"),
	f("proc.is_container_readiness_probe", TypeBool, "true for a Kubernetes readiness probe"),
	f("proc.exe_ino", TypeUint64, "inode number of the executable"),
	f("proc.exe_ino.ctime", TypeAbsTime, "last status change time of the executable file"),
	f("proc.exe_ino.mtime", TypeAbsTime, "last modification time of the executable file"),
	f("proc.exe_ino.ctime_duration_proc_start", TypeRelTime, "nanoseconds between the executable's ctime and the process start"),
	f("proc.exe_ino.ctime_duration_pidns_start", TypeRelTime, "nanoseconds between the pid namespace start and the executable's ctime"),
	f("proc.pidns_init_start_ts", TypeUint64, "start time of the init process of the pid namespace"),
	f("proc.stdin.type", TypeString, "type of the fd 0 of the process"),
	f("proc.stdout.type", TypeString, "type of the fd 1 of the process"),
	f("proc.stderr.type", TypeString, "type of the fd 2 of the process"),
	f("proc.stdin.name", TypeString, "name of the fd 0 of the process"),
	f("proc.stdout.name", TypeString, "name of the fd 1 of the process"),
	f("proc.stderr.name", TypeString, "name of the fd 2 of the process"),

	// thread.*
	f("thread.tid", TypeInt64, "id of the thread"),
	f("thread.vtid", TypeInt64, "id of the thread as seen from its own pid namespace"),
	f("thread.ismain", TypeBool, "true for the main thread of the process"),
	f("thread.cap_permitted", TypeString, "permitted capabilities, space-separated names (CAP_CHOWN ...)"),
	f("thread.cap_inheritable", TypeString, "inheritable capabilities, space-separated names"),
	f("thread.cap_effective", TypeString, "effective capabilities, space-separated names"),

	// user.* and group.*
	f("user.uid", TypeUint32, "user id"),
	f("user.name", TypeString, "user name"),
	f("user.homedir", TypeString, "home directory of the user"),
	f("user.shell", TypeString, "login shell of the user"),
	f("user.loginuid", TypeInt64, "audit login uid; -1 when the user never logged in"),
	f("user.loginname", TypeString, "name of the login user"),
	f("group.gid", TypeUint32, "group id"),
	f("group.name", TypeString, "group name"),

	// fd.*
	f("fd.num", TypeInt64, "number of the fd"),
	f("fd.type", TypeString, "type of the fd: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink, bpf, userfaultfd, io_uring, memfd, pidfd"),
	f("fd.typechar", TypeString, "type of the fd as one character: f file, d directory, 4 ipv4, 6 ipv6, u unix, p pipe, e event, s signalfd, l eventpoll, i inotify, t timerfd, n netlink, b bpf, u userfaultfd, r io_uring, m memfd, P pidfd"),
	f("fd.name", TypeString, "full name of the fd: the path of a file, the tuple of a socket"),
	f("fd.directory", TypeString, "directory of a file fd"),
	f("fd.filename", TypeString, "base name of a file fd"),
	f("fd.ip", TypeIPAddr, "client or server address of a socket (matches either)"),
	f("fd.cip", TypeIPAddr, "client address"),
	f("fd.sip", TypeIPAddr, "server address"),
	f("fd.lip", TypeIPAddr, "local address"),
	f("fd.rip", TypeIPAddr, "remote address"),
	f("fd.port", TypePort, "client or server port (matches either)"),
	f("fd.cport", TypePort, "client port"),
	f("fd.sport", TypePort, "server port"),
	f("fd.lport", TypePort, "local port"),
	f("fd.rport", TypePort, "remote port"),
	f("fd.l4proto", TypeString, "IP protocol of a socket: tcp, udp, icmp or raw"),
	f("fd.sockfamily", TypeString, "socket family: ip or unix"),
	f("fd.is_server", TypeBool, "true when the process owning the fd is the server end"),
	f("fd.uid", TypeString, "unique id of the fd: process id and fd number"),
	f("fd.containername", TypeString, "container id followed by the fd name"),
	f("fd.containerdirectory", TypeString, "container id followed by the directory name"),
	f("fd.proto", TypePort, "client or server protocol (matches either)"),
	f("fd.cproto", TypeString, "client protocol"),
	f("fd.sproto", TypeString, "server protocol"),
	f("fd.lproto", TypeString, "local protocol"),
	f("fd.rproto", TypeString, "remote protocol"),
	f("fd.net", TypeIPNet, "client or server network (matches either)"),
	f("fd.cnet", TypeIPNet, "client network"),
	f("fd.snet", TypeIPNet, "server network"),
	f("fd.lnet", TypeIPNet, "local network"),
	f("fd.rnet", TypeIPNet, "remote network"),
	f("fd.connected", TypeBool, "true when the socket is connected"),
	f("fd.name_changed", TypeBool, "true when the fd's name changed during this event (connect, bind...)"),
	f("fd.cip.name", TypeString, "domain name of the client address"),
	f("fd.sip.name", TypeString, "domain name of the server address"),
	f("fd.lip.name", TypeString, "domain name of the local address"),
	f("fd.rip.name", TypeString, "domain name of the remote address"),
	f("fd.dev", TypeUint32, "device number of the file"),
	f("fd.dev.major", TypeUint32, "major device number of the file"),
	f("fd.dev.minor", TypeUint32, "minor device number of the file"),
	f("fd.ino", TypeUint64, "inode number of the file"),
	f("fd.nameraw", TypeString, "name of the fd as the process gave it, before normalisation"),
	{Name: "fd.types", Type: TypeString, Arg: ArgKeyOptional, List: true, Desc: "types of all fds the process has open; with an argument, the type of that fd number"},

	// fs.path.*
	f("fs.path.name", TypeString, "path of the file a syscall acted on, normalised"),
	f("fs.path.nameraw", TypeString, "path of the file a syscall acted on, as given"),
	f("fs.path.source", TypeString, "source path of a link, rename or mount, normalised"),
	f("fs.path.sourceraw", TypeString, "source path, as given"),
	f("fs.path.target", TypeString, "target path of a link, rename or mount, normalised"),
	f("fs.path.targetraw", TypeString, "target path, as given"),

	// container.*: Host outside containers
	f("container.id", TypeString, "container id (12 characters); host for processes outside containers"),
	f("container.full_id", TypeString, "full container id; host for processes outside containers"),
	f("container.name", TypeString, "container name, from the container runtime; host outside containers"),
	f("container.image", TypeString, "container image name (repository:tag)"),
	f("container.image.id", TypeString, "container image id"),
	f("container.image.repository", TypeString, "repository of the container image"),
	f("container.image.tag", TypeString, "tag of the container image"),
	f("container.image.digest", TypeString, "digest of the container image"),
	f("container.type", TypeString, "container runtime: docker, containerd, cri-o, podman, host"),
	f("container.privileged", TypeBool, "true for a privileged container"),
	f("container.mounts", TypeString, "the container's mounts as source:dest:mode:rdrw:propagation, comma-separated (from the container runtime)"),
	fa("container.mount", TypeString, ArgKeyRequired, "a container mount, by index or source path"),
	fa("container.mount.source", TypeString, ArgKeyRequired, "mount source, by index or destination"),
	fa("container.mount.dest", TypeString, ArgKeyRequired, "mount destination, by index or source"),
	fa("container.mount.mode", TypeString, ArgKeyRequired, "mount mode, by index or source"),
	fa("container.mount.rdwr", TypeString, ArgKeyRequired, "mount read/write flag, by index or source"),
	fa("container.mount.propagation", TypeString, ArgKeyRequired, "mount propagation, by index or source"),
	f("container.start_ts", TypeAbsTime, "start of the container's first process (its pid namespace's init), nanoseconds since the epoch; the boot time on the host"),
	f("container.duration", TypeRelTime, "nanoseconds since the container started"),
	f("container.ip", TypeString, "container's primary IP address"),
	f("container.cni.json", TypeString, "container's CNI result, as JSON"),
	f("container.host_pid", TypeBool, "true when the container shares the host pid namespace"),
	f("container.host_network", TypeBool, "true when the container shares the host network namespace"),
	f("container.host_ipc", TypeBool, "true when the container shares the host IPC namespace"),
	fa("container.label", TypeString, ArgKeyRequired, "a container label, by key"),
	f("container.labels", TypeString, "the container's labels as key:value, sorted, joined by \", \" (io.kubernetes.* and annotation.* left out)"),
	f("container.healthcheck", TypeString, "the container's health check command"),
	f("container.liveness_probe", TypeString, "the container's liveness probe command"),
	f("container.readiness_probe", TypeString, "the container's readiness probe command"),

	// k8s.*
	f("k8s.ns.name", TypeString, "Kubernetes namespace of the pod"),
	f("k8s.pod.name", TypeString, "Kubernetes pod name"),
	f("k8s.pod.id", TypeString, "Kubernetes pod uid (legacy name)"),
	f("k8s.pod.uid", TypeString, "Kubernetes pod uid"),
	f("k8s.pod.sandbox_id", TypeString, "id of the pod's sandbox container"),
	f("k8s.pod.full_sandbox_id", TypeString, "full id of the pod's sandbox container"),
	fa("k8s.pod.label", TypeString, ArgKeyRequired, "a pod label, by key"),
	f("k8s.pod.labels", TypeString, "all pod labels, as key:value pairs"),
	f("k8s.pod.ip", TypeString, "pod IP address"),
	f("k8s.pod.cni.json", TypeString, "pod CNI result, as JSON"),
}

var catalogIndex = func() map[string]*Field {
	m := make(map[string]*Field, len(catalog))
	for i := range catalog {
		m[catalog[i].Name] = &catalog[i]
	}
	return m
}()

// LookupField returns the catalog entry for name, or nil when the catalog
// does not hold it.
func LookupField(name string) *Field { return catalogIndex[name] }

// Fields returns the whole catalog, sorted by name.
func Fields() []Field {
	out := append([]Field(nil), catalog...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SplitDottedArg splits a field written with its argument after a dot, as in
// evt.arg.flags, into the catalog field (evt.arg) and the argument (flags).
// It returns nil when no catalog field takes an argument that way.
func SplitDottedArg(name string) (*Field, string) {
	for i := strings.LastIndexByte(name, '.'); i > 0; i = strings.LastIndexByte(name[:i], '.') {
		if fld := catalogIndex[name[:i]]; fld != nil && fld.Arg == ArgIndexOrKey {
			return fld, name[i+1:]
		}
	}
	return nil, ""
}

// Host is what the container fields (container.id, .full_id, .name, .type)
// hold for a process outside containers, as Falco's container plugin gives
// them.
const Host = "host"
