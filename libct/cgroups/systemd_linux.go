package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hullrt/hull/libct/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The D-Bus names of systemd's manager.
const (
	systemdBusName   = "org.freedesktop.systemd1"
	systemdPath      = objectPath("/org/freedesktop/systemd1")
	systemdInterface = "org.freedesktop.systemd1.Manager"
	systemdPrivate   = "/run/systemd/private"
	systemBusSocket  = "/run/dbus/system_bus_socket"
)

// systemdManager runs the container in a transient systemd unit (a scope,
// or a slice) created over D-Bus, with Delegate=yes, and drives the
// cgroup's files through the filesystem manager of the unit's path for
// everything systemd does not do (freezing, stats, the v1 controllers
// systemd does not manage, settings without a unit property).
type systemdManager struct {
	unit, slice, id string
	fs              Manager
	v2              bool
	rootless        bool
	res             *specs.LinuxResources
	// started is set once this manager started the unit; a manager
	// rebuilt by Load joins the existing unit instead.
	started, loaded bool
	// dial connects to systemd (a parameter for the tests).
	dial    func() (*dbusConn, error)
	timeout time.Duration
}

// newSystemd prepares (without any D-Bus traffic) the manager of a
// transient unit named after c.Path ("slice:prefix:name").
func newSystemd(c *configs.Cgroup, id string, rootless bool) (Manager, error) {
	return newSystemdAt(DefaultRoot, c, id, rootless, dialSystemd)
}

func newSystemdAt(root string, c *configs.Cgroup, id string, rootless bool, dial func() (*dbusConn, error)) (*systemdManager, error) {
	if rootless {
		return nil, fmt.Errorf("systemd cgroup driver for rootless containers (the user's systemd instance): %w", ErrNotSupported)
	}
	unit, slice, path, err := systemdUnit(c.Path, id)
	if err != nil {
		return nil, err
	}
	fs, err := newFS(root, &configs.Cgroup{Path: path, Resources: c.Resources}, id, rootless)
	if err != nil {
		return nil, err
	}
	_, v2 := fs.(*v2Manager)
	return &systemdManager{unit: unit, slice: slice, id: id, fs: fs, v2: v2, res: c.Resources,
		dial: dial, timeout: 30 * time.Second}, nil
}

// loadSystemd rebuilds the manager of an existing unit.
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
	return &systemdManager{unit: s.Unit, fs: fs, v2: v2, loaded: true, dial: dialSystemd, timeout: 30 * time.Second}, nil
}

// dialSystemd connects to systemd: its private socket as root (no bus
// daemon involved), else the system bus.
func dialSystemd() (*dbusConn, error) {
	if os.Geteuid() == 0 {
		if _, err := os.Stat(systemdPrivate); err == nil {
			return dialDBus(systemdPrivate, false, 10*time.Second)
		}
	}
	path := systemBusSocket
	if addr := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"); addr != "" {
		p, err := busSocketPath(addr)
		if err != nil {
			return nil, err
		}
		path = p
	}
	return dialDBus(path, true, 10*time.Second)
}

// subscribe asks systemd for its job signals (and, on a bus, the bus to
// route them to us), before the call whose job is awaited.
func subscribe(c *dbusConn, timeout time.Duration) error {
	if c.name != "" {
		rule := "type='signal',sender='" + systemdBusName + "',interface='" + systemdInterface + "',member='JobRemoved'"
		if _, err := c.call(timeout, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s", rule); err != nil {
			return err
		}
	}
	_, err := c.call(timeout, systemdBusName, systemdPath, systemdInterface, "Subscribe", "")
	return err
}

// waitJob waits for the JobRemoved signal of job and checks its result.
func waitJob(c *dbusConn, timeout time.Duration, job objectPath, unit string) error {
	m, err := c.next(timeout, func(m *message) bool {
		return m.typ == msgSignal && m.member == "JobRemoved" && len(m.body) == 4 && m.body[1] == job
	})
	if err != nil {
		return fmt.Errorf("systemd unit %s: waiting for job %s: %w", unit, job, err)
	}
	if res, _ := m.body[3].(string); res != "done" {
		return fmt.Errorf("systemd unit %s: job %s ended %q", unit, job, res)
	}
	return nil
}

// unitCall makes a job-returning call (StartTransientUnit, StopUnit) and
// waits for the job.
func (m *systemdManager) unitCall(c *dbusConn, member, sig string, args ...any) error {
	reply, err := c.call(m.timeout, systemdBusName, systemdPath, systemdInterface, member, sig, args...)
	if err != nil {
		return err
	}
	if len(reply.body) != 1 {
		return fmt.Errorf("systemd %s: unexpected reply %v", member, reply.body)
	}
	job, ok := reply.body[0].(objectPath)
	if !ok {
		return fmt.Errorf("systemd %s: unexpected reply %v", member, reply.body)
	}
	return waitJob(c, m.timeout, job, m.unit)
}

// unitProperties are the properties of the new unit.
func (m *systemdManager) unitProperties(pid int) ([]property, error) {
	ps := []property{
		prop("Description", "s", "hull container "+m.id),
		prop("DefaultDependencies", "b", false),
		prop("MemoryAccounting", "b", true),
		prop("CPUAccounting", "b", true),
		prop("TasksAccounting", "b", true),
	}
	if m.v2 {
		ps = append(ps, prop("IOAccounting", "b", true))
	} else {
		ps = append(ps, prop("BlockIOAccounting", "b", true))
	}
	if strings.HasSuffix(m.unit, ".scope") {
		// The container manages its own subtree (cgroupns, systemd in
		// the container): systemd must leave it alone.
		ps = append(ps, prop("Delegate", "b", true))
		if m.slice != "" {
			ps = append(ps, prop("Slice", "s", m.slice))
		}
	}
	if pid > 0 {
		ps = append(ps, prop("PIDs", "au", []uint32{uint32(pid)}))
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
	c, err := m.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := subscribe(c, m.timeout); err != nil {
		return err
	}
	props := make([]any, len(ps))
	for i, p := range ps {
		props[i] = []any{p.Name, p.Value}
	}
	start := func() error {
		return m.unitCall(c, "StartTransientUnit", "ssa(sv)a(sa(sv))", m.unit, "replace", props, []any{})
	}
	err = start()
	var de *dbusError
	if errors.As(err, &de) && strings.HasSuffix(de.Name, ".UnitExists") {
		// A failed unit of the same name (a crashed earlier run) lingers
		// until reset; an active one is another container's.
		_, _ = c.call(m.timeout, systemdBusName, systemdPath, systemdInterface, "ResetFailedUnit", "s", m.unit)
		err = start()
	}
	if err != nil {
		return fmt.Errorf("start systemd unit %s: %w", m.unit, err)
	}
	m.started = true
	if err := m.fs.Apply(pid); err != nil {
		_ = m.stop(c)
		return err
	}
	return nil
}

// Set updates the unit's properties (unless they are the ones the unit was
// just started with) and writes the files through the fs manager. Device
// rules are systemd's (DevicePolicy/DeviceAllow) only.
func (m *systemdManager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if !(m.started && r == m.res) {
		ps, err := resourceProperties(r, m.v2, readProcDevices(r))
		if err != nil {
			return fmt.Errorf("systemd unit %s: %w", m.unit, err)
		}
		if len(ps) > 0 {
			c, err := m.dial()
			if err != nil {
				return err
			}
			props := make([]any, len(ps))
			for i, p := range ps {
				props[i] = []any{p.Name, p.Value}
			}
			_, err = c.call(m.timeout, systemdBusName, systemdPath, systemdInterface, "SetUnitProperties", "sba(sv)", m.unit, true, props)
			c.Close()
			if err != nil {
				return fmt.Errorf("update systemd unit %s: %w", m.unit, err)
			}
		}
	}
	fsRes := *r
	fsRes.Devices = nil
	if err := m.fs.Set(&fsRes); err != nil {
		return err
	}
	m.res = r
	return nil
}

// stop stops the unit and waits for it; a unit that is gone is fine.
func (m *systemdManager) stop(c *dbusConn) error {
	err := m.unitCall(c, "StopUnit", "ss", m.unit, "replace")
	var de *dbusError
	if errors.As(err, &de) && strings.HasSuffix(de.Name, ".NoSuchUnit") {
		err = nil
	}
	_, _ = c.call(m.timeout, systemdBusName, systemdPath, systemdInterface, "ResetFailedUnit", "s", m.unit)
	return err
}

// Destroy stops the unit (systemd removes its cgroup) and removes the
// directories the fs manager created in the other hierarchies.
func (m *systemdManager) Destroy() error {
	var errs []error
	if m.started || m.loaded {
		c, err := m.dial()
		if err != nil {
			errs = append(errs, err)
		} else {
			if err := subscribe(c, m.timeout); err != nil {
				errs = append(errs, err)
			} else if err := m.stop(c); err != nil {
				errs = append(errs, fmt.Errorf("stop systemd unit %s: %w", m.unit, err))
			}
			c.Close()
		}
	}
	if err := m.fs.Destroy(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		m.started, m.loaded = false, false
	}
	return errors.Join(errs...)
}

// Pids lists the processes of the unit's cgroup.
func (m *systemdManager) Pids() ([]int, error) { return m.fs.Pids() }

// Freeze freezes through the cgroup files (v1 freezer, v2 cgroup.freeze).
func (m *systemdManager) Freeze() error { return m.fs.Freeze() }

// Thaw thaws through the cgroup files.
func (m *systemdManager) Thaw() error { return m.fs.Thaw() }

// Frozen reports the freezer state.
func (m *systemdManager) Frozen() (bool, error) { return m.fs.Frozen() }

// Stats reads the accounting from the cgroup files.
func (m *systemdManager) Stats() (*Stats, error) { return m.fs.Stats() }

// OOMEvents watches the unit's memory cgroup.
func (m *systemdManager) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	return m.fs.OOMEvents(ctx)
}

// Path returns the unit's cgroup directory in a hierarchy.
func (m *systemdManager) Path(controller string) string { return m.fs.Path(controller) }

// State records the unit with the fs manager's paths.
func (m *systemdManager) State() *State {
	s := m.fs.State()
	s.Driver = DriverSystemd
	s.Unit = m.unit
	return s
}
