// Package cgroups is hull's cgroup manager: one small interface with a v1
// filesystem, a v2 filesystem and a systemd implementation.
//
// The layout of the host (cgroup v1, v1 "hybrid" with a cgroup2 mount at
// /sys/fs/cgroup/unified, or pure v2) is detected once per New or Load with a
// statfs of /sys/fs/cgroup; /proc/self/cgroup is read once, and
// /proc/self/mountinfo only when the hierarchies are not mounted whole at
// their usual places (a container's bind-mounted subtree).
//
// Paths follow runc: an absolute linux.cgroupsPath is taken from each
// hierarchy's root; a relative one, and the default (the container id), are
// nested under the caller's own cgroup (on v2 under its parent, since the
// caller's cgroup holds the caller). A ".." that climbs out of that base is
// refused. On a hybrid host the container also joins the cgroup2 hierarchy,
// where hugetlb limits and the unified map for its controllers go.
//
// A cgroup that existed before Apply is joined, never removed: Destroy
// removes only the directories Apply created (State.Created).
//
// The systemd driver (configs.Cgroup.Systemd, cgroupsPath
// "slice:prefix:name") starts a transient unit over D-Bus with
// github.com/coreos/go-systemd/v22 (on github.com/godbus/dbus/v5), then
// uses the filesystem manager of the unit's cgroup for the rest. It
// connects only when it talks to systemd, never in New or Load.
//
// On v2 the device rules are an eBPF program built, loaded and attached
// with github.com/cilium/ebpf.
package cgroups

import (
	"context"
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Manager controls one container's cgroup. It is created by New for a new
// container and rebuilt by Load from what State returned, for commands that
// act on an existing container (kill --all, pause, update, delete).
type Manager interface {
	// Apply creates the cgroup if needed, moves pid into it, then writes
	// the resources of the configs.Cgroup given to New: the one place a
	// new container's resources are handed over (a manager made by Load
	// has none). A pid of 0 or less only creates the cgroup. When creating
	// or joining fails, the directories Apply created are removed again;
	// when writing the resources fails, the cgroup stays with pid in it,
	// for the caller to kill and Destroy.
	Apply(pid int) error
	// Join moves pid into the cgroup, which must exist: it never creates
	// a directory (exec joins a container's cgroup; if a racing delete
	// removed it, exec fails rather than re-create it for nobody to
	// remove).
	Join(pid int) error
	// Exec resolves where `exec` puts a new process: the container's
	// cgroup, or the sub-cgroup sub of it (exec --cgroup, see
	// ParseExecCgroup; nil for none), with the cgroup v2 fallback to the
	// cgroup of initPid (see ExecTarget). It checks the paths and moves
	// nothing.
	Exec(sub map[string]string, initPid int) (*ExecTarget, error)
	// Set writes new resources to an existing cgroup (update).
	Set(r *specs.LinuxResources) error
	// Pids returns every process in the cgroup (recursively).
	Pids() ([]int, error)
	// Freeze stops every process in the cgroup and waits until the kernel
	// reports the cgroup frozen; Thaw lets them run again.
	Freeze() error
	// Thaw undoes Freeze.
	Thaw() error
	// Frozen reports whether the cgroup is frozen.
	Frozen() (bool, error)
	// Stats reads the cgroup's accounting.
	Stats() (*Stats, error)
	// OOMEvents returns a channel that receives a value each time the
	// kernel's OOM killer acts in the cgroup. It is closed when ctx is done
	// or the cgroup is removed.
	OOMEvents(ctx context.Context) (<-chan struct{}, error)
	// Destroy kills nothing: it removes the cgroup directories (the
	// caller kills the processes first) and is safe to call twice. Only
	// directories that hull created are removed: a joined, pre-existing
	// cgroup (a Kubernetes pod's, say) is left in place.
	Destroy() error
	// Path returns the directory of a v1 controller ("memory"), or the
	// unified directory for "" (on v2, and on a v1 hybrid host).
	Path(controller string) string
	// State is what must be persisted in state.json to Load this manager later.
	State() *State
}

// State is the persisted form of a Manager.
type State struct {
	// Driver is "fs" or "systemd".
	Driver string `json:"driver"`
	// Paths maps a v1 controller name (or "" for the unified hierarchy)
	// to its directory.
	Paths map[string]string `json:"paths"`
	// Created lists the directories hull created (and so Destroy removes),
	// leaves first.
	Created []string `json:"created,omitempty"`
	// Rootless is set when the manager was made for a rootless container:
	// cgroups it could not create or join are then skipped, not fatal.
	Rootless bool `json:"rootless,omitempty"`
	// Unit is the systemd scope unit, for the systemd driver.
	Unit string `json:"unit,omitempty"`
}

// The driver names of State.Driver.
const (
	DriverFS      = "fs"
	DriverSystemd = "systemd"
)

// ErrNotSupported is wrapped by errors about a resource or operation the
// host's cgroup layout cannot provide (a controller that is not mounted, a
// v2-only setting on v1).
var ErrNotSupported = errors.New("not supported")
