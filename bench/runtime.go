package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runtime is one OCI runtime under test, with its own private --root.
type runtime struct {
	name string
	bin  string
	root string
}

// sample is one runtime call: wall time from fork to wait4, or, for a call
// made through /usr/bin/time, the peak RSS it reports.
type sample struct {
	dur      time.Duration
	cpu      time.Duration // user+sys of the call and the children it reaped
	maxRSSKB int64
}

// timeBin measures peak RSS. Not wait4 from this driver: Go spawns children
// with CLONE_VM|CLONE_VFORK, and execve folds the shared mm's high-water RSS
// (the driver's own, ~6 MB) into the child's ru_maxrss, hiding anything
// smaller (crun's ~3 MB). /usr/bin/time fork()s from a ~1 MB process.
const timeBin = "/usr/bin/time"

// call runs the runtime with args and fails with its stderr when it exits
// non-zero. Stdio are files, never pipes: a detached container inherits them
// and a pipe would keep Wait from returning until the container exits.
func (r *runtime) call(tmp string, args ...string) (sample, error) {
	return r.exec(tmp, false, args...)
}

// callRSS is call under /usr/bin/time -f %M; its duration includes time's
// own fork and is not reported.
func (r *runtime) callRSS(tmp string, args ...string) (sample, error) {
	return r.exec(tmp, true, args...)
}

func (r *runtime) exec(tmp string, rss bool, args ...string) (sample, error) {
	errf, err := os.CreateTemp(tmp, "stderr-")
	if err != nil {
		return sample{}, fmt.Errorf("stderr file: %w", err)
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return sample{}, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer devnull.Close()

	argv := append([]string{r.bin, "--root", r.root}, args...)
	var rssFile string
	if rss {
		f, err := os.CreateTemp(tmp, "rss-")
		if err != nil {
			return sample{}, fmt.Errorf("rss file: %w", err)
		}
		rssFile = f.Name()
		f.Close()
		defer os.Remove(rssFile)
		argv = append([]string{timeBin, "-f", "%M", "-o", rssFile, "--"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, errf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, fmt.Errorf("%s %s: %w", r.name, strings.Join(args, " "), err)
	}
	werr := cmd.Wait()
	d := time.Since(start)
	if werr != nil {
		msg, _ := os.ReadFile(errf.Name())
		return sample{}, fmt.Errorf("%s %s: %w: %s", r.name, strings.Join(args, " "), werr, bytes.TrimSpace(msg))
	}
	s := sample{dur: d}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && !rss {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if rss {
		b, err := os.ReadFile(rssFile)
		if err != nil {
			return sample{}, fmt.Errorf("read %s output: %w", timeBin, err)
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return sample{}, fmt.Errorf("%s wrote nothing", timeBin)
		}
		if s.maxRSSKB, err = strconv.ParseInt(f[len(f)-1], 10, 64); err != nil {
			return sample{}, fmt.Errorf("%s output %q: %w", timeBin, b, err)
		}
	}
	return s, nil
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", path, err)
	}
	return pid, nil
}

// waitPid reaps a container init that became our child when the runtime
// that created it exited (we are a child subreaper).
func waitPid(pid int) error {
	for {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait4 %d: %w", pid, err)
		}
		return nil
	}
}

// initMemory reads a created container's init memory: VmRSS from status and
// Pss from smaps_rollup (shared file pages split between sharers), in kB.
func initMemory(pid int) (rssKB, pssKB int64, err error) {
	rssKB, err = procField(filepath.Join("/proc", strconv.Itoa(pid), "status"), "VmRSS:")
	if err != nil {
		return 0, 0, err
	}
	pssKB, err = procField(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"), "Pss:")
	return rssKB, pssKB, err
}

func procField(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// reapOrphans collects any exited children we adopted without waiting for
// them by pid. Only called when no runtime call is in flight, so it cannot
// steal a status exec.Cmd.Wait is waiting for.
func reapOrphans() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
