// Command pause is the CRI suite's pod sandbox image: it sleeps, reaps the
// children it inherits as PID 1 of a pod's shared PID namespace, and exits 0
// on SIGTERM or SIGINT. Built static (CGO_ENABLED=0) by tests/cri/run.sh.
package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD)
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			os.Exit(0)
		}
		// Reap every exited child: SIGCHLD coalesces.
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
