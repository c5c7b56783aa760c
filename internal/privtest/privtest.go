// Package privtest helps tests run the test binary with fewer privileges
// than root's: a copy of it that any user can execute, and setpriv
// (util-linux) to start it with an exact capability set.
package privtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// PublicCopy copies the running test binary, as name, into a new
// temporary directory that every user can enter (the build directory is
// private to root), and returns the directory and the copy's path.
func PublicCopy(t testing.TB, name string) (dir, bin string) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin = filepath.Join(dir, name)
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// Setpriv returns setpriv's path. Without it the test is skipped, and
// fails when CI is set (.ci/run installs util-linux).
func Setpriv(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("setpriv")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("setpriv (util-linux) is missing: .ci/run installs it")
		}
		t.Skip("setpriv (util-linux) is not installed")
	}
	return p
}
