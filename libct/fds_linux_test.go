package libct

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// closeFdsProbe makes TestMain run closeFdsChild instead of the tests.
const closeFdsProbe = "HULL_TEST_CLOSEFDS"

// closeFdsChild sets up fds 3..13 (3-10 preserved /dev/null, 10
// close-on-exec as Init leaves them; 11 a pipe init keeps; 12 a
// directory; 13 a regular file), runs closeExtraFds(11, keep) then
// passPreserved(8) and describes what is left of 10..13. keep is "pipe"
// or "dir" (keeping the directory must fail).
func closeFdsChild(keep string) string {
	null, _ := unix.Open(os.DevNull, unix.O_RDONLY, 0)
	for fd := 3; fd <= 9; fd++ {
		_ = unix.Dup3(null, fd, 0)
	}
	_ = unix.Dup3(null, 10, unix.O_CLOEXEC)
	var p [2]int
	_ = unix.Pipe2(p[:], unix.O_CLOEXEC)
	_ = unix.Dup3(p[0], 11, 0)
	dir, _ := unix.Open(os.TempDir(), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	_ = unix.Dup3(dir, 12, 0)
	file, _ := unix.Open("/proc/self/exe", unix.O_RDONLY, 0)
	_ = unix.Dup3(file, 13, 0)
	for _, fd := range []int{null, p[0], p[1], dir, file} {
		if fd > 13 {
			unix.Close(fd)
		}
	}
	kept := []int{11}
	if keep == "dir" {
		kept = []int{12}
	}
	if err := closeExtraFds(11, kept); err != nil {
		return "error: " + err.Error()
	}
	if err := passPreserved(8); err != nil {
		return "error: " + err.Error()
	}
	var out []string
	for fd := 10; fd <= 13; fd++ {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		switch {
		case err != nil:
			out = append(out, strconv.Itoa(fd)+":closed")
		case fl&unix.FD_CLOEXEC != 0:
			out = append(out, strconv.Itoa(fd)+":cloexec")
		default:
			out = append(out, strconv.Itoa(fd)+":open")
		}
	}
	return strings.Join(out, " ")
}

// TestCloseExtraFds is CVE-2024-21626's second half: the final program's
// close-fds step really closes a directory and a file hull holds (they are
// gone before args[0] is resolved), keeps what init needs close-on-exec,
// gives the preserved fds to the process, and refuses to keep a
// directory.
func TestCloseExtraFds(t *testing.T) {
	for _, tc := range []struct{ keep, want string }{
		{"pipe", "10:open 11:cloexec 12:closed 13:closed"},
		{"dir", "error: fd 12 that init keeps until execve is a directory"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = []string{closeFdsProbe + "=" + tc.keep}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", tc.keep, err)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("keep %s: %q, want %q", tc.keep, got, tc.want)
		}
	}
}
