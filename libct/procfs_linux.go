package libct

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// writeProcFile writes data to /proc/<rel> through a verified procfs
// handle: /proc itself is checked to be procfs (fstatfs), and the file is
// opened beneath it with openat2 refusing magic links and mount crossings,
// so that a mount or symlink planted by the container image (over
// /proc/sys/..., /proc/self/attr/...) cannot redirect the write
// (CVE-2019-16884, CVE-2025-52881).
func writeProcFile(rel, data string) error {
	root, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /proc: %w", err)
	}
	defer unix.Close(root)
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(root, &sfs); err != nil {
		return fmt.Errorf("statfs /proc: %w", err)
	}
	if sfs.Type != unix.PROC_SUPER_MAGIC {
		return errnoMsg{"/proc is not a procfs mount", unix.EXDEV}
	}
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   unix.O_WRONLY | unix.O_CLOEXEC | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return fmt.Errorf("open /proc/%s: %w", rel, err)
	}
	defer unix.Close(fd)
	var fsfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fsfs); err != nil || fsfs.Type != unix.PROC_SUPER_MAGIC {
		return errnoMsg{fmt.Sprintf("/proc/%s is not on procfs", rel), unix.EXDEV}
	}
	if _, err := unix.Write(fd, []byte(data)); err != nil {
		return fmt.Errorf("write /proc/%s: %w", rel, err)
	}
	return nil
}
