package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alertJSON is the part of a JSON alert these tests read.
type alertJSON struct {
	Rule         string         `json:"rule"`
	Time         time.Time      `json:"time"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
}

func parseAlerts(t *testing.T, text string) []alertJSON {
	t.Helper()
	var out []alertJSON
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var a alertJSON
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("alert %s: %v", line, err)
		}
		out = append(out, a)
	}
	return out
}

func byRule(alerts []alertJSON, rule string) []alertJSON {
	var out []alertJSON
	for _, a := range alerts {
		if a.Rule == rule {
			out = append(out, a)
		}
	}
	return out
}

func openRule(name, path, extra string) string {
	return fmt.Sprintf("- rule: %s\n  desc: test\n  condition: evt.type in (open, openat, openat2) and fd.name = %s\n  output: %s opened %%fd.name\n  priority: warning\n%s", name, path, name, extra)
}

func openN(t *testing.T, path string, n int) {
	t.Helper()
	for range n {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// stopCLI sends SIGINT and waits for the exit; the pipes are read to their
// end after.
func stopCLI(t *testing.T, cmd *exec.Cmd, logs *lines) {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.text())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20 s after SIGINT\n%s", logs.text())
	}
	time.Sleep(200 * time.Millisecond)
}

// TestLiveNoise: floods of real opens, each matched by a rule with one
// noise key, are cut as the keys say, with exact counts: throttle sends
// its rate and counts the rest, dedup sends the first alert and one
// carrying the repeats, skip_events alerts on the Nth match and not
// before. Nothing is lost in the kernel, so the counts are exact.
func TestLiveNoise(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	paths := map[string]string{}
	for _, n := range []string{"throttled", "deduped", "skipped"} {
		paths[n] = filepath.Join(dir, n)
		os.WriteFile(paths[n], nil, 0o644)
	}
	rules := filepath.Join(dir, "noise.yaml")
	os.WriteFile(rules, []byte(openRule("Throttled open", paths["throttled"], "  throttle: {rate: 5, per: 1h}\n")+
		openRule("Deduped open", paths["deduped"], "  dedup: {window: 1h}\n")+
		openRule("Skipped open", paths["skipped"], "  skip_events: {count: 50, within: 1h}\n")), 0o644)
	metricsFile := filepath.Join(dir, "metrics.json")
	cmd, alerts, logs := startCLI(t, os.Args[0], "run", "-r", rules, "-o", "json_output=true", "--metrics-file", metricsFile)
	defer cmd.Process.Kill()
	logs.waitFor(t, "the capture", nil, "capturing")
	// Opens until the first alert (the probe is attached once
	// "capturing" is printed, so each of them is seen), then the rest of
	// the 1000.
	pokes := 0
	alerts.waitFor(t, "the first throttled alert", func() { pokes++; openN(t, paths["throttled"], 1) }, "Throttled open")
	openN(t, paths["throttled"], 1000-pokes)
	openN(t, paths["deduped"], 1000)
	openN(t, paths["skipped"], 49)
	time.Sleep(500 * time.Millisecond)
	if n := alerts.count("Skipped open"); n != 0 {
		t.Errorf("skip_events alerted after 49 of 50 matches")
	}
	openN(t, paths["skipped"], 1)
	alerts.waitFor(t, "the 50th skipped match", nil, "Skipped open")
	stopCLI(t, cmd, logs)

	got := parseAlerts(t, alerts.text())
	log := logs.text()
	if !strings.Contains(log, "lost 0,") {
		t.Fatalf("events lost, the counts cannot be exact:\n%s", log)
	}
	throttled := byRule(got, "Throttled open")
	if len(throttled) != 5 {
		t.Errorf("throttle rate 5: %d alerts", len(throttled))
	}
	if !strings.Contains(log, "Throttled open: 995 alerts suppressed (throttle 995, skip_events 0, dedup 0)") {
		t.Errorf("no summary of 995 throttled alerts:\n%s", log)
	}
	deduped := byRule(got, "Deduped open")
	if len(deduped) != 2 || deduped[1].OutputFields["peregrine.repeats"] != float64(999) ||
		!strings.Contains(deduped[1].Output, "(repeated 999 more times)") {
		t.Errorf("dedup: want the first alert and one with 999 repeats, got %+v", deduped)
	}
	skipped := byRule(got, "Skipped open")
	if len(skipped) != 1 || skipped[0].OutputFields["peregrine.suppressed"] != float64(49) {
		t.Errorf("skip_events count 50: want one alert telling 49 held back, got %+v", skipped)
	}
	var counts map[string]uint64
	data, err := os.ReadFile(metricsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &counts); err != nil {
		t.Fatal(err)
	}
	if counts["alerts.suppressed"] != 995+999+49 || counts["output.stdout.delivered"] != uint64(len(got)) {
		t.Errorf("metrics file: alerts.suppressed %d (want %d), output.stdout.delivered %d (want %d)",
			counts["alerts.suppressed"], 995+999+49, counts["output.stdout.delivered"], len(got))
	}
}

// TestReloadUnderLoad: under a steady load of matching opens, a change to
// the rules file is picked up by the watch and swapped in with no event
// lost in the kernel; the new rule alerts only for events after the
// change; a broken change is refused and counted, and the rules before it
// keep alerting.
func TestReloadUnderLoad(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	oldPath, newPath := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	os.WriteFile(oldPath, nil, 0o644)
	os.WriteFile(newPath, nil, 0o644)
	rules := filepath.Join(dir, "rules.yaml")
	write := func(text string) {
		tmp := rules + ".tmp"
		os.WriteFile(tmp, []byte(text), 0o644)
		if err := os.Rename(tmp, rules); err != nil {
			t.Fatal(err)
		}
	}
	write(openRule("Old rule", oldPath, ""))
	cmd, alerts, logs := startCLI(t, os.Args[0], "run", "-r", rules, "-o", "json_output=true")
	defer cmd.Process.Kill()
	logs.waitFor(t, "the capture", nil, "capturing")

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, p := range []string{oldPath, newPath} {
				if f, err := os.Open(p); err == nil {
					f.Close()
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()
	alerts.waitFor(t, "the old rule's alert", nil, "Old rule")
	changed := time.Now()
	write(openRule("New rule", newPath, ""))
	logs.waitFor(t, "the reload", nil, "reloaded 1 rules")
	reloaded := time.Now()
	alerts.waitFor(t, "the new rule's alert", nil, "New rule")
	write("- rule: Broken\n  condition: evt.type = \n")
	logs.waitFor(t, "the refused reload", nil, "reload refused")
	refused := time.Now()
	n := alerts.count("New rule")
	deadline := time.Now().Add(10 * time.Second)
	for alerts.count("New rule") <= n+10 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	<-done
	stopCLI(t, cmd, logs)

	got := parseAlerts(t, alerts.text())
	log := logs.text()
	if !strings.Contains(log, "lost 0,") {
		t.Errorf("events lost across the reloads:\n%s", log)
	}
	if !strings.Contains(log, "reloads 1 applied, 1 refused") {
		t.Errorf("no count of the reloads:\n%s", log)
	}
	var newAfterRefused int
	for _, a := range byRule(got, "New rule") {
		if a.Time.Before(changed) {
			t.Errorf("new rule alerted for an event at %v, before the change at %v", a.Time, changed)
		}
		if a.Time.After(refused) {
			newAfterRefused++
		}
	}
	if newAfterRefused == 0 {
		t.Errorf("after the refused reload the running rule stopped alerting")
	}
	for _, a := range byRule(got, "Old rule") {
		if a.Time.After(reloaded) {
			t.Errorf("old rule alerted for an event at %v, after the reload at %v", a.Time, reloaded)
		}
	}
}

// TestConfigWatch: a change to the configuration file is picked up as a
// change to the rules is: a selection added to it disables its rule.
func TestConfigWatch(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, nil, 0o644)
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(openRule("Kept rule", target, "")+openRule("Dropped rule", target, "")), 0o644)
	cfg := filepath.Join(dir, "peregrine.yaml")
	write := func(text string) {
		os.WriteFile(cfg+".tmp", []byte(text), 0o644)
		if err := os.Rename(cfg+".tmp", cfg); err != nil {
			t.Fatal(err)
		}
	}
	write("rules_files: [" + rules + "]\nrule_matching: all\njson_output: true\n")
	cmd, alerts, logs := startCLI(t, os.Args[0], "-c", cfg, "run")
	defer cmd.Process.Kill()
	logs.waitFor(t, "the capture", nil, "capturing")
	poke := func() { openN(t, target, 1) }
	alerts.waitFor(t, "both rules' alerts", poke, "Dropped rule")
	write("rules_files: [" + rules + "]\nrule_matching: all\njson_output: true\nrules:\n  - disable: {rule: Dropped*}\n")
	logs.waitFor(t, "the reload", nil, "reloaded 1 rules")
	reloaded := time.Now()
	n := alerts.count("Kept rule")
	alerts.waitFor(t, "the kept rule's alerts after the reload", func() {
		poke()
		if alerts.count("Kept rule") < n+5 {
			time.Sleep(10 * time.Millisecond)
		}
	}, "Kept rule")
	for alerts.count("Kept rule") < n+5 {
		poke()
		time.Sleep(10 * time.Millisecond)
	}
	stopCLI(t, cmd, logs)
	for _, a := range byRule(parseAlerts(t, alerts.text()), "Dropped rule") {
		if a.Time.After(reloaded) {
			t.Errorf("the disabled rule alerted at %v, after the reload at %v", a.Time, reloaded)
		}
	}
}
