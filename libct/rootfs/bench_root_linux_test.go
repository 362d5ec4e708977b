package rootfs

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// BenchmarkContainerRootfs times the whole rootfs set-up of a `runc spec`
// container: Prepare, MountAll, PivotRoot and Finalize with runc's default
// masked and read-only paths. Each iteration runs in a fresh mount
// namespace on its own thread.
func BenchmarkContainerRootfs(b *testing.B) {
	if unix.Geteuid() != 0 {
		b.Skip("needs root (CAP_SYS_ADMIN) to mount")
	}
	root := b.TempDir() + "/rootfs"
	for _, d := range []string{"proc", "sys", "dev", "etc", "tmp"} {
		if err := unix.Mkdir(root, 0o755); err != nil && err != unix.EEXIST {
			b.Fatal(err)
		}
		if err := unix.Mkdir(root+"/"+d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	c := &configs.Config{
		Rootfs: root,
		Mounts: specMounts(),
		MaskedPaths: []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
			"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			"/sys/devices/virtual/powercap"},
		ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		Readonly:      true,
	}
	b.ResetTimer()
	for range b.N {
		errc := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with its namespace
			if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
				errc <- err
				return
			}
			for _, step := range []func(*configs.Config) error{Prepare, MountAll, PivotRoot, Finalize} {
				if err := step(c); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
}
