package runtime_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/policy"
	"github.com/peregrine-sec/peregrine/runtime"
	"golang.org/x/sys/unix"
)

// The evasions battery: what an attacker does to walk around a rule,
// performed for real while four engines run (the default rules and
// Falco's upstream rules, each with the kernel filter and without it, as
// --no-kernel-filter runs). Every attack must raise the alerts it names in
// both modes, none of those it forbids, and the two modes must raise the
// same alerts for everything the battery does.

// ruleset names an engine's rules.
type ruleset string

const (
	defaultSet  ruleset = "default"
	upstreamSet ruleset = "upstream" // falco_rules.yaml and falco-incubating_rules.yaml
	customSet   ruleset = "custom"   // agreementRules
)

// agreementRules are rules on fields the kernel filter and userspace must
// derive alike: a disagreement drops, in the kernel, events they match.
const agreementRules = `
- rule: Creat is no open for writing
  desc: Falco's evt.is_open_write is false for creat (it is no open by flags)
  condition: evt.type = creat and evt.is_open_write = false and fd.name startswith /tmp/peregrine-agreement-
  output: "creat %fd.name"
  priority: notice
- rule: Open with O_RDONLY in its flags
  desc: Falco's evt.arg.flags says O_RDONLY for access mode 0 and 3 and for O_PATH
  condition: evt.type in (open, openat) and evt.arg.flags contains O_RDONLY and fd.name startswith /tmp/peregrine-agreement-
  output: "open %fd.name %evt.arg.flags"
  priority: notice
- rule: Open without O_RDONLY in its flags
  desc: the complement, which the kernel must not pass for read-only opens
  condition: evt.type in (open, openat) and not evt.arg.flags contains O_RDONLY and fd.name startswith /tmp/peregrine-agreement-
  output: "open %fd.name %evt.arg.flags"
  priority: notice
`

// want is an alert an attack must (or must not) raise: a rule of one
// ruleset and fields the alert carries. In field values "{pid}" stands for
// the pid of the attack's process; a field named "ancestor" is satisfied
// when that pid is the alert's process or one of its ancestors.
type want struct {
	set    ruleset
	rule   string
	fields map[string]string
}

// attack is one way to do what a rule forbids. run performs it and
// returns the process it started.
type attack struct {
	name string
	run  func(t *testing.T, a *arena) *exec.Cmd
	want []want
	none []want
}

// arena holds what the attacks share: a scratch directory, programs
// built for them, and a listener for the network ones.
type arena struct {
	dir      string
	httpd    string // this test binary under the name httpd
	nginx    string // and nginx
	port     int    // a TCP listener on 127.0.0.1
	progs    map[string]string
	progsMu  sync.Mutex
	suffix   string // makes the paths of this run unique
	cleanups []func()
}

func (a *arena) path(name string) string { return filepath.Join(a.dir, name) }

// prog32 builds p as a 32-bit (bits 32) or int $0x80 64-bit ELF named name.
func (a *arena) prog(t *testing.T, name string, bits int, p *prog32) string {
	t.Helper()
	requireIA32(t)
	a.progsMu.Lock()
	defer a.progsMu.Unlock()
	key := fmt.Sprintf("%s/%d", name, bits)
	if bin, ok := a.progs[key]; ok {
		return bin
	}
	dir := filepath.Join(a.dir, "bin", strconv.Itoa(bits), strconv.Itoa(len(a.progs)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := asmProgram(t, dir, name, bits, p.text())
	a.progs[key] = bin
	return bin
}

// runCmd runs cmd to its end and returns it.
func runCmd(t *testing.T, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	run(t, cmd)
	if cmd.Process == nil {
		t.Errorf("%s did not start", strings.Join(cmd.Args, " "))
	}
	return cmd
}

// as runs this test binary as helper h under the program name of path
// (a link to it), so that the process's name is path's base name.
func as(path, h string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "PEREGRINE_TEST_HELPER="+h)
	return cmd
}

// open32 opens path through the ia32 open syscall.
func open32(path string) *prog32 {
	return (&prog32{}).str("p", path).call(ia32Open, "$p", "$0").exit()
}

// forkExec32 forks; the child execs path with argv (path, args...) and the
// parent waits for it. Through the ia32 ABI.
func forkExec32(path string, args ...string) *prog32 {
	p := (&prog32{}).str("p", path)
	av := []string{"p"}
	for i, s := range args {
		l := fmt.Sprintf("a%d", i)
		p.str(l, s)
		av = append(av, l)
	}
	p.words("argv", append(av, "0")...)
	p.call(2) // fork
	p.ins("testl %eax, %eax", "jnz 1f")
	p.call(ia32Execve, "$p", "$argv", "$0")
	p.call(ia32Exit, "$1")
	p.ins("1:")
	p.call(7, "$-1", "$0", "$0") // waitpid(-1, NULL, 0)
	return p.exit()
}

// connectDup32 connects a TCP socket to 127.0.0.1:port and duplicates it
// onto standard output, through socketcall (viaSocketcall) or the direct
// ia32 socket syscalls.
func connectDup32(port int, viaSocketcall bool) *prog32 {
	p := &prog32{}
	// struct sockaddr_in: family, port (network order), 127.0.0.1.
	p.data = append(p.data, fmt.Sprintf("sa: .short 2\n .byte %d, %d\n .byte 127, 0, 0, 1\n .long 0, 0", port>>8, port&0xff))
	if viaSocketcall {
		p.words("sargs", "2", "1", "0")
		p.words("cargs", "0", "sa", "16")
		p.call(ia32Socketcall, "$1", "$sargs")
		p.ins("movl %eax, cargs")
		p.ins("movl %eax, %edi") // keep the fd
		p.call(ia32Socketcall, "$3", "$cargs")
	} else {
		p.call(359, "$2", "$1", "$0") // socket
		p.ins("movl %eax, %edi")
		p.call(362, "%edi", "$sa", "$16") // connect
	}
	p.call(ia32Dup2, "%edi", "$1")
	return p.exit()
}

// memfdExec32 copies /bin/true into a memfd and executes it with
// execveat(memfd, "", argv, NULL, AT_EMPTY_PATH), through the ia32 ABI.
func memfdExec32() *prog32 {
	p := (&prog32{}).str("src", "/bin/true").str("name", "peregrine-fexecve32").str("empty", "").words("argv", "name", "0")
	p.call(ia32MemfdCreate, "$name", "$0")
	p.ins("movl %eax, %esi") // the memfd, kept in esi until the loop needs it
	p.ins("pushl %esi")
	p.call(ia32Open, "$src", "$0")
	p.ins("movl %eax, %edi", "popl %esi")
	p.ins("2:")
	p.ins("pushl %esi")
	p.call(ia32Read, "%edi", "$buf", "$65536")
	p.ins("popl %esi", "testl %eax, %eax", "jle 3f", "movl %eax, %edx")
	p.ins("pushl %esi")
	p.call(ia32Write, "%esi", "$buf", "%edx")
	p.ins("popl %esi", "jmp 2b", "3:")
	p.call(ia32Execveat, "%esi", "$empty", "$argv", "$0", "$0x1000") // AT_EMPTY_PATH
	p.call(ia32Exit, "$1")
	return p
}

func attacks(a *arena) []attack {
	shadow := "/etc/shadow"
	cred := func(fields map[string]string) []want {
		return []want{
			{defaultSet, "Credential file read by untrusted program", fields},
			{upstreamSet, "Read sensitive file untrusted", fields},
		}
	}
	pid := map[string]string{"proc.pid": "{pid}", "fd.name": shadow}
	child := map[string]string{"proc.ppid": "{pid}"}
	logName := func(tag string) string { return "/var/log/peregrine-evasion-" + tag + "-" + a.suffix }
	etcName := func(tag string) string { return "/etc/peregrine-evasion-" + tag + "-" + a.suffix }
	cleanup := func(paths ...string) {
		a.cleanups = append(a.cleanups, func() {
			for _, p := range paths {
				os.RemoveAll(p)
			}
		})
	}
	agreeName := func(tag string) string {
		p := "/tmp/peregrine-agreement-" + tag + "-" + a.suffix
		cleanup(p)
		return p
	}
	shmBin := func(tag string) string {
		p := "/dev/shm/peregrine-evasion-" + tag + "-" + a.suffix
		cleanup(p)
		return p
	}
	return []attack{
		// 1. exec through execveat.
		{name: "case1/execveat of a memfd (fexecve)", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("execveat-memfd", "/bin/true", "true"))
		}, want: []want{
			{defaultSet, "Fileless execution from memfd", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Fileless execution via memfd_create", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "case1/execveat AT_EMPTY_PATH of a shell under httpd", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, as(a.httpd, "spawn", "execveat-empty", "/bin/sh", "sh", "-c", "exit 0"))
		}, want: []want{
			{defaultSet, "Shell spawned by network server", map[string]string{"proc.ppid": "{pid}", "proc.pname": "httpd"}},
			{upstreamSet, "Run shell untrusted", map[string]string{"proc.ppid": "{pid}", "proc.pname": "httpd"}},
		}},
		{name: "variant/execveat of a shell by dirfd under httpd", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, as(a.httpd, "spawn", "execveat-dirfd", "/bin", "sh", "sh", "-c", "exit 0"))
		}, want: []want{
			{defaultSet, "Shell spawned by network server", map[string]string{"proc.ppid": "{pid}", "proc.name": "sh"}},
			{upstreamSet, "Run shell untrusted", map[string]string{"proc.ppid": "{pid}", "proc.name": "sh"}},
		}},
		{name: "variant/exec of a memfd through /proc/self/fd", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("memfd-exec", "/bin/true"))
		}, want: []want{
			{defaultSet, "Fileless execution from memfd", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Fileless execution via memfd_create", map[string]string{"proc.pid": "{pid}"}},
		}},

		// 2. 32-bit syscalls.
		{name: "case2/i386 ELF opens /etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command(a.prog(t, "peek32", 32, open32(shadow))))
		}, want: cred(pid)},
		{name: "case2/int 0x80 from a 64-bit process opens /etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command(a.prog(t, "peek80", 64, open32(shadow))))
		}, want: cred(pid)},
		{name: "case2/i386 httpd execs a shell", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command(a.prog(t, "httpd", 32, forkExec32("/bin/sh", "-c", "exit 0"))))
		}, want: []want{
			{defaultSet, "Shell spawned by network server", map[string]string{"proc.ppid": "{pid}", "proc.pname": "httpd"}},
			{upstreamSet, "Run shell untrusted", map[string]string{"proc.ppid": "{pid}", "proc.pname": "httpd"}},
		}},
		{name: "case2/i386 ELF runs from /dev/shm", run: func(t *testing.T, a *arena) *exec.Cmd {
			bin := shmBin("elf32")
			copyFile(t, a.prog(t, "noop32", 32, (&prog32{}).exit()), bin, 0o755)
			return runCmd(t, exec.Command(bin))
		}, want: []want{
			{defaultSet, "Program run from temporary directory", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Execution from /dev/shm", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "case2/i386 rt_sigprocmask is not init_module", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command(a.prog(t, "sigmask32", 32, (&prog32{}).call(ia32SigProcMask, "$0", "$0", "$0", "$8").exit())))
		}, none: []want{
			{defaultSet, "Kernel module loaded", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Linux Kernel Module Injection Detected", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "variant/i386 openat of /etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command(a.prog(t, "peekat32", 32, (&prog32{}).str("p", shadow).call(ia32Openat, "$-100", "$p", "$0").exit())))
		}, want: cred(pid)},
		{name: "variant/i386 relative open after chdir /etc", run: func(t *testing.T, a *arena) *exec.Cmd {
			p := (&prog32{}).str("d", "/etc").str("p", "shadow").call(12, "$d").call(ia32Open, "$p", "$0").exit()
			return runCmd(t, exec.Command(a.prog(t, "peekrel32", 32, p)))
		}, want: cred(pid)},
		{name: "variant/i386 symlink to /etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			link := a.path("link32-" + a.suffix)
			return runCmd(t, exec.Command(a.prog(t, "link32", 32, (&prog32{}).str("t", shadow).str("l", link).call(ia32Symlink, "$t", "$l").exit())))
		}, want: []want{
			{defaultSet, "Link created to sensitive file", map[string]string{"proc.pid": "{pid}", "evt.arg.target": shadow}},
			{upstreamSet, "Create Symlink Over Sensitive Files", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "variant/int 0x80 symlink to /etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			link := a.path("link80-" + a.suffix)
			return runCmd(t, exec.Command(a.prog(t, "link80", 64, (&prog32{}).str("t", shadow).str("l", link).call(ia32Symlink, "$t", "$l").exit())))
		}, want: []want{
			{defaultSet, "Link created to sensitive file", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Create Symlink Over Sensitive Files", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "variant/i386 creat below /etc", run: func(t *testing.T, a *arena) *exec.Cmd {
			f := etcName("creat32")
			cleanup(f)
			return runCmd(t, exec.Command(a.prog(t, "creat32", 32, (&prog32{}).str("p", f).call(ia32Creat, "$p", "$0644").exit())))
		}, want: []want{{defaultSet, "Write below etc", map[string]string{"proc.pid": "{pid}"}}}},
		{name: "variant/int 0x80 creat below /etc", run: func(t *testing.T, a *arena) *exec.Cmd {
			f := etcName("creat80")
			cleanup(f)
			return runCmd(t, exec.Command(a.prog(t, "creat80", 64, (&prog32{}).str("p", f).call(ia32Creat, "$p", "$0644").exit())))
		}, want: []want{{defaultSet, "Write below etc", map[string]string{"proc.pid": "{pid}"}}}},
		{name: "variant/i386 creat truncates a log", run: func(t *testing.T, a *arena) *exec.Cmd {
			f := logName("creat32")
			cleanup(f)
			return runCmd(t, exec.Command(a.prog(t, "logcreat32", 32, (&prog32{}).str("p", f).call(ia32Creat, "$p", "$0644").exit())))
		}, want: []want{{defaultSet, "Log file cleared", map[string]string{"proc.pid": "{pid}"}}}},
		{name: "variant/i386 unlink of a log", run: func(t *testing.T, a *arena) *exec.Cmd {
			f := logName("unlink32")
			writeFile(t, f, "x")
			cleanup(f)
			return runCmd(t, exec.Command(a.prog(t, "logrm32", 32, (&prog32{}).str("p", f).call(ia32Unlink, "$p").exit())))
		}, want: []want{{defaultSet, "Log file cleared", map[string]string{"proc.pid": "{pid}", "evt.type": "unlink"}}}},
		{name: "variant/i386 socketcall connect dups a socket onto stdout", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command(a.prog(t, "sockcall32", 32, connectDup32(a.port, true))))
		}, want: []want{{defaultSet, "Standard stream redirected to network socket", map[string]string{"proc.pid": "{pid}", "evt.rawres": "1"}}}},
		{name: "variant/i386 socket syscalls dup a socket onto stdout", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command(a.prog(t, "sock32", 32, connectDup32(a.port, false))))
		}, want: []want{{defaultSet, "Standard stream redirected to network socket", map[string]string{"proc.pid": "{pid}", "fd.rport": strconv.Itoa(a.port)}}}},
		{name: "variant/i386 PTRACE_TRACEME", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command(a.prog(t, "traceme32", 32, (&prog32{}).call(ia32Ptrace, "$0", "$0", "$0", "$0").exit())))
		}, want: []want{
			{defaultSet, "Anti-debugging with PTRACE_TRACEME", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "PTRACE anti-debug attempt", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "variant/int 0x80 PTRACE_TRACEME", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command(a.prog(t, "traceme80", 64, (&prog32{}).call(ia32Ptrace, "$0", "$0", "$0", "$0").exit())))
		}, want: []want{
			{defaultSet, "Anti-debugging with PTRACE_TRACEME", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "PTRACE anti-debug attempt", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "variant/i386 unshare(CLONE_NEWUSER)", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command(a.prog(t, "userns32", 32, (&prog32{}).call(ia32Unshare, "$0x10000000").exit())))
		}, want: []want{{defaultSet, "User namespace created by non-runtime process", map[string]string{"proc.pid": "{pid}"}}}},
		{name: "variant/i386 chmod sets the setuid bit", run: func(t *testing.T, a *arena) *exec.Cmd {
			f := a.path("suid32-" + a.suffix)
			writeFile(t, f, "x")
			return runCmd(t, exec.Command(a.prog(t, "suid32", 32, (&prog32{}).str("p", f).call(ia32Chmod, "$p", "$04755").exit())))
		}, want: []want{
			{defaultSet, "Setuid or setgid bit set on file", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Set Setuid or Setgid bit", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "variant/i386 execveat of a memfd", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command(a.prog(t, "fexec32", 32, memfdExec32())))
		}, want: []want{
			{defaultSet, "Fileless execution from memfd", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Fileless execution via memfd_create", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "variant/i386 nginx execs a shell", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command(a.prog(t, "nginx", 32, forkExec32("/bin/sh", "-c", "exit 0"))))
		}, want: []want{
			{defaultSet, "Shell spawned by network server", map[string]string{"proc.ppid": "{pid}", "proc.pname": "nginx"}},
			{upstreamSet, "Run shell untrusted", map[string]string{"proc.ppid": "{pid}", "proc.pname": "nginx"}},
		}},

		// 3. Names taken at exec, not the live comm.
		{name: "case3/prctl(PR_SET_NAME, sshd) then reads /etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("rename-open", "sshd", shadow))
		}, want: cred(map[string]string{"proc.pid": "{pid}", "proc.name": "runtime.test"})},
		{name: "case3/prctl(PR_SET_NAME, sudo) then reads /etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("rename-open", "sudo", shadow))
		}, want: cred(pid)},
		{name: "case3/write to /proc/thread-self/comm then reads /etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("commwrite-open", "sshd", shadow))
		}, want: cred(pid)},
		{name: "case3/a renamed thread reads /etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("thread-rename-open", "sshd", shadow))
		}, want: cred(pid)},
		{name: "case3/parent renamed bash, directory traversal read", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("rename-spawn", "bash", "open", "/tmp/../../etc/shadow"))
		}, want: []want{{upstreamSet, "Directory traversal monitored file read", map[string]string{"proc.ppid": "{pid}", "fd.name": shadow}}}},
		{name: "case3/parent renamed gdb, PTRACE_TRACEME", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("rename-spawn", "gdb", "ptrace-traceme"))
		}, want: []want{{defaultSet, "Anti-debugging with PTRACE_TRACEME", child}}},
		{name: "variant/write to /proc/thread-self/comm sudo", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("commwrite-open", "sudo", shadow))
		}, want: cred(pid)},
		{name: "variant/renamed thread sudo", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("thread-rename-open", "sudo", shadow))
		}, want: cred(pid)},
		{name: "variant/prctl(PR_SET_NAME, login)", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("rename-open", "login", shadow))
		}, want: cred(pid)},
		{name: "variant/a process renamed nginx is not nginx", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("rename-spawn", "nginx", "spawn", "execveat-empty", "/bin/sh", "sh", "-c", "exit 0"))
		}, none: []want{{defaultSet, "Shell spawned by network server", map[string]string{"ancestor": "{pid}"}}}},

		// 4. A working directory of /.
		{name: "case4/(cd / && cat etc/shadow)", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command("/bin/sh", "-c", "cd /tmp && (cd / && cat etc/shadow > /dev/null); true"))
		}, want: cred(map[string]string{"ancestor": "{pid}", "proc.name": "cat", "fd.name": shadow})},
		{name: "case4/a daemon's chdir(\"/\") then etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("chdir-open", "/", "etc/shadow"))
		}, want: cred(pid)},
		{name: "variant/relative shadow from /etc", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("chdir-open", "/etc", "shadow"))
		}, want: cred(pid)},
		{name: "variant/relative ./etc/../etc/shadow from /", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("chdir-open", "/", "./etc/../etc/shadow"))
		}, want: cred(pid)},

		// 5. Paths of more than 32 components.
		{name: "case5/relative O_TRUNC of a log 40 directories deep", run: func(t *testing.T, a *arena) *exec.Cmd {
			base := logName("deep")
			if err := os.MkdirAll(base, 0o755); err != nil {
				t.Fatal(err)
			}
			cleanup(base)
			return runCmd(t, helper("deep", base, "40", "trunc", "x.log"))
		}, want: []want{{defaultSet, "Log file cleared", map[string]string{"proc.pid": "{pid}",
			"fd.name": logName("deep") + strings.Repeat("/d", 40) + "/x.log"}}}},
		{name: "case5/./x from a directory 40 deep under /dev/shm", run: func(t *testing.T, a *arena) *exec.Cmd {
			base := shmBin("deep")
			if err := os.MkdirAll(base, 0o755); err != nil {
				t.Fatal(err)
			}
			return runCmd(t, helper("deep", base, "40", "exec", "x"))
		}, want: []want{
			{defaultSet, "Program run from temporary directory", map[string]string{"proc.pid": "{pid}",
				"proc.exepath": shmBin("deep") + strings.Repeat("/d", 40) + "/x"}},
			{upstreamSet, "Execution from /dev/shm", map[string]string{"proc.pid": "{pid}"}},
		}},

		// 6. The path read at the syscall's exit.
		{name: "case6/path rewritten while the open waits on a lease", run: func(t *testing.T, a *arena) *exec.Cmd {
			decoy := a.path("decoy")
			writeFile(t, decoy, "")
			// The test process (which the capture ignores) holds the lease.
			lfd, err := unix.Open(shadow, unix.O_RDONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(lfd)
			if _, err := unix.FcntlInt(uintptr(lfd), unix.F_SETLEASE, unix.F_WRLCK); err != nil {
				t.Fatalf("F_SETLEASE: %v", err)
			}
			cmd := helper("lease-open", shadow, decoy)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			if line != "rewritten\n" {
				t.Errorf("lease-open said %q", line)
			}
			if _, err := unix.FcntlInt(uintptr(lfd), unix.F_SETLEASE, unix.F_UNLCK); err != nil {
				t.Errorf("F_UNLCK: %v", err)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("lease-open: %v", err)
			}
			return cmd
		}, want: cred(pid)},

		// 7. Arguments rendered as Falco renders them.
		{name: "case7/chmod u+s", run: func(t *testing.T, a *arena) *exec.Cmd {
			f := a.path("suid-" + a.suffix)
			writeFile(t, f, "x")
			return runCmd(t, exec.Command("chmod", "u+s", f))
		}, want: []want{
			{defaultSet, "Setuid or setgid bit set on file", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Set Setuid or Setgid bit", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "variant/chmod g+s", run: func(t *testing.T, a *arena) *exec.Cmd {
			f := a.path("sgid-" + a.suffix)
			writeFile(t, f, "x")
			return runCmd(t, exec.Command("chmod", "g+s", f))
		}, want: []want{
			{defaultSet, "Setuid or setgid bit set on file", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Set Setuid or Setgid bit", map[string]string{"proc.pid": "{pid}"}},
		}},

		// 8. An empty parent name.
		{name: "case8/httpd renamed to the empty name spawns a shell", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, as(a.httpd, "rename-spawn", "", "spawn", "execveat-empty", "/bin/sh", "sh", "-c", "exit 0"))
		}, want: []want{{defaultSet, "Shell spawned by network server", map[string]string{"ancestor": "{pid}", "proc.pname": "httpd"}}}},

		// 9. A process that joins a container's cgroups after its fork.
		{name: "case9/joins a container's cgroups as runc does, then reads /etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			id := containerID(a)
			procs := containerCgroups(t, a, "machine.slice/libpod-"+id+".scope")
			var join strings.Builder
			for _, p := range procs {
				fmt.Fprintf(&join, "echo $$ > %s && ", p)
			}
			return runCmd(t, exec.Command("/bin/sh", "-c", join.String()+"exec cat /etc/shadow"))
		}, want: cred(map[string]string{"proc.pid": "{pid}", "fd.name": shadow,
			"container.id": containerID(a)[:12]})},

		// 11. creat.
		{name: "case11/creat below /etc", run: func(t *testing.T, a *arena) *exec.Cmd {
			f := etcName("creat")
			cleanup(f)
			return runCmd(t, helper("creat", f))
		}, want: []want{{defaultSet, "Write below etc", map[string]string{"proc.pid": "{pid}", "evt.type": "creat"}}}},

		{name: "case11/creat, which is no open for writing", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("creat", agreeName("creat")))
		}, want: []want{{customSet, "Creat is no open for writing", map[string]string{"proc.pid": "{pid}"}}}},
		{name: "case7/an O_PATH open says O_RDONLY", run: func(t *testing.T, a *arena) *exec.Cmd {
			f := agreeName("opath")
			writeFile(t, f, "")
			return runCmd(t, helper("open", f, "path"))
		}, want: []want{{customSet, "Open with O_RDONLY in its flags", map[string]string{"proc.pid": "{pid}"}}},
			none: []want{{customSet, "Open without O_RDONLY in its flags", map[string]string{"proc.pid": "{pid}"}}}},
		{name: "case7/access mode 3 says O_RDONLY", run: func(t *testing.T, a *arena) *exec.Cmd {
			f := agreeName("accmode3")
			writeFile(t, f, "")
			return runCmd(t, helper("open", f, "accmode3"))
		}, want: []want{{customSet, "Open with O_RDONLY in its flags", map[string]string{"proc.pid": "{pid}"}}},
			none: []want{{customSet, "Open without O_RDONLY in its flags", map[string]string{"proc.pid": "{pid}"}}}},
		{name: "variant/a write-only open has no O_RDONLY", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, helper("open", agreeName("wronly"), "trunc"))
		}, want: []want{{customSet, "Open without O_RDONLY in its flags", map[string]string{"proc.pid": "{pid}"}}},
			none: []want{{customSet, "Open with O_RDONLY in its flags", map[string]string{"proc.pid": "{pid}"}}}},

		// 12. Fields Falco fills that Peregrine did not.
		{name: "case12/GLIBC_TUNABLES in the environment", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command("env", "GLIBC_TUNABLES=glibc.malloc.mxfast=0", "/bin/true"))
		}, want: []want{{upstreamSet, "Potential Local Privilege Escalation via Environment Variables Misuse", map[string]string{"proc.pid": "{pid}"}}}},
		{name: "case12/curl with HTTP_PROXY in the environment", run: func(t *testing.T, a *arena) *exec.Cmd {
			curl := filepath.Join(a.dir, "names", "curl")
			copyFile(t, "/bin/true", curl, 0o755)
			cmd := exec.Command(curl, "http://127.0.0.1:9/")
			cmd.Env = append(os.Environ(), "HTTP_PROXY=http://127.0.0.1:9")
			return runCmd(t, cmd)
		}, want: []want{{upstreamSet, "Program run with disallowed http proxy env", map[string]string{"proc.pid": "{pid}"}}}},

		// Others, of the same classes.
		{name: "variant/symlink to /etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command("ln", "-s", shadow, a.path("ln-s-"+a.suffix)))
		}, want: []want{
			{defaultSet, "Link created to sensitive file", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Create Symlink Over Sensitive Files", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "variant/hard link to /etc/shadow", run: func(t *testing.T, a *arena) *exec.Cmd {
			return runCmd(t, exec.Command("ln", shadow, a.path("ln-"+a.suffix)))
		}, want: []want{
			{defaultSet, "Link created to sensitive file", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Create Hardlink Over Sensitive Files", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "variant/64-bit program runs from /dev/shm", run: func(t *testing.T, a *arena) *exec.Cmd {
			bin := shmBin("true")
			copyFile(t, "/bin/true", bin, 0o755)
			return runCmd(t, exec.Command(bin))
		}, want: []want{
			{defaultSet, "Program run from temporary directory", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Execution from /dev/shm", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "variant/log truncated by a shell redirection", run: func(t *testing.T, a *arena) *exec.Cmd {
			f := logName("redirect")
			writeFile(t, f, "x")
			cleanup(f)
			return runCmd(t, exec.Command("/bin/sh", "-c", ": > "+f))
		}, want: []want{
			{defaultSet, "Log file cleared", map[string]string{"proc.pid": "{pid}"}},
			{upstreamSet, "Clear Log Activities", map[string]string{"proc.pid": "{pid}"}},
		}},
		{name: "variant/relative credential read from 40 directories deep", run: func(t *testing.T, a *arena) *exec.Cmd {
			base := a.path("deepread")
			if err := os.MkdirAll(base, 0o755); err != nil {
				t.Fatal(err)
			}
			up := strings.Repeat("../", 40+strings.Count(base, "/"))
			return runCmd(t, helper("deep", base, "40", "read", up+"etc/shadow"))
		}, want: cred(pid)},
		{name: "variant/write below a binary directory", run: func(t *testing.T, a *arena) *exec.Cmd {
			f := "/usr/local/bin/peregrine-evasion-" + a.suffix
			cleanup(f)
			return runCmd(t, helper("open", f, "trunc"))
		}, want: []want{{defaultSet, "Write below binary directory", map[string]string{"proc.pid": "{pid}"}}}},
	}
}

// copyFile copies src to dst with mode.
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// upstreamRules loads falco_rules.yaml and falco-incubating_rules.yaml.
func upstreamRules(t *testing.T) *policy.Ruleset {
	t.Helper()
	dir := filepath.Dir(upstreamRulesPath)
	if _, err := os.Stat(upstreamRulesPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("upstream rules needed in CI: %v", err)
		}
		t.Skipf("upstream rules absent: %v", err)
	}
	res := falcocompat.LoadPaths(upstreamRulesPath, filepath.Join(dir, "falco-incubating_rules.yaml"))
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return res.Ruleset
}

// modes are the engines' two ways of running.
var modes = []struct {
	name     string
	noFilter bool
}{{"kernel filter", false}, {"no kernel filter", true}}

// matches reports whether alert al satisfies w for the attack process pid.
func (w want) matches(al runtime.Alert, pid int) bool {
	if al.Rule.Name != w.rule {
		return false
	}
	for k, v := range w.fields {
		v = strings.ReplaceAll(v, "{pid}", strconv.Itoa(pid))
		if k == "ancestor" {
			if !slicesContains(lineage(al), v) {
				return false
			}
			continue
		}
		if field(al, k) != v {
			return false
		}
	}
	return true
}

// lineage is the pids of an alert's process and its ancestors.
func lineage(al runtime.Alert) []string {
	return append([]string{field(al, "proc.pid")}, strings.Fields(field(al, "proc.apid"))...)
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestEvasions(t *testing.T) {
	requireRoot(t)
	sets := map[ruleset]*policy.Ruleset{defaultSet: defaultRules(t), upstreamSet: upstreamRules(t),
		customSet: loadRules(t, "agreement.yaml", []byte(agreementRules))}
	engines := map[ruleset][2]*liveEngine{}
	for set, rs := range sets {
		var pair [2]*liveEngine
		for i, m := range modes {
			pair[i] = startLive(t, rs, runtime.LiveOptions{NoKernelFilter: m.noFilter, RingBufferSize: 64 << 20})
		}
		engines[set] = pair
	}

	a := &arena{dir: t.TempDir(), progs: map[string]string{}, suffix: strconv.Itoa(os.Getpid())}
	defer func() {
		for i := len(a.cleanups) - 1; i >= 0; i-- { // inner directories first
			a.cleanups[i]()
		}
	}()
	for _, name := range []string{"httpd", "nginx"} {
		link := filepath.Join(a.dir, "names", name)
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink(os.Args[0], link); err != nil {
			t.Fatal(err)
		}
		if name == "httpd" {
			a.httpd = link
		} else {
			a.nginx = link
		}
	}
	a.port = loopbackListener(t)

	type done struct {
		at  attack
		pid int
	}
	var ran []done
	for _, at := range attacks(a) {
		// Each attack runs in a subtest of its own, so that one the
		// kernel cannot run (32-bit programs without ia32 emulation) is
		// skipped alone.
		t.Run("run/"+at.name, func(t *testing.T) {
			if cmd := at.run(t, a); cmd != nil && cmd.Process != nil {
				ran = append(ran, done{at, cmd.Process.Pid})
			}
		})
	}

	// Every alert each attack must raise, in both modes.
	deadline := time.Now().Add(15 * time.Second)
	for _, d := range ran {
		d := d
		t.Run(d.at.name, func(t *testing.T) {
			for _, w := range d.at.want {
				for i, m := range modes {
					le := engines[w.set][i]
					if !le.waitUntil(deadline, func(al runtime.Alert) bool { return w.matches(al, d.pid) }) {
						t.Errorf("%s (%s rules, %s): no alert %q %v for pid %d", d.at.name, w.set, m.name, w.rule, w.fields, d.pid)
					}
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond) // the stragglers of every mode
	for _, d := range ran {
		for _, w := range d.at.none {
			for i, m := range modes {
				if engines[w.set][i].has(func(al runtime.Alert) bool { return w.matches(al, d.pid) }) {
					t.Errorf("%s (%s rules, %s): alert %q for pid %d, want none", d.at.name, w.set, m.name, w.rule, d.pid)
				}
			}
		}
	}

	// The differential: both modes raise the same alerts for what the
	// battery did.
	pids := map[string]bool{}
	for _, d := range ran {
		pids[strconv.Itoa(d.pid)] = true
	}
	for set, pair := range engines {
		var got [2][]string
		for i, le := range pair {
			le.mu.Lock()
			for _, al := range le.alerts {
				mine := false
				for _, p := range lineage(al) {
					mine = mine || pids[p]
				}
				if mine {
					got[i] = append(got[i], fmt.Sprintf("%s | pid=%s name=%s type=%s fd=%s", al.Rule.Name, field(al, "proc.pid"),
						field(al, "proc.name"), field(al, "evt.type"), field(al, "fd.name")))
				}
			}
			le.mu.Unlock()
			sort.Strings(got[i])
		}
		if strings.Join(got[0], "\n") != strings.Join(got[1], "\n") {
			t.Errorf("%s rules: the modes differ\nwith the kernel filter:\n%s\nwithout:\n%s", set,
				strings.Join(got[0], "\n"), strings.Join(got[1], "\n"))
		}
		t.Logf("%s rules: %d alerts for the battery's %d attacks in each mode", set, len(got[0]), len(ran))
	}
}

// containerCgroups makes cgroup rel (a container's, as a runtime names
// it) in every hierarchy mounted under /sys/fs/cgroup, as runc does, and
// returns their cgroup.procs files; the cgroups go when the test ends.
func containerCgroups(t *testing.T, a *arena, rel string) []string {
	t.Helper()
	roots, err := filepath.Glob("/sys/fs/cgroup/*")
	if err != nil {
		t.Fatal(err)
	}
	var procs []string
	for _, root := range roots {
		if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
			continue // not a hierarchy
		}
		dir := root
		for _, c := range strings.Split(rel, "/") {
			dir = filepath.Join(dir, c)
			if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
				t.Fatalf("cgroup %s: %v", dir, err)
			}
			// cpuset takes no task before its cpus and memory nodes are set.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if v, err := os.ReadFile(filepath.Join(root, f)); err == nil {
					os.WriteFile(filepath.Join(dir, f), v, 0o644)
				}
			}
			d := dir
			a.cleanups = append(a.cleanups, func() {
				// The task is gone once it was reaped; its cgroup may lag.
				for i := 0; i < 50 && os.Remove(d) != nil; i++ {
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		procs = append(procs, filepath.Join(dir, "cgroup.procs"))
	}
	if len(procs) == 0 {
		t.Fatal("no cgroup hierarchy under /sys/fs/cgroup")
	}
	return procs
}

// containerID is a container id (64 hex digits) for this run.
func containerID(a *arena) string {
	return fmt.Sprintf("%x", sha256.Sum256([]byte("peregrine-evasion-"+a.suffix)))
}

// TestFalcoFieldsLive checks, on live alerts of Falco's upstream rules,
// the fields whose rendering differed from Falco's on the same actions:
// output_fields keyed as the output template spells them, execve's exe
// flags, proc.cwd with its trailing "/", a memfd's exepath, an unset login
// user and the host's container.start_ts.
func TestFalcoFieldsLive(t *testing.T) {
	le := startLive(t, upstreamRules(t), runtime.LiveOptions{})
	dir := t.TempDir()
	fexec := helper("execveat-memfd", "/bin/true", "true")
	fexec.Dir = dir
	runCmd(t, fexec)
	grep := exec.Command("grep", "-r", "aws_secret_access_key", dir)
	grep.Dir = dir
	runCmd(t, grep)
	history := filepath.Join(dir, ".bash_history")
	writeFile(t, history, "")
	rm := exec.Command("rm", history) // unlinkat(AT_FDCWD, ...)
	runCmd(t, rm)

	jsonOf := func(a runtime.Alert) map[string]any {
		t.Helper()
		line, err := falcocompat.NewAlertJSON("host", a.Rule, a.Event, a.Time, a.Output).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			OutputFields map[string]any `json:"output_fields"`
		}
		if err := json.Unmarshal(line, &doc); err != nil {
			t.Fatal(err)
		}
		for k := range doc.OutputFields {
			if strings.Contains(k, "evt.arg[") {
				t.Errorf("%s: output_fields key %q: Falco keys fields as the template spells them", a.Rule.Name, k)
			}
		}
		return doc.OutputFields
	}
	check := func(rule string, of map[string]any, want map[string]any) {
		t.Helper()
		for k, w := range want {
			if got, ok := of[k]; !ok || got != w {
				t.Errorf("%s: output_fields[%q] = %#v (present %v), want %#v", rule, k, got, ok, w)
			}
		}
	}
	pidOf := func(cmd *exec.Cmd) string { return strconv.Itoa(cmd.Process.Pid) }

	a := le.wait(t, "the fileless exec", func(a runtime.Alert) bool {
		return a.Rule.Name == "Fileless execution via memfd_create" && field(a, "proc.pid") == pidOf(fexec)
	})
	of := jsonOf(a)
	check(a.Rule.Name, of, map[string]any{
		"evt.arg.flags": "EXE_WRITABLE|EXE_FROM_MEMFD", // root made the memfd: it owns it
		"proc.exepath":  "memfd:peregrine-fexecve",
		"proc.cwd":      dir + "/",
	})
	if ts, ok := of["container.start_ts"].(float64); !ok || ts <= 0 {
		t.Errorf("container.start_ts = %#v, want the host's start (boot) time", of["container.start_ts"])
	}

	a = le.wait(t, "the credentials search", func(a runtime.Alert) bool {
		return a.Rule.Name == "Find AWS Credentials" && field(a, "proc.pid") == pidOf(grep)
	})
	login := "<NA>"
	if raw, err := os.ReadFile("/proc/self/loginuid"); err == nil && strings.TrimSpace(string(raw)) != "4294967295" {
		login = "" // set: the check below is about the unset case only
	}
	want := map[string]any{"proc.cwd": dir + "/", "evt.arg.flags": "EXE_WRITABLE"}
	if login != "" {
		want["user.loginname"] = login
	}
	check(a.Rule.Name, jsonOf(a), want)

	// unlinkat's fd is its dirfd: AT_FDCWD has an empty name, not none.
	a = le.wait(t, "the history removal", func(a runtime.Alert) bool {
		return a.Rule.Name == "Delete or rename shell history" && field(a, "proc.pid") == pidOf(rm)
	})
	check(a.Rule.Name, jsonOf(a), map[string]any{"fd.name": "", "evt.arg.name": history, "evt.type": "unlinkat"})
}
