package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	systemdDbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/hullrt/hull/libct/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// systemdManager runs the container in a transient systemd unit (a scope,
// or a slice) created over D-Bus with github.com/coreos/go-systemd/v22,
// with Delegate=yes, and drives the cgroup's files through the filesystem
// manager of the unit's path for everything systemd does not do (freezing,
// stats, the v1 controllers systemd does not manage, settings without a
// unit property), as runc does.
type systemdManager struct {
	unit, slice, id string
	// fs drives the unit's cgroup files. A rootless manager has none
	// until Apply asked the user's systemd where its cgroups are (see
	// userFS); then root is the v2 mountpoint and path the unit's cgroup
	// below the manager's.
	fs         Manager
	root, path string
	v2         bool
	// rootless runs the unit in the caller's systemd user instance,
	// reached over the user's bus (see dialUserSystemd).
	rootless bool
	// res is a new container's resources: the unit's start properties.
	res *specs.LinuxResources
	// started is set once this manager started the unit; a manager
	// rebuilt by Load joins the existing unit instead.
	started, loaded bool
	// dial connects to systemd (a parameter for the tests). It is called
	// by the methods that talk to systemd only, never by New or Load.
	dial    func(ctx context.Context) (*systemdDbus.Conn, error)
	timeout time.Duration
	// version is systemd's major version, once asked (0: not known).
	version int
	// user are the org.systemd.property.* annotations, sent last when
	// the unit starts (see withUserProperties).
	user []systemdDbus.Property
}

// newSystemd prepares (without any D-Bus traffic) the manager of a
// transient unit named after c.Path ("slice:prefix:name").
func newSystemd(c *configs.Cgroup, id string, rootless bool) (Manager, error) {
	return newSystemdAt(DefaultRoot, c, id, rootless, dialSystemd)
}

func newSystemdAt(root string, c *configs.Cgroup, id string, rootless bool, dial func(context.Context) (*systemdDbus.Conn, error)) (*systemdManager, error) {
	if rootless {
		return newUserSystemd(root, c, id)
	}
	unit, slice, path, err := systemdUnit(c.Path, id)
	if err != nil {
		return nil, err
	}
	user, err := systemdProperties(c.SystemdProperties)
	if err != nil {
		return nil, err
	}
	// The fs manager writes what systemd has no property for; device
	// rules are systemd's alone (DevicePolicy/DeviceAllow).
	fs, err := newFS(root, &configs.Cgroup{Path: path, Resources: withoutDevices(c.Resources)}, id, rootless)
	if err != nil {
		return nil, err
	}
	_, v2 := fs.(*v2Manager)
	return &systemdManager{unit: unit, slice: slice, id: id, fs: fs, v2: v2, res: c.Resources,
		dial: dial, timeout: 30 * time.Second, user: user}, nil
}

// newUserSystemd prepares the manager of a rootless container's unit in
// the caller's systemd user instance (runc's rootless --systemd-cgroup):
// an empty slice is user.slice, and device rules are left to the user
// namespace (a user's systemd has no device policy to give). It needs
// cgroup v2: systemd delegates no v1 hierarchy to a user.
func newUserSystemd(root string, c *configs.Cgroup, id string) (*systemdManager, error) {
	mode, err := DetectMode(root)
	if err != nil {
		return nil, err
	}
	if mode != Unified {
		return nil, fmt.Errorf("systemd cgroup driver for a rootless container: needs cgroup v2 (this host is cgroup v1 %s, which systemd does not delegate to users): %w", mode, ErrNotSupported)
	}
	return userSystemd(root, c, id)
}

// userSystemd is newUserSystemd once the host is known to be cgroup v2.
func userSystemd(root string, c *configs.Cgroup, id string) (*systemdManager, error) {
	unit, slice, path, err := systemdUnitIn(c.Path, id, "user.slice")
	if err != nil {
		return nil, err
	}
	user, err := systemdProperties(c.SystemdProperties)
	if err != nil {
		return nil, err
	}
	return &systemdManager{unit: unit, slice: slice, id: id, root: root, path: path, v2: true, rootless: true,
		res: withoutDevices(c.Resources), dial: dialUserSystemd, timeout: 30 * time.Second, user: user}, nil
}

// loadSystemd rebuilds the manager of an existing unit; a rootless one's
// is in the user's systemd instance.
func loadSystemd(s *State) (Manager, error) {
	if s.Unit == "" {
		return nil, errors.New("load systemd cgroup manager: no unit in the state")
	}
	fsState := *s
	fsState.Driver = DriverFS
	fs, err := Load(&fsState)
	if err != nil {
		return nil, err
	}
	_, v2 := fs.(*v2Manager)
	m := &systemdManager{unit: s.Unit, fs: fs, v2: v2, loaded: true, dial: dialSystemd, timeout: 30 * time.Second}
	if s.Rootless {
		m.rootless, m.dial = true, dialUserSystemd
	}
	return m, nil
}

// dialSystemd connects to systemd as runc does: over the system bus
// ($DBUS_SYSTEM_BUS_ADDRESS or /run/dbus/system_bus_socket), or, as root
// without a bus, over systemd's private socket /run/systemd/private.
// The connection lives until Close; every call has its own deadline.
func dialSystemd(ctx context.Context) (*systemdDbus.Conn, error) {
	c, err := systemdDbus.NewSystemConnectionContext(ctx)
	if err == nil {
		return c, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("connect to systemd over the system bus: %w", err)
	}
	c, err2 := systemdDbus.NewSystemdConnectionContext(ctx)
	if err2 != nil {
		return nil, fmt.Errorf("connect to systemd: over the system bus: %w; over /run/systemd/private: %w", err, err2)
	}
	return c, nil
}

// connect dials systemd for one operation, within the timeout. The
// context given to dial outlives it: godbus closes the connection when that
// context ends, so it is cancelled only if the dial takes too long.
func (m *systemdManager) connect() (*systemdDbus.Conn, error) {
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(m.timeout, cancel)
	c, err := m.dial(ctx)
	if !timer.Stop() {
		if err == nil {
			c.Close()
		}
		return nil, fmt.Errorf("connect to systemd over d-bus: timed out after %v", m.timeout)
	}
	return c, err
}

// isDBusError reports whether err is the D-Bus error name
// ("org.freedesktop.systemd1.NoSuchUnit").
func isDBusError(err error, name string) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name == name
	}
	var dep *dbus.Error
	return errors.As(err, &dep) && dep.Name == name
}

// waitJob waits for the result of the job that a call reported on done
// (systemd's JobRemoved signal); anything but "done" is a failure.
func (m *systemdManager) waitJob(ctx context.Context, done <-chan string) error {
	select {
	case res := <-done:
		if res != "done" {
			return fmt.Errorf("job ended %q", res)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the job: %w", ctx.Err())
	}
}

// supported drops what the running systemd does not know from ps, asking
// systemd its version only when ps has such a property.
func (m *systemdManager) supported(c *systemdDbus.Conn, ps []systemdDbus.Property) []systemdDbus.Property {
	if !needsVersion(ps) {
		return ps
	}
	if m.version == 0 {
		// An unknown version (0) drops the newer properties: safe, the
		// fs driver writes their files anyway.
		// GetManagerProperty takes no context: bound it here.
		got := make(chan string, 1)
		go func() {
			v, _ := c.GetManagerProperty("Version")
			got <- v
		}()
		select {
		case v := <-got:
			m.version = parseSystemdVersion(v)
		case <-time.After(m.timeout):
		}
	}
	return forVersion(ps, m.version)
}

// unitProperties are the properties of the new unit.
func (m *systemdManager) unitProperties(pid int) ([]systemdDbus.Property, error) {
	ps := []systemdDbus.Property{
		prop("Description", "hull container "+m.id),
		prop("DefaultDependencies", false),
		prop("MemoryAccounting", true),
		prop("CPUAccounting", true),
		prop("TasksAccounting", true),
	}
	if m.v2 {
		ps = append(ps, prop("IOAccounting", true))
	} else {
		ps = append(ps, prop("BlockIOAccounting", true))
	}
	if strings.HasSuffix(m.unit, ".scope") {
		// The container manages its own subtree (cgroupns, systemd in
		// the container): systemd must leave it alone.
		ps = append(ps, prop("Delegate", true))
		if m.slice != "" {
			ps = append(ps, prop("Slice", m.slice))
		}
	}
	if pid > 0 {
		ps = append(ps, prop("PIDs", []uint32{uint32(pid)}))
	}
	rps, err := resourceProperties(m.res, m.v2, readProcDevices(m.res))
	if err != nil {
		return nil, err
	}
	return append(ps, rps...), nil
}

// readProcDevices reads /proc/devices when device rules need it.
func readProcDevices(r *specs.LinuxResources) string {
	if r == nil || len(r.Devices) == 0 {
		return ""
	}
	b, _ := os.ReadFile("/proc/devices")
	return string(b)
}

// Apply starts the unit with pid in it (a new container), or joins pid to
// the existing unit's cgroup (exec in a loaded container); then the fs
// manager joins pid to the v1 hierarchies systemd does not manage.
func (m *systemdManager) Apply(pid int) error {
	if m.loaded || m.started {
		return m.fs.Apply(pid)
	}
	if pid <= 0 && strings.HasSuffix(m.unit, ".scope") {
		return fmt.Errorf("systemd unit %s: a scope needs a process to start", m.unit)
	}
	ps, err := m.unitProperties(pid)
	if err != nil {
		return fmt.Errorf("systemd unit %s: %w", m.unit, err)
	}
	c, err := m.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	if m.fs == nil {
		if err := m.userFS(c); err != nil {
			return fmt.Errorf("systemd unit %s in the user's instance: %w", m.unit, err)
		}
	}
	if err := m.start(c, withUserProperties(m.supported(c, ps), m.user)); err != nil {
		if len(m.user) > 0 {
			err = fmt.Errorf("%w (the unit had properties from org.systemd.property.* annotations)", err)
		}
		return fmt.Errorf("start systemd unit %s: %w", m.unit, err)
	}
	m.started = true
	if err := m.fs.Apply(pid); err != nil {
		_ = m.stop(c)
		return err
	}
	return nil
}

// Join moves pid into the unit's existing cgroup (through the fs
// manager: the unit is already there). A rootless manager that may not
// move pid there itself has systemd move it (see ExecTarget.Join).
func (m *systemdManager) Join(pid int) error {
	if m.fs == nil {
		return fmt.Errorf("join systemd unit %s: %w", m.unit, errNotStarted)
	}
	if m.rootless {
		t, err := m.Exec(nil, 0)
		if err != nil {
			return err
		}
		return t.Join(pid)
	}
	return m.fs.Join(pid)
}

// errNotStarted is the error of a rootless manager used before Apply.
var errNotStarted = errors.New("the unit is not started")

// start starts the transient unit and waits for its job. A unit of the
// same name that failed earlier (a crashed run) lingers until reset, so
// UnitExists resets it and tries once more; an active one is another
// container's and stays an error. A job that does not end "done" leaves
// no unit behind.
func (m *systemdManager) start(c *systemdDbus.Conn, ps []systemdDbus.Property) error {
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	// Buffered: go-systemd delivers the job's result while holding a
	// lock, and nobody may be receiving any more after a timeout.
	done := make(chan string, 1)
	_, err := c.StartTransientUnitContext(ctx, m.unit, "replace", ps, done)
	if isDBusError(err, "org.freedesktop.systemd1.UnitExists") {
		_ = c.ResetFailedUnitContext(ctx, m.unit)
		_, err = c.StartTransientUnitContext(ctx, m.unit, "replace", ps, done)
	}
	if err != nil {
		return err
	}
	if err := m.waitJob(ctx, done); err != nil {
		_ = m.stop(c)
		return err
	}
	return nil
}

// Set updates the unit's properties and writes the files through the fs
// manager (an update: a new container's resources go to systemd as the
// unit's start properties, and to the files in Apply). Device rules are
// systemd's (DevicePolicy/DeviceAllow) only.
func (m *systemdManager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	ps, err := resourceProperties(r, m.v2, readProcDevices(r))
	if err != nil {
		return fmt.Errorf("systemd unit %s: %w", m.unit, err)
	}
	if len(ps) > 0 {
		if err := m.setProperties(r, ps); err != nil {
			return fmt.Errorf("update systemd unit %s: %w", m.unit, err)
		}
	}
	return m.files().Set(withoutDevices(r))
}

// withoutDevices is r without its device rules, or nil.
func withoutDevices(r *specs.LinuxResources) *specs.LinuxResources {
	if r == nil {
		return nil
	}
	c := *r
	c.Devices = nil
	return &c
}

// setProperties sends SetUnitProperties (runtime, not persisted in a unit
// file). On v1, systemd applies DeviceAllow by writing "a" to devices.deny
// and then the allow list, so a running container would briefly lose its
// devices (runc#2366): as runc does, the cgroup is frozen around the call
// unless it already is.
func (m *systemdManager) setProperties(r *specs.LinuxResources, ps []systemdDbus.Property) error {
	if !m.v2 && len(r.Devices) > 0 {
		if frozen, err := m.fs.Frozen(); err == nil && !frozen {
			if err := m.fs.Freeze(); err == nil {
				defer func() { _ = m.fs.Thaw() }()
			}
		}
	}
	c, err := m.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	return c.SetUnitPropertiesContext(ctx, m.unit, true, m.supported(c, ps)...)
}

// stop stops the unit and waits for it; a unit that is gone is fine. A
// failed unit is reset so that its name can be used again.
func (m *systemdManager) stop(c *systemdDbus.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	done := make(chan string, 1)
	_, err := c.StopUnitContext(ctx, m.unit, "replace", done)
	if err == nil {
		err = m.waitJob(ctx, done)
	} else if isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") {
		err = nil
	}
	_ = c.ResetFailedUnitContext(ctx, m.unit)
	return err
}

// Destroy stops the unit (systemd removes its cgroup) and removes the
// directories the fs manager created in the other hierarchies.
func (m *systemdManager) Destroy() error {
	var errs []error
	if m.started || m.loaded {
		c, err := m.connect()
		if err != nil {
			errs = append(errs, err)
		} else {
			if err := m.stop(c); err != nil {
				errs = append(errs, fmt.Errorf("stop systemd unit %s: %w", m.unit, err))
			}
			c.Close()
		}
	}
	if err := m.files().Destroy(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		m.started, m.loaded = false, false
	}
	return errors.Join(errs...)
}

// files is the fs manager, or, for a rootless manager before Apply, one
// whose every operation fails with errNotStarted.
func (m *systemdManager) files() Manager {
	if m.fs == nil {
		return notStarted{}
	}
	return m.fs
}

// Pids lists the processes of the unit's cgroup.
func (m *systemdManager) Pids() ([]int, error) { return m.files().Pids() }

// Freeze freezes through the cgroup files (v1 freezer, v2 cgroup.freeze).
func (m *systemdManager) Freeze() error { return m.files().Freeze() }

// Thaw thaws through the cgroup files.
func (m *systemdManager) Thaw() error { return m.files().Thaw() }

// Frozen reports the freezer state.
func (m *systemdManager) Frozen() (bool, error) { return m.files().Frozen() }

// Stats reads the accounting from the cgroup files.
func (m *systemdManager) Stats() (*Stats, error) { return m.files().Stats() }

// OOMEvents watches the unit's memory cgroup.
func (m *systemdManager) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	return m.files().OOMEvents(ctx)
}

// Path returns the unit's cgroup directory in a hierarchy ("" for a
// rootless unit not started yet).
func (m *systemdManager) Path(controller string) string { return m.files().Path(controller) }

// State records the unit with the fs manager's paths. A rootless unit
// not started yet has no paths: its cgroup is known once the user's
// systemd said where its own is.
func (m *systemdManager) State() *State {
	s := m.files().State()
	s.Driver = DriverSystemd
	s.Unit = m.unit
	s.Rootless = s.Rootless || m.rootless
	return s
}

// notStarted stands for the fs manager of a rootless unit before Apply.
type notStarted struct{}

func (notStarted) Apply(int) error                 { return errNotStarted }
func (notStarted) Join(int) error                  { return errNotStarted }
func (notStarted) Set(*specs.LinuxResources) error { return errNotStarted }
func (notStarted) Pids() ([]int, error)            { return nil, errNotStarted }
func (notStarted) Freeze() error                   { return errNotStarted }
func (notStarted) Thaw() error                     { return errNotStarted }
func (notStarted) Frozen() (bool, error)           { return false, errNotStarted }
func (notStarted) Stats() (*Stats, error)          { return nil, errNotStarted }
func (notStarted) OOMEvents(context.Context) (<-chan struct{}, error) {
	return nil, errNotStarted
}
func (notStarted) Destroy() error     { return nil }
func (notStarted) Path(string) string { return "" }
func (notStarted) State() *State      { return &State{Driver: DriverFS} }
func (notStarted) Exec(map[string]string, int) (*ExecTarget, error) {
	return nil, errNotStarted
}
