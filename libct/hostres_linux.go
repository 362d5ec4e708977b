package libct

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/intelrdt"
	"github.com/hullrt/hull/libct/netdev"
)

// makeCgroup creates the container's cgroup and writes its resources
// before init exists (Apply(0)), and opens it for init to start in
// (CLONE_INTO_CGROUP); for a manager where cgroups.CanCloneInto holds.
// state.json names the cgroup first, so that a create killed from here on
// leaves it to `delete` (RELIABILITY.md R2). A nil file (a rootless
// container that was delegated no cgroup) means init starts as usual.
func (c *Container) makeCgroup() (*os.File, error) {
	c.p.Cgroup = intendedCgroup(c.cg.State())
	if err := c.saveState(); err != nil {
		return nil, err
	}
	if err := c.cg.Apply(0); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	f, err := cgroups.CloneIntoFD(c.cg)
	if errors.Is(err, cgroups.ErrNotSupported) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	return f, nil
}

// applyIntelRdt makes or checks the container's resctrl groups and moves
// pid into them (create: init; restore: criu, whose restored tasks
// inherit the group as a fork does). The groups Apply will make are
// recorded in state.json first, so that a hull killed during Apply leaves
// them to `delete`. rdt nil (no linux.intelRdt) does nothing.
func (c *Container) applyIntelRdt(rdt *intelrdt.Manager, pid int) error {
	if rdt == nil {
		return nil
	}
	c.p.IntelRdt = rdt.Intended()
	if err := c.saveState(); err != nil {
		return err
	}
	if err := rdt.Apply(pid); err != nil {
		c.p.IntelRdt = nil // Apply removed what it made
		return err
	}
	c.p.IntelRdt = rdt.State()
	return nil
}

// movedDevices are the host interfaces a create moved into the
// container's network namespace (linux.netDevices), with both namespaces
// held open: a namespace lives as long as a file refers to it, so the
// devices can be moved back even once a failed create has killed init.
type movedDevices struct {
	host, ctr *os.File
	moved     []*netdev.Moved
}

// moveNetDevices moves each of devs from hull's network namespace into
// that of pid, the container's init. On failure the devices moved so far
// are moved back.
func moveNetDevices(pid int, devs []configs.NetDevice) (*movedDevices, error) {
	host, err := os.Open("/proc/self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("linux.netDevices: open hull's network namespace: %w", err)
	}
	ctr, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		host.Close()
		return nil, fmt.Errorf("linux.netDevices: open the container's network namespace: %w", err)
	}
	md := &movedDevices{host: host, ctr: ctr}
	if same, err := sameFile(host, ctr); err != nil || same {
		md.close()
		if err == nil {
			err = errors.New("the container's network namespace is hull's own: no device can move into it")
		}
		return nil, fmt.Errorf("linux.netDevices: %w", err)
	}
	for _, d := range devs {
		m, err := netdev.Move(host, ctr, d.HostName, d.Name)
		if err != nil {
			md.undo()
			return nil, fmt.Errorf("linux.netDevices[%q]: %w", d.HostName, err)
		}
		md.moved = append(md.moved, m)
	}
	return md, nil
}

// undo moves the devices back to the host, last moved first, under their
// host names (a create that failed after the move); a device that cannot
// be moved back is logged. It closes md.
func (md *movedDevices) undo() {
	for i := len(md.moved) - 1; i >= 0; i-- {
		if err := netdev.MoveBack(md.host, md.ctr, md.moved[i]); err != nil {
			logrus.Warnf("linux.netDevices: %v", err)
		}
	}
	md.moved = nil
	md.close()
}

// finish ends a create or restore that moved devices: moved back when it
// failed (err), else let go. A nil md (nothing moved) does nothing.
func (md *movedDevices) finish(err error) {
	switch {
	case md == nil:
	case err != nil:
		md.undo()
	default:
		md.close()
	}
}

func (md *movedDevices) close() {
	md.host.Close()
	md.ctr.Close()
}

// sameFile reports whether a and b are one file (here: one namespace).
func sameFile(a, b *os.File) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Fstat(int(a.Fd()), &sa); err != nil {
		return false, err
	}
	if err := unix.Fstat(int(b.Fd()), &sb); err != nil {
		return false, err
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}
