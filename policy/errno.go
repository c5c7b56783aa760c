package policy

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// errnoByName maps errno names (ENOENT) to their numbers on Linux.
var errnoByName = func() map[string]int64 {
	m := map[string]int64{}
	for e := syscall.Errno(1); e < 4096; e++ {
		if n := unix.ErrnoName(e); n != "" {
			m[n] = int64(e)
		}
	}
	return m
}()

// ResultName renders a syscall result as evt.res does: SUCCESS for zero and
// positive values, the errno name (ENOENT) for negative ones.
func ResultName(res int64) string {
	if res >= 0 {
		return "SUCCESS"
	}
	if n := unix.ErrnoName(syscall.Errno(-res)); n != "" {
		return n
	}
	return "E" + itoa(-res)
}

// ResultNumber is the inverse of ResultName; SUCCESS gives 0.
func ResultNumber(name string) (int64, bool) {
	if name == "SUCCESS" {
		return 0, true
	}
	n, ok := errnoByName[name]
	return -n, ok
}
