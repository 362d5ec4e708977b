package main

import (
	"os"
	"path"
	"strconv"
	"strings"
)

// mountEntry is one line of /proc/self/mountinfo (proc(5)).
type mountEntry struct {
	ID       int
	Root     string
	Point    string
	VFS      map[string]bool // per-mount options
	Optional []string        // shared:N, master:N, unbindable...
	FSType   string
	Source   string
	Super    map[string]bool // per-superblock options
	SuperRaw string
}

func unescape(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

func set(csv string) map[string]bool {
	m := map[string]bool{}
	for _, o := range strings.Split(csv, ",") {
		m[o] = true
	}
	return m
}

func readMountinfo() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []mountEntry
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) < 10 {
			continue
		}
		id, _ := strconv.Atoi(f[0])
		e := mountEntry{ID: id, Root: unescape(f[3]), Point: unescape(f[4]), VFS: set(f[5])}
		i := 6
		for ; i < len(f) && f[i] != "-"; i++ {
			e.Optional = append(e.Optional, f[i])
		}
		if i+3 < len(f) {
			e.FSType, e.Source, e.SuperRaw = f[i+1], f[i+2], f[i+3]
			e.Super = set(f[i+3])
		}
		out = append(out, e)
	}
	return out, nil
}

// topMount returns the last (top-most) mount at point p.
func topMount(mi []mountEntry, p string) (mountEntry, bool) {
	var found mountEntry
	ok := false
	for _, e := range mi {
		if e.Point == p {
			found, ok = e, true
		}
	}
	return found, ok
}

// containingMount returns the top-most mount whose mount point is p or the
// longest prefix of p.
func containingMount(mi []mountEntry, p string) (mountEntry, bool) {
	best := -1
	var found mountEntry
	for _, e := range mi {
		if e.Point == p || e.Point == "/" || strings.HasPrefix(p, e.Point+"/") {
			if len(e.Point) >= best {
				best, found = len(e.Point), e
			}
		}
	}
	return found, best >= 0
}

func hasOptional(e mountEntry, prefix string) bool {
	for _, o := range e.Optional {
		if strings.HasPrefix(o, prefix) {
			return true
		}
	}
	return false
}

func cleanDest(d string) string {
	return path.Clean("/" + d)
}
