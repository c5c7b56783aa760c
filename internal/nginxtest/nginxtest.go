// Package nginxtest runs a real nginx serving files from a temporary
// directory, for tests of HTTP clients (the bundle poller) against a
// production web server: ETags, 304 responses, the server going away.
package nginxtest

import (
	"bytes"
	"fmt"
	"github.com/peregrine-sec/peregrine/internal/peertest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Server is an nginx serving the files of its document root on a
// loopback port. It is stopped when the test ends.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan error
}

// Binary returns the nginx binary. Without one it skips the test, and
// fails it when CI is set.
func Binary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no nginx (/usr/sbin/nginx): CI must install Debian's nginx package")
	}
	t.Skip("no nginx (/usr/sbin/nginx): apt-get install nginx to run this test (under CI it fails)")
	return ""
}

// New configures an nginx (not started) on a free loopback port.
func New(t testing.TB) *Server {
	t.Helper()
	return NewConf(t, func(dir string, port int) string {
		return fmt.Sprintf(`
	access_log %[1]s/access.log;
	types { application/gzip gz; }
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:%[2]d;
		root %[1]s/www;
	}
`, dir, port)
	})
}

// NewConf configures an nginx (not started) whose http block is what
// http returns for its directory and a free loopback port (on which
// Start waits for it to listen); the rest of the configuration (the
// pid file, error log and temporary paths, in dir) is New's.
func NewConf(t testing.TB, http func(dir string, port int) string) *Server {
	t.Helper()
	n := &Server{t: t, bin: Binary(t), dir: t.TempDir(), port: peertest.FreePort(t)}
	for _, d := range []string{"www", "tmp"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	user := ""
	if os.Geteuid() == 0 {
		// The workers must read the test's private temporary directory.
		user = "user root;"
	}
	conf := fmt.Sprintf(`%[1]s
daemon off;
master_process on;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 64; }
http {
	client_body_temp_path %[2]s/tmp/body;
	proxy_temp_path %[2]s/tmp/proxy;
	fastcgi_temp_path %[2]s/tmp/fastcgi;
	uwsgi_temp_path %[2]s/tmp/uwsgi;
	scgi_temp_path %[2]s/tmp/scgi;
%[3]s
}
`, user, n.dir, http(n.dir, n.port))
	if err := os.WriteFile(filepath.Join(n.dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

// Dir returns the server's directory (its configuration, logs and
// document root, www).
func (n *Server) Dir() string { return n.dir }

// Port returns the port Start waits for.
func (n *Server) Port() int { return n.port }

// URL returns the URL of the file name of the document root.
func (n *Server) URL(name string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", n.port, name)
}

// Start starts nginx and waits until it accepts connections.
func (n *Server) Start() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, "-p", n.dir, "-c", filepath.Join(n.dir, "nginx.conf"), "-e", filepath.Join(n.dir, "error.log"))
	var stderr bytes.Buffer
	n.cmd.Stdout, n.cmd.Stderr = &stderr, &stderr
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("starting nginx: %v", err)
	}
	n.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(n.cmd, n.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-n.done:
			log, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
			n.cmd = nil
			n.t.Fatalf("nginx exited: %v\n%s\n%s", err, stderr.String(), log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("nginx does not listen on port %d", n.port)
		}
	}
}

// Stop stops nginx (fast shutdown) and waits for it.
func (n *Server) Stop() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.done:
		if err != nil {
			n.t.Logf("nginx: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		n.t.Logf("nginx: no exit within 10 s of SIGTERM, killed: %v", <-n.done)
	}
	n.cmd = nil
}

// Put replaces the file name of the document root with data, atomically,
// with modification time mtime (nginx's ETag is the mtime in seconds and
// the size).
func (n *Server) Put(name string, data []byte, mtime time.Time) {
	n.t.Helper()
	p := filepath.Join(n.dir, "www", name)
	tmp := p + ".new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		n.t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		n.t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		n.t.Fatal(err)
	}
}

// AccessLog returns nginx's access log.
func (n *Server) AccessLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "access.log"))
	return string(b)
}
