// Package machinelock serialises the tests that load the whole machine or
// count what the whole machine does. The capture sees every process, and
// go test runs the packages' test binaries side by side, so a test that
// asserts on system-wide counts (events the kernel sent) must not overlap
// one that makes a heavy load (the overhead harness's smoke run).
package machinelock

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Hold takes the machine-wide test lock, waiting for the test holding it,
// and releases it when t ends. It fails t if the lock file cannot be
// opened or locked.
func Hold(t testing.TB) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "peregrine-machine-tests.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatalf("machine lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("machine lock %s: %v", path, err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}
