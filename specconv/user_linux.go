package specconv

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/libct/configs"
)

// noID is (uid_t)-1 / (gid_t)-1. setresuid(2) and setresgid(2) read it as
// "leave this id unchanged", so a process asking for it would keep hull's
// own uid or gid (root); setgroups(2) refuses it, and no uid_map or gid_map
// can map it (kernel/user_namespace.c: map_write).
const noID = 1<<32 - 1

// UserFields names where a process's ids come from, for error messages:
// config.json's fields, or the exec flags that set them.
type UserFields struct {
	UID, GID       string
	AdditionalGids string // indexed: AdditionalGids[i]
}

// ProcessUserFields names the ids of config.json's and process.json's
// process.
var ProcessUserFields = UserFields{
	UID:            "process.user.uid",
	GID:            "process.user.gid",
	AdditionalGids: "process.user.additionalGids",
}

// checkRealIDs refuses ids that the kernel cannot take as a real id.
func checkRealIDs(f UserFields, uid, gid uint32, gids []uint32) error {
	if uid == noID {
		return fieldErr(f.UID, "%d is (uid_t)-1, which setresuid(2) takes as \"leave unchanged\": not a usable uid", uid)
	}
	if gid == noID {
		return fieldErr(f.GID, "%d is (gid_t)-1, which setresgid(2) takes as \"leave unchanged\": not a usable gid", gid)
	}
	for i, g := range gids {
		if g == noID {
			return fieldErr(idx(f.AdditionalGids, i), "%d is (gid_t)-1: not a usable gid", g)
		}
	}
	return nil
}

// checkMapped refuses ids that the user namespace does not map: the
// kernel would refuse them (EINVAL) only at setresuid/setgroups time, in
// init, without naming the field.
func checkMapped(f UserFields, p *configs.Process, uids, gids []specs.LinuxIDMapping, what string) error {
	if !mapped(uids, p.UID) {
		return fieldErr(f.UID, "%d is not mapped by %s", p.UID, what)
	}
	if !mapped(gids, p.GID) {
		return fieldErr(f.GID, "%d is not mapped by %s", p.GID, what)
	}
	for i, g := range p.AdditionalGids {
		if !mapped(gids, g) {
			return fieldErr(idx(f.AdditionalGids, i), "%d is not mapped by %s", g, what)
		}
	}
	return nil
}

// CheckExecUser checks the ids of a process to exec in a container whose
// init is initPid (f names where they came from): none may be (uid_t)-1,
// and with a user namespace each must be mapped in it, by the config's
// mappings or, for a joined namespace, by the init's /proc/PID/uid_map and
// gid_map. When those cannot be read the mapping check is left to the
// kernel.
func CheckExecUser(p *configs.Process, cfg *configs.Config, initPid int, f UserFields) error {
	if err := checkRealIDs(f, p.UID, p.GID, p.AdditionalGids); err != nil {
		return err
	}
	if _, ok := cfg.Namespace(configs.NEWUSER); !ok {
		return nil
	}
	uids, gids := cfg.UIDMappings, cfg.GIDMappings
	what := "the container's user namespace (linux.uidMappings/gidMappings)"
	if len(uids) == 0 || len(gids) == 0 {
		var err error
		if uids, gids, err = procIDMaps(initPid); err != nil {
			return nil
		}
		what = fmt.Sprintf("the container's user namespace (/proc/%d/uid_map, gid_map)", initPid)
	}
	return checkMapped(f, p, uids, gids, what)
}

// procNSUser matches a user namespace path of a process: its maps can be
// read next to it.
var procNSUser = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/proc/([1-9][0-9]*)/ns/user$`) })

// joinedIDMaps returns the mappings of a user namespace joined by path
// when the path is /proc/PID/ns/user; ok is false otherwise, or when the
// maps cannot be read (libct reports a missing path).
func joinedIDMaps(path string) (uids, gids []specs.LinuxIDMapping, ok bool) {
	m := procNSUser().FindStringSubmatch(path)
	if m == nil {
		return nil, nil, false
	}
	pid, err := strconv.Atoi(m[1])
	if err != nil {
		return nil, nil, false
	}
	uids, gids, err = procIDMaps(pid)
	return uids, gids, err == nil
}

// procIDMaps reads /proc/PID/uid_map and gid_map: the mappings of pid's
// user namespace as seen from ours.
func procIDMaps(pid int) (uids, gids []specs.LinuxIDMapping, err error) {
	if pid <= 0 {
		return nil, nil, fmt.Errorf("no process")
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	if uids, err = readIDMap(dir + "uid_map"); err != nil {
		return nil, nil, err
	}
	if gids, err = readIDMap(dir + "gid_map"); err != nil {
		return nil, nil, err
	}
	return uids, gids, nil
}

// readIDMap parses a uid_map/gid_map file: "inside outside count" lines.
func readIDMap(path string) ([]specs.LinuxIDMapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseIDMap(b)
}

func parseIDMap(b []byte) ([]specs.LinuxIDMapping, error) {
	var out []specs.LinuxIDMapping
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var in, host, n uint32
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %d", &in, &host, &n); err != nil {
			return nil, fmt.Errorf("id map line %q: %w", sc.Text(), err)
		}
		out = append(out, specs.LinuxIDMapping{ContainerID: in, HostID: host, Size: n})
	}
	return out, sc.Err()
}
