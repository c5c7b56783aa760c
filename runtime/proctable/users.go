package proctable

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// User is one /etc/passwd entry.
type User struct {
	Name  string
	UID   uint32
	GID   uint32
	Home  string
	Shell string
}

// Users resolves user and group ids to names from passwd(5) and group(5)
// files, Falco's user.name, user.homedir, user.shell and group.name. Each
// file is parsed on first use and parsed again when its modification time or
// size changes; the check costs one stat per file and is done at most once per
// checkInterval. A missing or unreadable file behaves as an empty one. Users
// is safe for concurrent use.
type Users struct {
	checkInterval time.Duration

	mu     sync.Mutex
	passwd cachedFile[map[uint32]User]
	group  cachedFile[map[uint32]string]
}

// cachedFile is one parsed file and the stat data it was parsed from.
type cachedFile[T any] struct {
	path    string
	loaded  bool
	mtime   time.Time
	size    int64
	checked time.Time
	data    T
	parse   func([]byte) T
}

// NewUsers returns a Users reading passwdPath (normally "/etc/passwd") and
// groupPath (normally "/etc/group"). It does not touch the file system.
func NewUsers(passwdPath, groupPath string) *Users {
	return &Users{
		checkInterval: time.Second,
		passwd:        cachedFile[map[uint32]User]{path: passwdPath, parse: parsePasswd},
		group:         cachedFile[map[uint32]string]{path: groupPath, parse: parseGroup},
	}
}

// get returns the parsed file, re-reading it when it changed on disk.
func (c *cachedFile[T]) get(interval time.Duration) T {
	now := time.Now()
	if c.loaded && now.Sub(c.checked) < interval {
		return c.data
	}
	c.checked = now
	fi, err := os.Stat(c.path)
	if err != nil {
		c.data, c.loaded, c.mtime, c.size = c.parse(nil), true, time.Time{}, -1
		return c.data
	}
	if c.loaded && fi.ModTime().Equal(c.mtime) && fi.Size() == c.size {
		return c.data
	}
	raw, err := os.ReadFile(c.path)
	if err != nil {
		raw = nil
	}
	c.data, c.loaded, c.mtime, c.size = c.parse(raw), true, fi.ModTime(), fi.Size()
	return c.data
}

// Lookup returns the passwd entry for uid and whether there is one.
func (u *Users) Lookup(uid uint32) (User, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	e, ok := u.passwd.get(u.checkInterval)[uid]
	return e, ok
}

// UserName returns the login name of uid and whether uid is in the passwd file.
func (u *Users) UserName(uid uint32) (string, bool) {
	e, ok := u.Lookup(uid)
	return e.Name, ok
}

// HomeDir returns the home directory of uid and whether uid is in the passwd file.
func (u *Users) HomeDir(uid uint32) (string, bool) {
	e, ok := u.Lookup(uid)
	return e.Home, ok
}

// Shell returns the login shell of uid and whether uid is in the passwd file.
func (u *Users) Shell(uid uint32) (string, bool) {
	e, ok := u.Lookup(uid)
	return e.Shell, ok
}

// GroupName returns the name of gid and whether gid is in the group file.
func (u *Users) GroupName(gid uint32) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	name, ok := u.group.get(u.checkInterval)[gid]
	return name, ok
}

// NA is what libsinsp gives a user or group field it cannot resolve.
const NA = "<NA>"

// FalcoUser returns user.name, user.homedir and user.shell for uid as
// libsinsp does: the passwd entry's, else "root" and "/root" for uid 0
// (the shell stays "<NA>"), else "<NA>".
func (u *Users) FalcoUser(uid uint32) (name, home, shell string) {
	if e, ok := u.Lookup(uid); ok {
		return e.Name, e.Home, e.Shell
	}
	if uid == 0 {
		return "root", "/root", NA
	}
	return NA, NA, NA
}

// FalcoLoginName returns user.loginname for a login uid as libsinsp does:
// the passwd name of loginuid, "root" for 0 without an entry, and "<NA>"
// otherwise, which includes an unset login uid (-1).
func (u *Users) FalcoLoginName(loginuid int64) string {
	if loginuid < 0 || loginuid >= 1<<32-1 {
		return NA
	}
	name, _, _ := u.FalcoUser(uint32(loginuid))
	return name
}

// FalcoGroup returns group.name for gid as libsinsp does: the group
// file's name, "root" for gid 0 without an entry, "<NA>" otherwise.
func (u *Users) FalcoGroup(gid uint32) string {
	if n, ok := u.GroupName(gid); ok {
		return n
	}
	if gid == 0 {
		return "root"
	}
	return NA
}

// lines yields the non-empty, non-comment lines of a passwd or group file,
// split on ':'.
func lines(data []byte, fn func(f []string)) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fn(strings.Split(line, ":"))
	}
}

// parsePasswd parses passwd(5) lines "name:password:UID:GID:GECOS:directory:shell".
// Malformed lines are skipped; for a uid listed twice the first entry wins,
// as with getpwuid(3).
func parsePasswd(data []byte) map[uint32]User {
	m := make(map[uint32]User)
	lines(data, func(f []string) {
		if len(f) != 7 || f[0] == "" {
			return
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return
		}
		if _, dup := m[uint32(uid)]; dup {
			return
		}
		m[uint32(uid)] = User{Name: f[0], UID: uint32(uid), GID: uint32(gid), Home: f[5], Shell: f[6]}
	})
	return m
}

// parseGroup parses group(5) lines "group_name:password:GID:user_list".
// Malformed lines are skipped; for a gid listed twice the first entry wins.
func parseGroup(data []byte) map[uint32]string {
	m := make(map[uint32]string)
	lines(data, func(f []string) {
		if len(f) != 4 || f[0] == "" {
			return
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return
		}
		if _, dup := m[uint32(gid)]; !dup {
			m[uint32(gid)] = f[0]
		}
	})
	return m
}
