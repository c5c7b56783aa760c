package output

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// DefaultQueueCapacity is the number of alerts each output's queue holds
// when outputs_queue.capacity is 0 or unset. Falco reads 0 as "unbounded";
// Peregrine never queues without bound, since an output that stops
// answering would then grow the agent's memory until the kernel kills it.
// 10000 alerts hold a burst of about ten seconds of a very noisy rule,
// for a few megabytes per output at Falco's usual alert sizes (about 1 KB
// with its JSON); past that the output drops and counts what it cannot
// hold.
const DefaultQueueCapacity = 10000

// Config is the outputs part of a falco.yaml, with the same keys and
// meanings, plus Peregrine's own keys for remote syslog and the HTTP
// retries. The mapstructure tags let viper.Unmarshal (or mapstructure)
// fill it from a falco.yaml; start from DefaultConfig so that unset keys
// keep Falco's defaults.
type Config struct {
	// JSONOutput (json_output) says that Line is Falco's JSON alert; the
	// HTTP output then posts it as application/json, else it posts the
	// text line as text/plain, as Falco does.
	JSONOutput bool `mapstructure:"json_output"`
	// BufferedOutputs (buffered_outputs) lets stdout and a kept-open file
	// write in blocks: they flush whenever their queue runs empty, so an
	// alert waits only while more are queued behind it. When false every
	// alert is flushed as it is written (Falco's -U).
	BufferedOutputs bool        `mapstructure:"buffered_outputs"`
	OutputsQueue    QueueConfig `mapstructure:"outputs_queue"`

	Stdout  StdoutConfig  `mapstructure:"stdout_output"`
	File    FileConfig    `mapstructure:"file_output"`
	Syslog  SyslogConfig  `mapstructure:"syslog_output"`
	Program ProgramConfig `mapstructure:"program_output"`
	HTTP    HTTPConfig    `mapstructure:"http_output"`
}

// QueueConfig is outputs_queue.
type QueueConfig struct {
	// Capacity is the size of each output's queue, in alerts; 0 means
	// DefaultQueueCapacity (never unbounded, unlike Falco).
	Capacity int `mapstructure:"capacity"`
}

// StdoutConfig is stdout_output.
type StdoutConfig struct {
	Enabled bool `mapstructure:"enabled"`
}

// FileConfig is file_output: alert lines appended to a file, created with
// mode 0600.
type FileConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// KeepAlive keeps the file open between alerts (reopened by
	// Set.Reopen); when false the file is opened, written and closed for
	// every alert, as Falco does.
	KeepAlive bool   `mapstructure:"keep_alive"`
	Filename  string `mapstructure:"filename"`
}

// SyslogConfig is syslog_output. Falco's only key is enabled (the local
// socket, facility user); protocol, address, format and facility are
// Peregrine's.
type SyslogConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Protocol is "unix" (the local socket, a datagram socket at Address,
	// /dev/log when empty), "udp" or "tcp" (Address is host:port). Over
	// TCP each message is framed by octet counting (RFC 6587 section
	// 3.4.1: its length in decimal, a space, the message).
	Protocol string `mapstructure:"protocol"`
	Address  string `mapstructure:"address"`
	// Format is "rfc5424" (the default for udp and tcp) or "rfc3164"
	// (what syslog(3) writes to the local socket, its default there).
	Format string `mapstructure:"format"`
	// Facility is a facility name (user, daemon, auth, local0..local7,
	// ...); user when empty, as Falco's syslog(3) calls use.
	Facility string `mapstructure:"facility"`
}

// ProgramConfig is program_output: alert lines written to the standard
// input of `sh -c Program`.
type ProgramConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// KeepAlive runs one long-lived process for all alerts, restarted
	// (with a backoff) when it exits; when false one process runs per
	// alert, as Falco does.
	KeepAlive bool   `mapstructure:"keep_alive"`
	Program   string `mapstructure:"program"`
}

// HTTPConfig is http_output: each alert POSTed to URL.
type HTTPConfig struct {
	Enabled   bool   `mapstructure:"enabled"`
	URL       string `mapstructure:"url"`
	UserAgent string `mapstructure:"user_agent"`
	// Insecure skips the verification of the server's certificate.
	Insecure bool `mapstructure:"insecure"`
	// CACert, else CABundle, is a PEM file whose certificates are the
	// only trusted roots (as libcurl's CAINFO, which Falco sets from
	// them); with neither, the system's roots and the certificates of
	// the PEM files in CAPath (when that directory exists) are trusted.
	CACert   string `mapstructure:"ca_cert"`
	CABundle string `mapstructure:"ca_bundle"`
	CAPath   string `mapstructure:"ca_path"`
	// MTLS presents ClientCert and ClientKey (PEM files) to the server.
	MTLS       bool   `mapstructure:"mtls"`
	ClientCert string `mapstructure:"client_cert"`
	ClientKey  string `mapstructure:"client_key"`
	// Echo copies the server's response bodies to the standard output.
	Echo bool `mapstructure:"echo"`
	// CompressUploads is accepted for Falco's sake. In Falco it sets
	// libcurl's CURLOPT_TRANSFER_ENCODING, which asks the server for a
	// compressed response and compresses nothing sent; Go's client asks
	// for gzip responses already, so it changes nothing here.
	CompressUploads bool `mapstructure:"compress_uploads"`
	// KeepAlive turns on TCP keepalive probes on the connections, as
	// Falco's CURLOPT_TCP_KEEPALIVE; connections are reused either way.
	KeepAlive bool `mapstructure:"keep_alive"`

	// CustomHeaders are added to every request (Peregrine's key).
	CustomHeaders map[string]string `mapstructure:"custom_headers"`
	// Timeout bounds one attempt, connection and response included.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxRetries is how many times an alert is sent again after a
	// connection error, a timeout, a 5xx or a 429, waiting RetryBackoff,
	// then twice as long each time up to MaxRetryBackoff.
	MaxRetries      int           `mapstructure:"max_retries"`
	RetryBackoff    time.Duration `mapstructure:"retry_backoff"`
	MaxRetryBackoff time.Duration `mapstructure:"max_retry_backoff"`
}

// DefaultConfig returns Falco's defaults: stdout enabled, every other
// output disabled, buffered outputs off, file and program outputs not
// kept alive. Syslog is off, where Falco's default falco.yaml turns it on:
// Peregrine writes nowhere a user did not ask for.
func DefaultConfig() Config {
	return Config{
		Stdout:  StdoutConfig{Enabled: true},
		Syslog:  SyslogConfig{Protocol: "unix"},
		HTTP:    HTTPConfig{UserAgent: "peregrine", Timeout: 5 * time.Second, MaxRetries: 2, RetryBackoff: 200 * time.Millisecond, MaxRetryBackoff: 5 * time.Second},
		Program: ProgramConfig{},
	}
}

// facilities are syslog's facility codes by name (RFC 5424 table 1).
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14, "solaris-cron": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Validate checks the values New does not need to open anything for; its
// errors name the falco.yaml key at fault (file_output.filename: ...).
func (c *Config) Validate() error {
	keyErr := func(key, format string, args ...any) error {
		return fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...))
	}
	if c.OutputsQueue.Capacity < 0 {
		return keyErr("outputs_queue.capacity", "%d is negative (0 means the default, %d)", c.OutputsQueue.Capacity, DefaultQueueCapacity)
	}
	if c.File.Enabled && c.File.Filename == "" {
		return keyErr("file_output.filename", "empty, with file_output enabled")
	}
	if c.Program.Enabled && strings.TrimSpace(c.Program.Program) == "" {
		return keyErr("program_output.program", "empty, with program_output enabled")
	}
	if c.Syslog.Enabled {
		s := c.Syslog
		switch s.Protocol {
		case "", "unix":
		case "udp", "tcp":
			if s.Address == "" {
				return keyErr("syslog_output.address", "empty, with protocol %s (want host:port)", s.Protocol)
			}
		default:
			return keyErr("syslog_output.protocol", "%q is not unix, udp or tcp", s.Protocol)
		}
		switch strings.ToLower(s.Format) {
		case "", "rfc5424", "rfc3164":
		default:
			return keyErr("syslog_output.format", "%q is not rfc5424 or rfc3164", s.Format)
		}
		if _, ok := facilities[strings.ToLower(s.Facility)]; s.Facility != "" && !ok {
			return keyErr("syslog_output.facility", "%q is not a syslog facility (user, daemon, auth, local0..local7, ...)", s.Facility)
		}
	}
	if c.HTTP.Enabled {
		h := c.HTTP
		u, err := url.Parse(strings.Trim(h.URL, `"'`))
		if h.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return keyErr("http_output.url", "%q is not an http or https URL", h.URL)
		}
		if h.MTLS && (h.ClientCert == "" || h.ClientKey == "") {
			return keyErr("http_output.mtls", "needs http_output.client_cert and http_output.client_key")
		}
		if h.Timeout < 0 {
			return keyErr("http_output.timeout", "%v is negative", h.Timeout)
		}
		if h.MaxRetries < 0 {
			return keyErr("http_output.max_retries", "%d is negative", h.MaxRetries)
		}
		if h.RetryBackoff < 0 || h.MaxRetryBackoff < 0 {
			return keyErr("http_output.retry_backoff", "negative")
		}
		for k := range h.CustomHeaders {
			if k == "" || strings.ContainsAny(k, " :\r\n") {
				return keyErr("http_output.custom_headers", "%q is not a header name", k)
			}
		}
	}
	return nil
}

// Keys returns the dotted names of Config's scalar keys, as a falco.yaml
// spells them (stdout_output.enabled, http_output.url, ...), for a
// command line that takes -o key=value. Maps (http_output.custom_headers)
// are left out.
func Keys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := prefix + f.Tag.Get("mapstructure")
			switch f.Type.Kind() {
			case reflect.Struct:
				walk(f.Type, name+".")
			case reflect.Map:
			default:
				keys = append(keys, name)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return keys
}
