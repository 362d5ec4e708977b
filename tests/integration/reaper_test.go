package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// reaperEnv, when set in the environment of the test binary, turns it into
// a reaper: a child subreaper (PR_SET_CHILD_SUBREAPER) that runs the runtime
// given as its arguments. Whatever the runtime leaves behind is reparented
// to the reaper instead of pid 1, so when the runtime fails, every process
// still alive under the reaper is a leak of that very call, regardless of
// what else runs on the host. The reaper writes them (pid and cmdline, one
// a line) to the file named by the variable, kills them, and exits with
// the runtime's status.
const reaperEnv = "HULL_IT_REAPER_REPORT"

// runReaper is the reaper's main (see reaperEnv).
func runReaper(report string, argv []string) int {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "reaper: PR_SET_CHILD_SUBREAPER: %v\n", err)
		return 125
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, reaperEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	err := cmd.Run()
	code := 0
	if err != nil {
		code = 126
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
	}
	if code == 0 {
		return 0 // a detached container legitimately outlives the call
	}
	reapZombies()
	var lines []string
	for _, pid := range childrenOf(os.Getpid()) {
		lines = append(lines, fmt.Sprintf("%d %s", pid, procCmdline(pid)))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := os.WriteFile(report, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "reaper: %v\n", err)
		return 125
	}
	for len(childrenOf(os.Getpid())) > 0 {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(-1, &ws, 0, nil); err != nil {
			break
		}
	}
	return code
}

// reapZombies collects every child that has already exited.
func reapZombies() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// childrenOf lists the live (non-zombie) children of ppid.
func childrenOf(ppid int) []int {
	var out []int
	for _, pid := range allPids() {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		if p, _ := strconv.Atoi(f[1]); p == ppid {
			out = append(out, pid)
		}
	}
	return out
}
