package cgroups

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeFile writes value to the cgroup file dir/name in one write(2), as
// the kernel parses each write on its own.
func writeFile(dir, name, value string) error {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, unwrapPathError(err))
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, unwrapPathError(err))
	}
	return nil
}

// cgroupFile is a cgroup file open for several writes, each of which the
// kernel parses on its own (devices.allow takes one rule per write).
type cgroupFile struct {
	f    *os.File
	path string
}

func openCgroupFile(dir, name string) (*cgroupFile, error) {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, unwrapPathError(err))
	}
	return &cgroupFile{f: f, path: p}, nil
}

func (c *cgroupFile) write(value string) error {
	if _, err := c.f.WriteString(value); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, c.path, unwrapPathError(err))
	}
	return nil
}

// Close closes the file.
func (c *cgroupFile) Close() error { return c.f.Close() }

// unwrapPathError drops the *PathError around an errno: the callers already
// name the file.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readFile reads the cgroup file dir/name.
func readFile(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	data, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, unwrapPathError(err))
	}
	return string(data), nil
}

// readUint reads a file holding one number; "max" (v2) and the v1
// "unlimited" values read as math.MaxUint64.
func readUint(dir, name string) (uint64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	v, err := parseUint(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
	}
	return v, nil
}

// parseUint parses a cgroup number; "max" is math.MaxUint64, and a negative
// number (v1's -1 for "no limit") is 0, as runc reads them.
func parseUint(s string) (uint64, error) {
	if s == "max" {
		return math.MaxUint64, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if iv, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && iv < 0 {
			return 0, nil
		}
		return 0, err
	}
	return v, nil
}

// readKeyValues parses a flat keyed file ("key value" per line), such as
// memory.stat, cpu.stat, memory.events, into a map.
func readKeyValues(dir, name string) (map[string]uint64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return nil, err
	}
	m := make(map[string]uint64)
	for line := range strings.Lines(s) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		n, err := parseUint(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("parse %s line %q: %w", filepath.Join(dir, name), strings.TrimSpace(line), err)
		}
		m[k] = n
	}
	return m, nil
}

// readPids reads the pids of one cgroup.procs file.
func readPids(dir string) ([]int, error) {
	s, err := readFile(dir, "cgroup.procs")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(s) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "cgroup.procs"), err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// readPidsRecursive reads cgroup.procs of dir and of every cgroup under it.
func readPidsRecursive(dir string) ([]int, error) {
	var all []int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p != dir {
				return nil // removed while walking
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		pids, err := readPids(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p != dir {
				return nil
			}
			return err
		}
		all = append(all, pids...)
		return nil
	})
	return all, err
}

// writePid moves pid into the cgroup dir. The write is retried a few times
// on EINVAL: the kernel refuses to move a task that is itself in the middle
// of being moved or is exiting, which is transient.
func writePid(dir string, pid int) error {
	var err error
	for i := 0; i < 5; i++ {
		if err = writeFile(dir, "cgroup.procs", strconv.Itoa(pid)); err == nil || !errors.Is(err, unix.EINVAL) {
			return err
		}
		time.Sleep(time.Duration(i+1) * 10 * time.Millisecond)
	}
	return err
}

// joinErr words a failed write of a pid to dir's cgroup.procs: a missing
// directory means the cgroup was removed (the container deleted).
func joinErr(dir string, err error) error {
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("join cgroup %s: the cgroup no longer exists", dir)
	}
	return fmt.Errorf("join cgroup %s: %w", dir, err)
}

// mkdirCgroup creates dir and the missing directories above it (down from
// the hierarchy's mountpoint stop). It reports whether dir itself was
// created, and calls made for every directory it created, top down.
func mkdirCgroup(stop, dir string, made func(string) error) (bool, error) {
	rel, err := filepath.Rel(stop, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return false, fmt.Errorf("cgroup %s is not under %s", dir, stop)
	}
	// The parent usually exists: one mkdir(2) is then all it takes.
	err = os.Mkdir(dir, 0o755)
	switch {
	case err == nil:
		return true, mkdirMade(dir, made)
	case errors.Is(err, os.ErrExist):
		return false, nil
	case !errors.Is(err, os.ErrNotExist):
		return false, fmt.Errorf("mkdir %s: %w", dir, unwrapPathError(err))
	}
	cur := stop
	created := false
	for _, part := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, part)
		err := os.Mkdir(cur, 0o755)
		switch {
		case err == nil:
			created = cur == dir
			if err := mkdirMade(cur, made); err != nil {
				return false, err
			}
		case errors.Is(err, os.ErrExist):
			created = false
		default:
			return false, fmt.Errorf("mkdir %s: %w", cur, unwrapPathError(err))
		}
	}
	return created, nil
}

// mkdirMade calls made for a directory mkdirCgroup created, removing the
// directory again if made fails.
func mkdirMade(dir string, made func(string) error) error {
	if made == nil {
		return nil
	}
	if err := made(dir); err != nil {
		_ = unix.Rmdir(dir)
		return err
	}
	return nil
}

// rmdirCgroup removes a cgroup directory and every cgroup under it, deepest
// first. rmdir of a cgroup whose last task has just exited can fail with
// EBUSY for a short while (the kernel frees the css asynchronously), so it
// is retried with a growing delay.
func rmdirCgroup(dir string) error {
	// Most cgroups have no children: try the rmdir(2) before reading the
	// directory (a cgroup with children fails with EBUSY).
	err := unix.Rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
		return fmt.Errorf("rmdir %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read cgroup %s: %w", dir, unwrapPathError(err))
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := rmdirCgroup(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	// About 1.5 s in all: a zombie keeps a v1 cgroup busy until its
	// parent (or, for an init whose hull was killed, whoever adopted it)
	// reaps it, which takes a moment but always happens.
	delay := 5 * time.Millisecond
	for i := 0; ; i++ {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if errors.Is(err, unix.EBUSY) {
			// Live tasks keep it busy for good: say so at once. cgroup
			// v1 lists zombies too; those are waited for.
			if pids, perr := readPids(dir); perr == nil && len(livePids(pids)) > 0 {
				return fmt.Errorf("rmdir %s: cgroup still has processes %v: %w", dir, livePids(pids), err)
			}
		}
		if !errors.Is(err, unix.EBUSY) || i == 10 {
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// livePids returns the pids that are neither gone nor zombies (state Z or
// X in /proc/PID/stat).
func livePids(pids []int) []int {
	var live []int
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// The state follows the command name, which ends at the last ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) {
			continue
		}
		if st := b[i+2]; st != 'Z' && st != 'X' {
			live = append(live, pid)
		}
	}
	return live
}

// isPermission reports an error that a rootless caller may meet on a
// cgroup it was not delegated.
func isPermission(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS)
}

// firstLine returns s up to its first newline, without it.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// hasWord reports whether the space-separated list s contains w.
func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}
