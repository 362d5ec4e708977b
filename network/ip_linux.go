package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// toolDirs are searched after $PATH: a hook runs with the hook's env only,
// often without a PATH.
var toolDirs = []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"}

// findTool returns the path of an external command, or "" when there is
// none.
func findTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range toolDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// toolError is a command that ran and failed, with its exit status and
// what it said.
type toolError struct {
	cmd  string
	code int
	msg  string
}

func (e *toolError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("%s: exit status %d", e.cmd, e.code)
	}
	return fmt.Sprintf("%s: %s", e.cmd, e.msg)
}

// run runs tool with args (stdin, when not nil, as its input) and returns
// its stdout.
func run(stdin []byte, tool string, args ...string) ([]byte, error) {
	path := findTool(tool)
	if path == "" {
		return nil, fmt.Errorf("%s not found (in $PATH or %s)", tool, strings.Join(toolDirs, ":"))
	}
	cmd := exec.Command(path, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		msg := strings.Join(strings.Fields(errb.String()), " ") // one line
		return out.Bytes(), &toolError{cmd: tool + " " + strings.Join(args, " "), code: ee.ExitCode(), msg: msg}
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", tool, strings.Join(args, " "), err)
	}
	return out.Bytes(), nil
}

func ip(args ...string) error {
	_, err := run(nil, "ip", args...)
	return err
}

// inNetns runs fn on a thread that has joined the network namespace of
// pid: the ip commands fn starts are forked from that thread and so run
// in that namespace. The thread goes back to its own namespace
// afterwards, or is thrown away if it cannot.
func inNetns(pid int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/net")
		if err != nil {
			errc <- fmt.Errorf("the container's network namespace: %w", err)
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", target.Name(), err)
			runtime.UnlockOSThread()
			return
		}
		err = fn()
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the goroutine ends locked and Go ends the thread
		errc <- err
	}()
	return <-errc
}

// ownNetns reports whether pid has a network namespace other than ours.
func ownNetns(pid int) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/net", &a); err != nil {
		return false, fmt.Errorf("the container's network namespace: %w", err)
	}
	if err := unix.Stat("/proc/self/ns/net", &b); err != nil {
		return false, err
	}
	return a.Dev != b.Dev || a.Ino != b.Ino, nil
}

// linkExists reports whether this network namespace has an interface
// called name (through netlink, like ip: /sys may show another namespace).
func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// delLink removes an interface; one that is not there is no error.
func delLink(name string) error {
	if !linkExists(name) {
		return nil
	}
	err := ip("link", "del", name)
	if err != nil && !linkExists(name) {
		return nil // gone meanwhile (its peer's namespace died)
	}
	return err
}

type ipLink struct {
	Name  string `json:"ifname"`
	Alias string `json:"ifalias"`
}

// bridges lists this namespace's bridges with their aliases.
func bridges() ([]ipLink, error) {
	out, err := run(nil, "ip", "-j", "link", "show", "type", "bridge")
	if err != nil {
		return nil, err
	}
	var links []ipLink
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("ip -j link show: %w", err)
	}
	return links, nil
}

// overlap returns the first IPv4 route of the main table (other than the
// default route and those on dev) whose destination overlaps p, as
// "DST dev DEV", or "".
func overlap(p netip.Prefix, dev string) (string, error) {
	out, err := run(nil, "ip", "-j", "-4", "route", "show")
	if err != nil {
		return "", err
	}
	var routes []struct {
		Dst string `json:"dst"`
		Dev string `json:"dev"`
	}
	if len(bytes.TrimSpace(out)) > 0 {
		if err := json.Unmarshal(out, &routes); err != nil {
			return "", fmt.Errorf("ip -j route show: %w", err)
		}
	}
	for _, r := range routes {
		if r.Dst == "default" || r.Dev == dev {
			continue
		}
		q, err := netip.ParsePrefix(r.Dst)
		if err != nil {
			a, err := netip.ParseAddr(r.Dst)
			if err != nil {
				continue
			}
			q = netip.PrefixFrom(a, a.BitLen())
		}
		if q.Overlaps(p) {
			return r.Dst + " dev " + r.Dev, nil
		}
	}
	return "", nil
}

// ipForward reads and writes net.ipv4.ip_forward of this network
// namespace (/proc/sys/net is per namespace, unlike /sys).
const ipForward = "/proc/sys/net/ipv4/ip_forward"

func readForward() (string, error) {
	b, err := os.ReadFile(ipForward)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func writeForward(v string) error {
	return os.WriteFile(ipForward, []byte(v+"\n"), 0o644)
}
