package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v2Manager drives one cgroup of a pure cgroup v2 host (or of a test tree:
// root is a parameter so tests can point it at a temporary directory).
type v2Manager struct {
	// root is the hierarchy's mountpoint; dir the container's cgroup.
	root, dir string
	// created is set when Apply made dir (and so Destroy removes it).
	created bool
	res     *specs.LinuxResources
	// rootless tolerates a cgroup that cannot be created or joined.
	rootless bool
	// skipped is set for a rootless manager that could not join.
	skipped bool
	// onMkdir, when set, is called for each directory create makes: the
	// unit tests use it to play the kernel's part over a fake tree.
	onMkdir func(dir string) error
}

// v2Dir returns the container's directory on a v2 host. A relative path is
// nested under the parent of the caller's cgroup, as runc does: the
// caller's own cgroup has a process in it (the caller), so by the v2 "no
// internal processes" rule it could not enable controllers for a child.
func v2Dir(root, inner string, abs bool) (string, error) {
	if abs {
		return filepath.Join(root, inner), nil
	}
	data, err := readProcSelf("cgroup")
	if err != nil {
		return "", err
	}
	own, err := ownUnifiedPath(data)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.Dir(own), inner), nil
}

// Apply creates the cgroup, enabling on every ancestor the controllers the
// container may use, moves pid into it and writes the resources the
// manager was made with.
func (m *v2Manager) Apply(pid int) error {
	if err := m.join(pid); err != nil {
		return err
	}
	return m.Set(m.res)
}

// join creates the cgroup and moves pid into it.
func (m *v2Manager) join(pid int) (retErr error) {
	// On failure, remove the cgroup only if this call created it.
	had := m.created
	defer func() {
		if retErr != nil && !had && m.created {
			_ = m.Destroy()
		}
	}()
	err := m.create()
	if err == nil && pid > 0 {
		err = writePid(m.dir, pid)
	}
	if err != nil {
		if m.rootless && isPermission(err) {
			m.skipped = true
			return nil
		}
		return fmt.Errorf("join cgroup %s: %w", m.dir, err)
	}
	return nil
}

// Join moves pid into the existing cgroup.
func (m *v2Manager) Join(pid int) error {
	if m.skipped {
		return nil
	}
	err := writePid(m.dir, pid)
	if err != nil && m.rootless && (isPermission(err) || errors.Is(err, unix.ENOENT)) {
		return nil
	}
	if err != nil {
		return joinErr(m.dir, err)
	}
	return nil
}

// create makes m.dir and enables the parent's available controllers in
// each ancestor's cgroup.subtree_control, top down.
func (m *v2Manager) create() error {
	rel, err := filepath.Rel(m.root, m.dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cgroup %s is not under %s", m.dir, m.root)
	}
	cur := m.root
	for _, part := range strings.Split(rel, "/") {
		if err := v2EnableAll(cur); err != nil {
			return err
		}
		cur = filepath.Join(cur, part)
		err := os.Mkdir(cur, 0o755)
		switch {
		case err == nil:
			if cur == m.dir {
				m.created = true
			}
			if m.onMkdir != nil {
				if err := m.onMkdir(cur); err != nil {
					return err
				}
			}
		case errors.Is(err, os.ErrExist):
		default:
			return fmt.Errorf("mkdir %s: %w", cur, unwrapPathError(err))
		}
	}
	return nil
}

// v2EnableAll enables in dir's cgroup.subtree_control every controller of
// its cgroup.controllers that is not enabled yet. All at once first; when
// that fails (a controller that cannot be enabled here, such as a
// threaded-only one), one by one, keeping those that work.
func v2EnableAll(dir string) error {
	avail, err := readFile(dir, "cgroup.controllers")
	if err != nil {
		return err
	}
	enabled, err := readFile(dir, "cgroup.subtree_control")
	if err != nil {
		return err
	}
	var want []string
	for _, c := range strings.Fields(avail) {
		if !hasWord(enabled, c) {
			want = append(want, "+"+c)
		}
	}
	if len(want) == 0 {
		return nil
	}
	if err := writeFile(dir, "cgroup.subtree_control", strings.Join(want, " ")); err == nil {
		return nil
	}
	for _, w := range want {
		_ = writeFile(dir, "cgroup.subtree_control", w)
	}
	return nil
}

// v2EnableController enables controller in cgroup.subtree_control of
// every directory from root down to dir's parent.
func v2EnableController(root, dir, controller string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cgroup %s is not under %s", dir, root)
	}
	cur := root
	parts := strings.Split(rel, "/")
	if rel == "." {
		parts = nil
	}
	for _, part := range parts {
		enabled, err := readFile(cur, "cgroup.subtree_control")
		if err != nil {
			return err
		}
		if !hasWord(enabled, controller) {
			if err := writeFile(cur, "cgroup.subtree_control", "+"+controller); err != nil {
				return fmt.Errorf("enable the %s controller: %w", controller, err)
			}
		}
		cur = filepath.Join(cur, part)
	}
	return nil
}

// Pids lists the processes of the cgroup and its children.
func (m *v2Manager) Pids() ([]int, error) { return readPidsRecursive(m.dir) }

// Freeze writes cgroup.freeze and waits for cgroup.events to say frozen.
func (m *v2Manager) Freeze() error { return m.freeze("1", "frozen 1") }

// Thaw writes 0 to cgroup.freeze and waits for cgroup.events to agree.
func (m *v2Manager) Thaw() error { return m.freeze("0", "frozen 0") }

func (m *v2Manager) freeze(val, want string) error {
	what := "freeze"
	if val == "0" {
		what = "thaw"
	}
	if err := writeFile(m.dir, "cgroup.freeze", val); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(m.dir); serr != nil {
				// The cgroup itself is gone, not the file.
				return fmt.Errorf("%s: %w", what, serr)
			}
			return fmt.Errorf("%s: no cgroup.freeze (kernel older than v5.2): %w", what, ErrNotSupported)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	delay := time.Millisecond
	for i := 0; i < 200; i++ {
		ev, err := readFile(m.dir, "cgroup.events")
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		for line := range strings.Lines(ev) {
			if strings.TrimSpace(line) == want {
				return nil
			}
		}
		time.Sleep(delay)
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
	if val == "1" {
		_ = writeFile(m.dir, "cgroup.freeze", "0")
	}
	return fmt.Errorf("%s %s: timed out waiting for %q in cgroup.events", what, m.dir, want)
}

// Frozen reads cgroup.freeze.
func (m *v2Manager) Frozen() (bool, error) {
	s, err := readFile(m.dir, "cgroup.freeze")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return strings.TrimSpace(s) == "1", nil
}

// Destroy removes the cgroup if Apply created it.
func (m *v2Manager) Destroy() error {
	if !m.created {
		return nil
	}
	if err := rmdirCgroup(m.dir); err != nil {
		return err
	}
	m.created = false
	return nil
}

// Path returns the cgroup's directory for "" and nothing for v1 names.
func (m *v2Manager) Path(controller string) string {
	if controller != "" {
		return ""
	}
	return m.dir
}

// State returns the manager's persisted form.
func (m *v2Manager) State() *State {
	s := &State{Driver: DriverFS, Paths: map[string]string{"": m.dir}, Rootless: m.rootless}
	if m.created {
		s.Created = []string{m.dir}
	}
	return s
}
