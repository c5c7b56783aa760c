package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/peregrine-sec/peregrine/loader"
)

// watchDebounce is how long the watch waits after a change for more
// (an editor writes a file in several steps) before it reloads.
const watchDebounce = 300 * time.Millisecond

// reloader reloads the configuration and the rules on SIGHUP and, with
// watch_config_files, when one of their files changes. A configuration or
// ruleset that does not load or compile is reported and counted, and the
// running rules stay.
type reloader struct {
	cmd     *cobra.Command
	running *runningRules
	stderr  io.Writer
	// watched are the files and rules directories whose changes reload;
	// other files in the directories watched are not.
	watched map[string]bool
	// applied and refused count the reloads, for the exit summary.
	applied, refused atomic.Uint64
}

// start watches the files (with watch_config_files) before it returns,
// so that a change made once run is capturing is seen, and reloads on
// each SIGHUP and change until ctx ends.
func (rl *reloader) start(ctx context.Context, hup <-chan os.Signal, v *viper.Viper) {
	var w *fsnotify.Watcher
	if watchEnabled(v) {
		var err error
		if w, err = fsnotify.NewWatcher(); err != nil {
			fmt.Fprintln(rl.stderr, "peregrine: warning: cannot watch the rules and configuration files (reload with SIGHUP):", err)
			w = nil
		} else {
			rl.watch(w, v)
		}
	}
	go rl.run(ctx, hup, w)
}

func (rl *reloader) run(ctx context.Context, hup <-chan os.Signal, w *fsnotify.Watcher) {
	var changes <-chan fsnotify.Event
	var watchErrs <-chan error
	if w != nil {
		defer func() { _ = w.Close() }()
		changes, watchErrs = w.Events, w.Errors
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		case ev := <-changes:
			if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 && rl.concerns(ev.Name) {
				debounce = time.After(watchDebounce)
			}
			continue
		case err := <-watchErrs:
			// An overflow lost changes: reload, as for one.
			fmt.Fprintln(rl.stderr, "peregrine: warning: watching the rules and configuration files:", err)
			debounce = time.After(watchDebounce)
			continue
		case <-debounce:
			debounce = nil
		}
		if nv, ok := rl.reload(); ok && w != nil {
			rl.watch(w, nv)
		}
	}
}

// watch adds the configuration file and the rules paths to w: the
// directories that hold them, since editors and ConfigMap updates
// replace a file by renaming another over it.
func (rl *reloader) watch(w *fsnotify.Watcher, v *viper.Viper) {
	paths := v.GetStringSlice("rules_files")
	if f := v.GetString("config-file"); f != "" {
		paths = append(paths, f)
	}
	rl.watched = map[string]bool{}
	for _, p := range paths {
		if p == loader.DefaultPath {
			continue
		}
		p = filepath.Clean(p)
		rl.watched[p] = true
		dir := p
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			dir = filepath.Dir(p)
		}
		if err := w.Add(dir); err != nil {
			fmt.Fprintf(rl.stderr, "peregrine: warning: cannot watch %s (reload with SIGHUP): %v\n", dir, err)
		}
	}
}

// concerns reports whether a change to the file name is a change to the
// configuration or the rules: the file is one of them, or in a rules
// directory.
func (rl *reloader) concerns(name string) bool {
	name = filepath.Clean(name)
	return rl.watched[name] || rl.watched[filepath.Dir(name)]
}

// reload reads the configuration again (file, environment, flags, -o),
// loads the rules it names and swaps them in. It returns the
// configuration read, and whether the swap happened.
func (rl *reloader) reload() (*viper.Viper, bool) {
	nv := viper.New()
	refuse := func(err error) (*viper.Viper, bool) {
		var ee exitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("the rules have errors (above)")
		}
		rl.refused.Add(1)
		fmt.Fprintln(rl.stderr, "peregrine: reload refused, the running rules stay:", err)
		return nil, false
	}
	if err := loadConfig(nv, rl.cmd); err != nil {
		return refuse(err)
	}
	settings, err := ruleSettings(nv)
	if err != nil {
		return refuse(err)
	}
	res, err := loadRules(nv, rl.stderr, true)
	if err != nil {
		return refuse(err)
	}
	warnings, err := rl.running.setBase(res, settings)
	for _, w := range warnings {
		fmt.Fprintln(rl.stderr, "peregrine: reload:", w)
	}
	if err != nil {
		return refuse(err)
	}
	rl.applied.Add(1)
	fmt.Fprintf(rl.stderr, "peregrine: reloaded %d rules\n", len(res.Ruleset.Enabled()))
	return nv, true
}

// watchEnabled reads watch_config_files (default true, as Falco's).
func watchEnabled(v *viper.Viper) bool {
	if v.IsSet("watch_config_files") {
		return v.GetBool("watch_config_files")
	}
	return true
}
