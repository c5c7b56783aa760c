package runtime_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/peregrine-sec/peregrine/falcocompat"
	"github.com/peregrine-sec/peregrine/runtime"
)

// upstreamRulesPath is Falco's upstream ruleset, test data kept outside
// the repository.
const upstreamRulesPath = "../../shared/falco/falco_rules.yaml"

// TestUpstreamRulesLive loads Falco's upstream falco_rules.yaml unmodified,
// captures live, performs in child processes the behaviour each of a set
// of upstream rules describes, and checks that the rule fires.
func TestUpstreamRulesLive(t *testing.T) {
	if _, err := os.Stat(upstreamRulesPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("upstream rules needed in CI: %v", err)
		}
		t.Skipf("upstream rules absent: %v", err)
	}
	requireRoot(t)
	res := falcocompat.LoadPaths(upstreamRulesPath)
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	le := startLive(t, res.Ruleset, runtime.LiveOptions{})
	// Decoys for the searches below to find, so grep and find succeed.
	tmp := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tmp, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"id_rsa":           "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n",
		".aws/credentials": "[default]\naws_secret_access_key = not-a-secret\n",
	} {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// runPid runs cmd and returns its pid, so that alerts can be told
	// apart from unrelated activity on the host.
	runPid := func(t *testing.T, cmd *exec.Cmd) string {
		t.Helper()
		run(t, cmd)
		if cmd.Process == nil {
			t.Fatalf("%s did not start", strings.Join(cmd.Args, " "))
		}
		return strconv.Itoa(cmd.Process.Pid)
	}
	// waitRule waits for rule with every field in want equal to the
	// given value.
	waitRule := func(t *testing.T, rule string, want map[string]string) runtime.Alert {
		t.Helper()
		what := rule
		for k, v := range want {
			what += fmt.Sprintf(" %s=%q", k, v)
		}
		return le.wait(t, what, func(a runtime.Alert) bool {
			if a.Rule.Name != rule {
				return false
			}
			for k, v := range want {
				if field(a, k) != v {
					return false
				}
			}
			return true
		})
	}

	t.Run("Read sensitive file untrusted", func(t *testing.T) {
		// cat is in none of the trusted-reader lists.
		pid := runPid(t, exec.Command("cat", "/etc/shadow"))
		waitRule(t, "Read sensitive file untrusted", map[string]string{
			"proc.pid": pid, "proc.name": "cat", "fd.name": "/etc/shadow"})
	})

	t.Run("Directory traversal monitored file read", func(t *testing.T) {
		// A relative path climbing out of the working directory into
		// /etc; the parent (the test binary) is not a shell.
		dir := t.TempDir()
		rel := strings.Repeat("../", strings.Count(dir, "/")+2) + "etc/passwd"
		cmd := exec.Command("cat", rel)
		cmd.Dir = dir
		pid := runPid(t, cmd)
		waitRule(t, "Directory traversal monitored file read", map[string]string{
			"proc.pid": pid, "fd.name": "/etc/passwd", "fd.nameraw": rel})
	})

	t.Run("Create Symlink Over Sensitive Files", func(t *testing.T) {
		link := filepath.Join(tmp, "shadow-symlink")
		pid := runPid(t, exec.Command("ln", "-s", "/etc/shadow", link))
		waitRule(t, "Create Symlink Over Sensitive Files", map[string]string{
			"proc.pid": pid, "proc.name": "ln", "evt.arg.target": "/etc/shadow"})
	})

	t.Run("Create Hardlink Over Sensitive Files", func(t *testing.T) {
		// The link (if the kernel allows it) lives in the temporary
		// directory and is removed with it; the rule fires either way.
		link := filepath.Join(tmp, "shadow-hardlink")
		pid := runPid(t, exec.Command("ln", "/etc/shadow", link))
		waitRule(t, "Create Hardlink Over Sensitive Files", map[string]string{
			"proc.pid": pid, "proc.name": "ln", "evt.arg.oldpath": "/etc/shadow"})
	})

	t.Run("PTRACE attached to process", func(t *testing.T) {
		pid := runPid(t, helper("ptrace-attach"))
		a := waitRule(t, "PTRACE attached to process", map[string]string{"proc.pid": pid})
		if req := field(a, "evt.arg.request"); !strings.Contains(req, "PTRACE_ATTACH") {
			t.Errorf("evt.arg.request = %q, want PTRACE_ATTACH", req)
		}
	})

	t.Run("PTRACE anti-debug attempt", func(t *testing.T) {
		pid := runPid(t, helper("ptrace-traceme"))
		waitRule(t, "PTRACE anti-debug attempt", map[string]string{
			"proc.pid": pid, "evt.arg.request": "PTRACE_TRACEME"})
	})

	t.Run("Execution from /dev/shm", func(t *testing.T) {
		data, err := os.ReadFile("/bin/true")
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.CreateTemp("/dev/shm", "peregrine-true-")
		if err != nil {
			t.Fatal(err)
		}
		path := f.Name()
		t.Cleanup(func() { os.Remove(path) })
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(path, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
		pid := runPid(t, exec.Command(path))
		os.Remove(path)
		waitRule(t, "Execution from /dev/shm", map[string]string{
			"proc.pid": pid, "proc.exe": path})
	})

	t.Run("Fileless execution via memfd_create", func(t *testing.T) {
		pid := runPid(t, helper("memfd-exec"))
		waitRule(t, "Fileless execution via memfd_create", map[string]string{
			"proc.pid": pid, "proc.is_exe_from_memfd": "true"})
	})

	t.Run("Clear Log Activities", func(t *testing.T) {
		path := fmt.Sprintf("/var/log/peregrine-test-%d-%d.log", os.Getpid(), time.Now().UnixNano())
		if err := os.WriteFile(path, []byte("evidence\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(path) })
		// The shell opens the file O_WRONLY|O_CREAT|O_TRUNC.
		pid := runPid(t, exec.Command("sh", "-c", `: > "$0"`, path))
		waitRule(t, "Clear Log Activities", map[string]string{
			"proc.pid": pid, "fd.name": path})
	})

	t.Run("Search Private Keys or Passwords", func(t *testing.T) {
		pid := runPid(t, exec.Command("grep", "-r", "BEGIN RSA PRIVATE", tmp))
		waitRule(t, "Search Private Keys or Passwords", map[string]string{
			"proc.pid": pid, "proc.name": "grep"})
		pid = runPid(t, exec.Command("find", tmp, "-name", "id_rsa"))
		waitRule(t, "Search Private Keys or Passwords", map[string]string{
			"proc.pid": pid, "proc.name": "find"})
	})

	t.Run("Find AWS Credentials", func(t *testing.T) {
		pid := runPid(t, exec.Command("grep", "-r", "aws_secret_access_key", tmp))
		waitRule(t, "Find AWS Credentials", map[string]string{
			"proc.pid": pid, "proc.name": "grep"})
		pid = runPid(t, exec.Command("find", tmp, "-path", "*/.aws/credentials"))
		waitRule(t, "Find AWS Credentials", map[string]string{
			"proc.pid": pid, "proc.name": "find"})
	})

	t.Run("Remove Bulk Data from Disk", func(t *testing.T) {
		victim := filepath.Join(tmp, "victim")
		if err := os.WriteFile(victim, []byte("data to destroy\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		pid := runPid(t, exec.Command("shred", "-u", victim))
		waitRule(t, "Remove Bulk Data from Disk", map[string]string{
			"proc.pid": pid, "proc.name": "shred"})
	})

	t.Run("Run shell untrusted", func(t *testing.T) {
		// A script named like a web server (comm "nginx", a protected
		// shell spawner) that spawns a shell. The shell is not its last
		// command, so it runs in a child rather than replacing nginx.
		dir := t.TempDir()
		nginx := script(t, dir, "nginx", "/bin/sh -c 'echo peregrine-untrusted-shell'\ntrue")
		run(t, exec.Command(nginx))
		waitRule(t, "Run shell untrusted", map[string]string{
			"proc.name": "sh", "proc.pname": "nginx",
			"proc.cmdline": "sh -c echo peregrine-untrusted-shell"})
	})
}
