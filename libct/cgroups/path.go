package cgroups

import (
	"fmt"
	"strings"
)

// innerPath validates linux.cgroupsPath and returns it cleaned, and whether
// it is absolute (relative to each hierarchy's root) or relative (to the
// caller's own cgroup). An empty path means the container's id, nested
// under the caller's cgroup, as runc does.
//
// A ".." that would climb above the path's base is an error: following it
// would put the container in a cgroup outside the tree it was meant for
// (and, absolute, would name the hierarchy's root or a sibling tree).
func innerPath(cgPath, id string) (string, bool, error) {
	if cgPath == "" {
		if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
			return "", false, fmt.Errorf("container id %q cannot name a cgroup", id)
		}
		return id, false, nil
	}
	if strings.IndexByte(cgPath, 0) >= 0 {
		return "", false, fmt.Errorf("cgroup path %q contains a NUL byte", cgPath)
	}
	abs := cgPath[0] == '/'
	var parts []string
	for _, p := range strings.Split(cgPath, "/") {
		switch p {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				return "", false, fmt.Errorf("cgroup path %q escapes its hierarchy", cgPath)
			}
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "", false, fmt.Errorf("cgroup path %q names the root cgroup", cgPath)
	}
	inner := strings.Join(parts, "/")
	if abs {
		inner = "/" + inner
	}
	return inner, abs, nil
}
