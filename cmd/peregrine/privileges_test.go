package main

import (
	"errors"
	"fmt"
	"github.com/peregrine-sec/peregrine/internal/privtest"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/internal/privileges"
)

// nobody is the unprivileged user the tests run the agent (as the systemd
// unit's DynamicUser does) or a watched process as.
const nobody = 65534

// TestCapabilitySet starts `peregrine run` under setpriv with exactly the
// capabilities of privileges.Agent in its bounding, inheritable, ambient
// and effective sets, as root (as the Kubernetes DaemonSet runs it) and as
// an unprivileged user (as the systemd unit runs it), and checks that it
// attaches and alerts: the default rules' alert for a real read of
// /etc/shadow, and an alert on a process started before the agent, as
// another user, whose executable path, working directory and environment
// the agent can only have read from /proc. Then it drops each capability
// in turn and checks what breaks: without CAP_BPF or CAP_PERFMON the agent
// refuses to start, naming it; without CAP_SYS_PTRACE that process's
// executable path and working directory are unknown; without
// CAP_DAC_READ_SEARCH its environment is. So the set is enough, and none
// of it is spare.
func TestCapabilitySet(t *testing.T) {
	requireRoot(t)
	setpriv := privtest.Setpriv(t)
	// The agent, when not root, and the watched process need a binary
	// and files they can reach.
	dir, bin := privtest.PublicCopy(t, "peregrine")
	marker := filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(dir, "marker_rules.yaml")
	rule := fmt.Sprintf(`- rule: Deploy marker opened
  desc: the watched process opened the marker file
  condition: evt.type in (open, openat, openat2) and fd.name = %q
  output: "deploy marker exepath=%%proc.exepath cwd=%%proc.cwd env=%%proc.env[PEREGRINE_DEPLOY_MARK] end"
  priority: WARNING
`, marker)
	if err := os.WriteFile(rulesFile, []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	shPath, err := filepath.EvalSymlinks(sh)
	if err != nil {
		t.Fatal(err)
	}

	all := privileges.Names(privileges.Agent)
	for _, as := range []struct {
		name string
		uid  int // the agent's; the watched process runs as the other one
	}{{"root", 0}, {"nonroot", nobody}} {
		for _, drop := range append([]string{""}, all...) {
			name := as.name + "/all"
			if drop != "" {
				name = as.name + "/without_" + drop
			}
			t.Run(name, func(t *testing.T) {
				var caps []string
				for _, c := range all {
					if c != drop {
						caps = append(caps, c)
					}
				}
				watchedUID := nobody
				if as.uid != 0 {
					watchedUID = 0
				}
				got := runWithCaps(t, setpriv, bin, dir, as.uid, caps, watchedUID, rulesFile, marker)
				checkCapabilityRun(t, drop, got, shPath, dir)
			})
		}
	}
}

// capRun is what one start of the agent under setpriv gave.
type capRun struct {
	exited                   bool // it exited before attaching
	exitCode                 int
	stderr                   string
	shadowAlert              bool
	exepath, cwd, env, token string
	capEff                   uint64 // the running agent's CapEff
}

// runWithCaps starts the watched process (a shell, as watchedUID, in dir,
// waiting on its standard input), then the agent under setpriv as uid with
// exactly caps, and once it has attached reads /etc/shadow and has the
// shell open the marker.
func runWithCaps(t *testing.T, setpriv, bin, dir string, uid int, caps []string, watchedUID int, rulesFile, marker string) capRun {
	t.Helper()
	token := strconv.FormatInt(time.Now().UnixNano(), 36)
	watched := exec.Command("sh", "-c", `read go; exec 3<"$1"; read done`, "sh", marker)
	watched.Dir = dir
	watched.Env = append(os.Environ(), "PEREGRINE_DEPLOY_MARK="+token)
	watched.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(watchedUID), Gid: uint32(watchedUID)}}
	in, err := watched.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watched.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		in.Close()
		_ = watched.Process.Kill()
		_ = watched.Wait()
	}()

	set := "-all"
	for _, c := range caps {
		set += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	args := []string{}
	if uid != 0 {
		args = append(args, "--reuid="+strconv.Itoa(uid), "--regid="+strconv.Itoa(uid), "--clear-groups")
	}
	args = append(args, "--inh-caps="+set, "--ambient-caps="+set, "--bounding-set="+set, "--",
		bin, "run", "-r", "@default", "-r", rulesFile)
	cmd := exec.Command(setpriv, args...)
	cmd.Dir = dir
	stdout, stderr := startCommand(t, cmd)
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("agent stderr:\n%s\nstdout:\n%s", stderr.text(), stdout.text())
		}
	}()

	got := capRun{token: token}
	// Attached, or exited.
	deadline := time.After(60 * time.Second)
	for stderr.count("peregrine: ", "rules, capturing") == 0 {
		select {
		case <-exited:
			// The pipes are read to their end before Wait returns.
			got.exited, got.stderr = true, stderr.text()
			var ee *exec.ExitError
			if errors.As(waitErr, &ee) {
				got.exitCode = ee.ExitCode()
			}
			return got
		case <-stderr.seen:
		case <-time.After(250 * time.Millisecond):
		case <-deadline:
			t.Fatalf("the agent neither attached nor exited in 60s")
		}
	}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
				got.capEff, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			}
		}
	}
	stdout.waitFor(t, "the default rules' alert for a read of /etc/shadow", func() {
		_ = exec.Command("cat", "/etc/shadow").Run()
	}, "Credential file opened for reading", "file=/etc/shadow", "process=cat")
	got.shadowAlert = true
	if _, err := io.WriteString(in, "go\n"); err != nil {
		t.Fatal(err)
	}
	stdout.waitFor(t, "the watched process's alert", nil, "deploy marker", " end")
	m := regexp.MustCompile(`deploy marker exepath=(.*) cwd=(.*) env=(.*) end`).FindStringSubmatch(stdout.text())
	if m == nil {
		t.Fatalf("no marker alert in %q", stdout.text())
	}
	got.exepath, got.cwd, got.env = m[1], m[2], m[3]
	got.stderr = stderr.text()
	return got
}

// checkCapabilityRun checks one run against what dropping drop ("" for
// none) must do.
func checkCapabilityRun(t *testing.T, drop string, got capRun, shPath, dir string) {
	t.Helper()
	var want uint64
	for _, c := range privileges.Agent {
		if c.Name != drop {
			want |= 1 << c.Bit
		}
	}
	if !got.exited && got.capEff != want {
		t.Errorf("the agent ran with CapEff %#x, want exactly %#x", got.capEff, want)
	}
	fullExe := got.exepath == shPath
	fullCwd := got.cwd == dir+"/"
	fullEnv := got.env == got.token
	switch drop {
	case "":
		if got.exited {
			t.Fatalf("with %s the agent exited %d: %s", strings.Join(privileges.Names(privileges.Agent), ","), got.exitCode, got.stderr)
		}
		if !fullExe || !fullCwd || !fullEnv {
			t.Errorf("with every capability the watched process is exepath=%q cwd=%q env=%q, want %q, %q, %q",
				got.exepath, got.cwd, got.env, shPath, dir+"/", got.token)
		}
		if strings.Contains(got.stderr, "warning: no CAP_") {
			t.Errorf("a warning about a missing capability with all of them: %s", got.stderr)
		}
	case "CAP_BPF", "CAP_PERFMON":
		if !got.exited || got.exitCode != 1 {
			t.Fatalf("without %s the agent did not exit 1 (exited %v, status %d)", drop, got.exited, got.exitCode)
		}
		if !strings.Contains(got.stderr, "missing capabilities "+drop) {
			t.Errorf("without %s the error does not name it: %s", drop, got.stderr)
		}
	case "CAP_SYS_PTRACE":
		if got.exited {
			t.Fatalf("without %s the agent exited %d: %s", drop, got.exitCode, got.stderr)
		}
		if got.exepath != "" || fullCwd {
			t.Errorf("without %s the agent still read the watched process's exe (%q) or cwd (%q)", drop, got.exepath, got.cwd)
		}
		if !fullEnv {
			t.Errorf("without %s the environment is %q, want %q (only the ptrace check should fail)", drop, got.env, got.token)
		}
	case "CAP_DAC_READ_SEARCH":
		if got.exited {
			t.Fatalf("without %s the agent exited %d: %s", drop, got.exitCode, got.stderr)
		}
		if fullEnv {
			t.Errorf("without %s the agent still read the environment of another user's process", drop)
		}
		if !fullExe || !fullCwd {
			t.Errorf("without %s exepath=%q cwd=%q, want %q, %q (only the environment should be lost)", drop, got.exepath, got.cwd, shPath, dir+"/")
		}
	default:
		t.Fatalf("no expectation for dropping %s: say in this test what it breaks", drop)
	}
	if drop != "" && !got.exited && !strings.Contains(got.stderr, "warning: no "+drop+":") {
		t.Errorf("without %s the agent does not warn about it: %s", drop, got.stderr)
	}
}
