// Command checker runs inside a container started by the conformance suite.
// It reads the bundle's config.json (copied to /config.json in the rootfs)
// and verifies from inside the container what the runtime-spec says the
// runtime must have set up. It prints one line per assertion:
//
//	PASS <clause-id> <message>   (stdout)
//	SKIP <clause-id> <message>   (stdout)
//	FAIL <clause-id> <message>   (stderr)
//
// then "DONE" on stdout, and exits 1 if anything failed. The arguments name
// the check groups to run (default: all); each group's lines follow a
// "GROUP <name>" line on stdout and end with "END <name> <failures>", so
// that the harness can fail a group that passed no check at all (a check
// that cannot fail proves nothing). It uses only the standard library
// so the harness can build it anywhere with CGO_ENABLED=0.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
)

type checker struct {
	spec   spec
	failed int
}

func (c *checker) pass(id, format string, args ...any) {
	fmt.Fprintf(os.Stdout, "PASS %s %s\n", id, fmt.Sprintf(format, args...))
}

func (c *checker) skip(id, format string, args ...any) {
	fmt.Fprintf(os.Stdout, "SKIP %s %s\n", id, fmt.Sprintf(format, args...))
}

func (c *checker) fail(id, format string, args ...any) {
	c.failed++
	fmt.Fprintf(os.Stderr, "FAIL %s %s\n", id, fmt.Sprintf(format, args...))
}

// expect records a pass or a failure of clause id.
func (c *checker) expect(id string, ok bool, format string, args ...any) {
	if ok {
		c.pass(id, format, args...)
	} else {
		c.fail(id, format, args...)
	}
}

var groups = map[string]func(*checker){
	"process":     checkProcess,
	"user":        checkUser,
	"caps":        checkCaps,
	"rlimits":     checkRlimits,
	"identity":    checkIdentity,
	"root":        checkRoot,
	"mounts":      checkMounts,
	"defaultfs":   checkDefaultFilesystems,
	"masked":      checkMasked,
	"readonly":    checkReadonly,
	"devices":     checkDevices,
	"devlinks":    checkDevLinks,
	"namespaces":  checkNamespaces,
	"idmap":       checkIDMappings,
	"sysctl":      checkSysctl,
	"cgroups":     checkCgroups,
	"unified":     checkUnified,
	"devcgroup":   checkDeviceCgroup,
	"seccomp":     checkSeccomp,
	"personality": checkPersonality,
	"mempolicy":   checkMemoryPolicy,
	"timens":      checkTimeOffsets,
	"sched":       checkScheduling,
	"idmapmount":  checkIdmapMount,
	"terminal":    checkTerminal,
	"propagation": checkRootPropagation,
}

func main() {
	path := os.Getenv("CHECKER_CONFIG")
	if path == "" {
		path = "/config.json"
	}
	c := &checker{}
	data, err := os.ReadFile(path)
	if err != nil {
		c.fail("CHECKER", "read %s: %v", path, err)
		os.Exit(1)
	}
	if err := json.Unmarshal(data, &c.spec); err != nil {
		c.fail("CHECKER", "decode %s: %v", path, err)
		os.Exit(1)
	}
	names := os.Args[1:]
	if len(names) == 0 {
		for n := range groups {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		g, ok := groups[n]
		if !ok {
			c.fail("CHECKER", "unknown check group %q", n)
			continue
		}
		fmt.Fprintln(os.Stdout, "GROUP "+n)
		before := c.failed
		g(c)
		fmt.Fprintf(os.Stdout, "END %s %d\n", n, c.failed-before)
	}
	fmt.Fprintln(os.Stdout, "DONE")
	if c.failed > 0 {
		os.Exit(1)
	}
}
