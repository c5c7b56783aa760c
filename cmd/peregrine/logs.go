package main

import (
	"bytes"
	"fmt"
	"io"
	"log/syslog"
	"strings"
	"sync"

	"github.com/spf13/viper"
)

// logLevels are falco.yaml's log_level names, most severe first.
var logLevels = []string{"emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"}

// logWriter writes run's own messages (not alerts) where log_stderr and
// log_syslog say, from log_level up. A message's level is read from its
// words: "warning:" is a warning, a refusal or failure an error, the rest
// info.
type logWriter struct {
	mu     sync.Mutex
	stderr io.Writer // nil: log_stderr false
	syslog *syslog.Writer
	min    int
}

// newLogWriter reads log_level, log_stderr and log_syslog. Its error
// names a log_level it does not know.
func newLogWriter(v *viper.Viper, stderr io.Writer) (io.Writer, error) {
	w := &logWriter{stderr: stderr, min: 6}
	if l := strings.ToLower(v.GetString("log_level")); l != "" {
		w.min = -1
		for i, n := range logLevels {
			if n == l {
				w.min = i
			}
		}
		if w.min < 0 {
			return nil, fmt.Errorf("log_level %q: want one of %s", l, strings.Join(logLevels, ", "))
		}
	}
	if v.IsSet("log_stderr") && !v.GetBool("log_stderr") {
		w.stderr = nil
	}
	if v.GetBool("log_syslog") {
		s, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "peregrine")
		if err != nil {
			fmt.Fprintln(stderr, "peregrine: warning: log_syslog: no syslog here, messages go to stderr only:", err)
			w.stderr = stderr
		} else {
			w.syslog = s
		}
	}
	return w, nil
}

func messageLevel(line string) int {
	switch {
	case strings.Contains(line, "warning:"):
		return 4
	case strings.Contains(line, "refused"), strings.Contains(line, "failed"), strings.Contains(line, "error"):
		return 3
	}
	return 6
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		level := messageLevel(string(line))
		if level > w.min {
			continue
		}
		if w.stderr != nil {
			if _, err := w.stderr.Write(line); err != nil {
				return 0, err
			}
		}
		if w.syslog != nil {
			msg := strings.TrimSpace(strings.TrimPrefix(string(line), "peregrine: "))
			switch level {
			case 3:
				_ = w.syslog.Err(msg)
			case 4:
				_ = w.syslog.Warning(msg)
			default:
				_ = w.syslog.Info(msg)
			}
		}
	}
	return len(p), nil
}
