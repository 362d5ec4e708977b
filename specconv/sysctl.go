package specconv

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hullrt/hull/libct/configs"
)

// ipcSysctls are the kernel.* sysctls that belong to the IPC namespace
// (ipc/ipc_sysctl.c); fs.mqueue.* does too (ipc/mq_sysctl.c).
var ipcSysctls = map[string]bool{
	"kernel.msgmax":          true,
	"kernel.msgmnb":          true,
	"kernel.msgmni":          true,
	"kernel.sem":             true,
	"kernel.shmall":          true,
	"kernel.shmmax":          true,
	"kernel.shmmni":          true,
	"kernel.shm_rmid_forced": true,
}

// sysctlName checks a sysctl name and returns it in dotted form. sysctl(8)
// takes "a.b.c" or "a/b/c"; in the slash form a component may hold a dot
// ("net/ipv4/conf/eth0.100/rp_filter"), which the dotted form writes as a
// slash ("net.ipv4.conf.eth0/100.rp_filter"). So in the returned name '.'
// separates /proc/sys path components and '/' stands for a '.' inside one.
// Components that would walk out of /proc/sys ("..") are refused.
func sysctlName(k string) (string, error) {
	if k == "" {
		return "", errors.New("empty name")
	}
	sep, other := ".", "/"
	if i := strings.IndexAny(k, "./"); i >= 0 && k[i] == '/' {
		sep, other = "/", "."
	}
	for _, comp := range strings.Split(k, sep) {
		file := strings.ReplaceAll(comp, other, ".") // the name under /proc/sys
		if sep == "/" {
			file = comp
		}
		if file == "" || file == "." || file == ".." {
			return "", errors.New("not a sysctl name: empty, . or .. components")
		}
	}
	if sep == "." {
		return k, nil
	}
	return configs.SysctlPath(k), nil
}

// convertSysctl allows only sysctls that belong to a namespace the
// container has, as runc does: /proc/sys is not namespaced as a whole, and
// writing any other sysctl would change the host. Keys are returned in the
// dotted form of sysctlName.
func convertSysctl(in map[string]string, c *configs.Config) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	has := func(t configs.NamespaceType) bool { _, ok := c.Namespace(t); return ok }
	var netChecked bool
	out := make(map[string]string, len(in))
	for _, k := range sortedKeys(in) {
		f := key("linux.sysctl", k)
		name, err := sysctlName(k)
		if err != nil {
			return nil, fieldErr(f, "%v", err)
		}
		if strings.IndexByte(in[k], 0) >= 0 {
			return nil, fieldErr(f, "value contains a NUL byte")
		}
		switch {
		case ipcSysctls[name] || strings.HasPrefix(name, "fs.mqueue."):
			if !has(configs.NEWIPC) {
				return nil, fieldErr(f, "needs an ipc namespace in linux.namespaces")
			}
		case strings.HasPrefix(name, "net."):
			ns, ok := c.Namespace(configs.NEWNET)
			if !ok {
				return nil, fieldErr(f, "needs a network namespace in linux.namespaces")
			}
			if ns.Path != "" && !netChecked {
				// A joined network namespace may be the caller's own.
				if err := notCallerNetNS(ns.Path); err != nil {
					return nil, fieldErr(f, "%v", err)
				}
				netChecked = true
			}
		case name == "kernel.domainname" && has(configs.NEWUTS):
		case name == "kernel.hostname" && has(configs.NEWUTS):
			return nil, fieldErr(f, "use the hostname field instead")
		default:
			return nil, fieldErr(f, "not allowed: this sysctl is not in a namespace of the container and would change the host")
		}
		out[name] = in[k]
	}
	return out, nil
}

func notCallerNetNS(path string) error {
	self, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("cannot compare network namespaces: %w", unwrapPath(err))
	}
	other, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("network namespace %w", unwrapPath(err))
	}
	if os.SameFile(self, other) {
		return fmt.Errorf("not allowed: the network namespace %q is the host's", path)
	}
	return nil
}
