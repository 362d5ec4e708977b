package intelrdt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Manager is one container's resctrl groups. New prepares it (finding the
// mount, computing paths); Apply creates and joins; Load rebuilds it from
// State for the commands that act on an existing container.
type Manager struct {
	id  string
	cfg *specs.LinuxIntelRdt
	st  State
	// onMkdir, when set, is called for each group Apply makes: the tests
	// play the kernel's part (populating the new directory) there.
	onMkdir func(dir string) error
	// rmdir removes a group (unix.Rmdir: the kernel drops a group's
	// files with it; the tests' fake tree needs more).
	rmdir func(dir string) error
}

// New returns the manager of linux.intelRdt c for container id, or nil
// when c is nil (the spec: without intelRdt, resctrl is never touched). It
// fails, naming the field, when no resctrl filesystem is mounted.
func New(c *specs.LinuxIntelRdt, id string) (*Manager, error) {
	if c == nil {
		return nil, nil
	}
	root, err := Root()
	if err != nil {
		return nil, fmt.Errorf("linux.intelRdt: %w", err)
	}
	return newAt(root, c, id)
}

// newAt is New over the resctrl tree at root (a fake tree in the tests).
func newAt(root string, c *specs.LinuxIntelRdt, id string) (*Manager, error) {
	if err := Validate(c); err != nil {
		return nil, fmt.Errorf("linux.intelRdt.%w", err)
	}
	if c.ClosID == "" && (id == "" || checkClosID(id) != nil || id == "/") {
		return nil, fmt.Errorf("linux.intelRdt: container id %q cannot name a resctrl group", id)
	}
	m := &Manager{id: id, cfg: c, st: State{Root: root}, rmdir: unix.Rmdir}
	switch c.ClosID {
	case "/":
		m.st.Path = root
	case "":
		m.st.Path = filepath.Join(root, id)
	default:
		m.st.Path = filepath.Join(root, c.ClosID)
	}
	if c.EnableMonitoring {
		m.st.MonPath = filepath.Join(m.st.Path, "mon_groups", id)
	}
	return m, nil
}

// Load rebuilds the manager of an existing container from its State; nil
// when the container has no group (s nil or empty).
func Load(s *State) *Manager {
	if s == nil || s.Path == "" {
		return nil
	}
	return &Manager{st: *s, rmdir: unix.Rmdir}
}

// Root finds the resctrl mount: DefaultRoot when it holds resctrl (one
// statfs), else the first resctrl mount in /proc/self/mountinfo (the
// process's mount namespace, which the spec calls the runtime's: hull
// never gives a thread a mount namespace of its own, so the process's
// list is every thread's). The error wraps ErrNotMounted.
func Root() (string, error) {
	var st unix.Statfs_t
	if unix.Statfs(DefaultRoot, &st) == nil && st.Type == unix.RDTGROUP_SUPER_MAGIC {
		return DefaultRoot, nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("look for a resctrl mount: %w", err)
	}
	defer f.Close()
	ms, err := mountinfo.GetMountsFromReader(f, mountinfo.FSTypeFilter("resctrl"))
	if err != nil {
		return "", fmt.Errorf("look for a resctrl mount: %w", err)
	}
	if len(ms) == 0 {
		return "", fmt.Errorf("%w (mount it with: mount -t resctrl resctrl %s)", ErrNotMounted, DefaultRoot)
	}
	return ms[0].Mountpoint, nil
}

// State returns what to persist to Load the manager later.
func (m *Manager) State() *State {
	s := m.st
	return &s
}

// Intended is the State to persist before Apply, so that a create killed
// during Apply leaves the groups to delete: the CTRL_MON group is marked
// for removal when Apply will create it (closID unset and no such
// directory yet), the MON group when it does not exist yet.
func (m *Manager) Intended() *State {
	s := m.st
	if m.cfg != nil && m.cfg.ClosID == "" {
		_, err := os.Lstat(s.Path)
		s.Remove = errors.Is(err, os.ErrNotExist)
	}
	if s.MonPath != "" {
		if _, err := os.Lstat(s.MonPath); err == nil {
			s.MonPath = ""
		}
	}
	return &s
}

// Path is the container's CTRL_MON group directory.
func (m *Manager) Path() string { return m.st.Path }

// Apply creates or checks the container's group as the spec's rules say
// (see the package doc), writes its schemata, makes the MON group, and
// moves pid into both (pid <= 0: create only). On failure, what this call
// created is removed again.
func (m *Manager) Apply(pid int) (retErr error) {
	var made []string
	defer func() {
		if retErr != nil {
			for i := len(made) - 1; i >= 0; i-- {
				_ = m.rmdir(made[i])
			}
		}
	}()
	c := m.cfg
	field := "linux.intelRdt.closID"
	if c.ClosID == "" {
		field = "linux.intelRdt"
	}
	writes := schemaWrites(c)
	created := false
	switch {
	case c.ClosID == "/":
	case c.ClosID == "":
		// Named after the container: hull's own, so it must not exist.
		if err := m.mkdir(m.st.Path); err != nil {
			if errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("%s: resctrl group %s already exists: a container without closID gets a group of its own (remove the leftover, or set closID to share it)", field, m.st.Path)
			}
			return fmt.Errorf("%s: create resctrl group %s: %w", field, m.st.Path, groupErr(err))
		}
		made = append(made, m.st.Path)
		created = true
	case len(writes) == 0:
		// A pre-configured group, which must be there.
		if fi, err := os.Stat(m.st.Path); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s: resctrl group %s does not exist (a closID without a schema names a group set up beforehand)", field, m.st.Path)
		}
	default:
		err := m.mkdir(m.st.Path)
		switch {
		case err == nil:
			made = append(made, m.st.Path)
			created = true
		case errors.Is(err, unix.EEXIST):
		default:
			return fmt.Errorf("%s: create resctrl group %s: %w", field, m.st.Path, groupErr(err))
		}
	}
	if len(writes) > 0 {
		if created {
			if err := m.writeSchemata(writes); err != nil {
				return err
			}
		} else if err := m.checkSchemata(); err != nil {
			return err
		}
	}
	if m.st.MonPath != "" {
		if err := m.mkdir(m.st.MonPath); err != nil {
			return fmt.Errorf("linux.intelRdt.enableMonitoring: create MON group %s: %w", m.st.MonPath, monErr(err))
		}
		made = append(made, m.st.MonPath)
	}
	if pid > 0 {
		if err := m.Join(pid); err != nil {
			return err
		}
	}
	m.st.Remove = c.ClosID == "" && created
	return nil
}

func (m *Manager) mkdir(dir string) error {
	if err := unix.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if m.onMkdir != nil {
		if err := m.onMkdir(dir); err != nil {
			_ = m.rmdir(dir)
			return err
		}
	}
	return nil
}

// groupErr explains the errno of a failed mkdir of a CTRL_MON group.
func groupErr(err error) error {
	if errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("%w: no free class of service (CLOSID) left, see info/*/num_closids", err)
	}
	return err
}

// monErr explains the errno of a failed mkdir of a MON group.
func monErr(err error) error {
	switch {
	case errors.Is(err, unix.ENOSPC):
		return fmt.Errorf("%w: no free monitoring id (RMID) left, see info/L3_MON/num_rmids", err)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: the kernel or CPU has no resctrl monitoring (no mon_groups directory)", err)
	}
	return err
}

// writeSchemata writes each schema with its own write(2) in the spec's
// order; a refusal carries the kernel's reason (info/last_cmd_status).
func (m *Manager) writeSchemata(writes []string) error {
	for _, w := range writes {
		if err := m.writeSchema(w); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) writeSchema(w string) error {
	p := filepath.Join(m.st.Path, "schemata")
	err := writeFile(p, w)
	if err == nil {
		return nil
	}
	why := ""
	if b, rerr := os.ReadFile(filepath.Join(m.st.Root, "info", "last_cmd_status")); rerr == nil {
		if s := strings.TrimSpace(string(b)); s != "" && s != "ok" {
			why = " (resctrl: " + s + ")"
		}
	}
	return fmt.Errorf("linux.intelRdt: write %q to %s: %w%s", strings.TrimSuffix(w, "\n"), p, err, why)
}

// checkSchemata compares the schemas asked for with an existing group's
// schemata file.
func (m *Manager) checkSchemata() error {
	p := filepath.Join(m.st.Path, "schemata")
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("linux.intelRdt: read %s: %w", p, err)
	}
	if err := compareSchemata(string(b), wantedLines(m.cfg)); err != nil {
		return fmt.Errorf("linux.intelRdt: resctrl group %s exists with other schemata: %w", m.st.Path, err)
	}
	return nil
}

// Join moves pid into the container's group and MON group (exec, and
// Apply). The MON group comes second: the kernel takes a task there only
// once it is in the parent CTRL_MON group.
func (m *Manager) Join(pid int) error {
	for _, dir := range []string{m.st.Path, m.st.MonPath} {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, "tasks")
		if err := writeFile(p, strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("linux.intelRdt: add pid %d to %s: %w", pid, p, err)
		}
	}
	return nil
}

// Update writes new L3 and MB schemas (`update --l3-cache-schema`,
// `--mem-bw-schema`; "" leaves one unchanged) to the container's group.
// The root group is refused: its schemata is every other task's default.
func (m *Manager) Update(l3, mb string) error {
	if err := CheckSchemaUpdate(l3, mb); err != nil {
		return fmt.Errorf("update intel RDT: %w", err)
	}
	if m.st.Path == m.st.Root {
		return errors.New("update intel RDT: the container is in the root resctrl group (closID \"/\"), whose schemata is the host's default: not changed")
	}
	return m.writeSchemata(schemaWrites(&specs.LinuxIntelRdt{L3CacheSchema: l3, MemBwSchema: mb}))
}

// Destroy removes the MON group, and the CTRL_MON group when hull made it
// for a container without closID (the kernel moves any task left in them
// to the parent group). Gone already is fine; calling it twice is too.
func (m *Manager) Destroy() error {
	var errs []error
	for _, dir := range []string{m.st.MonPath, m.removable()} {
		if dir == "" {
			continue
		}
		if err := m.rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove resctrl group %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) removable() string {
	if m.st.Remove && m.st.Path != m.st.Root {
		return m.st.Path
	}
	return ""
}

// writeFile writes s to an existing resctrl file in one write(2).
func writeFile(p, s string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return unwrap(err)
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return unwrap(err)
}

// unwrap drops the *PathError around an errno: the callers name the file.
func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
