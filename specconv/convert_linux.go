package specconv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/seccomp"
)

// Options are the command line's part of a container's configuration.
type Options struct {
	// ID is the container id; when set it is checked with libct.ValidateID.
	ID string
	// Bundle is the bundle directory; root.path and relative bind mount
	// sources are resolved against it. A relative Bundle is made absolute.
	Bundle string
	// NoPivotRoot is --no-pivot: MS_MOVE + chroot instead of pivot_root.
	NoPivotRoot bool
	// NoNewKeyring is --no-new-keyring.
	NoNewKeyring bool
	// Systemd is --systemd-cgroup: linux.cgroupsPath is "slice:prefix:name".
	Systemd bool
	// Rootless says hull runs without privileges over the host: the config
	// needs a user namespace, and mount uid=/gid= options must be mapped.
	Rootless bool
}

// hostNameMax is HOST_NAME_MAX: sethostname(2) and setdomainname(2) fail
// with EINVAL beyond it.
const hostNameMax = 64

// maxIDMapEntries is the kernel's limit on lines in uid_map/gid_map
// (Linux 4.15; it was 5 before).
const maxIDMapEntries = 340

// Convert validates spec and converts it into a libct configuration. The
// first problem found is returned, as a *FieldError naming its field. The
// host is not touched, except for stat calls: root.path must be a directory
// (it is resolved to its real path), and a joined network namespace is
// compared with the caller's when net.* sysctls are set.
func Convert(spec *Spec, o Options) (*configs.Config, error) {
	if spec == nil || spec.Spec == nil {
		return nil, errors.New("no spec given")
	}
	if o.ID != "" {
		if err := libct.ValidateID(o.ID); err != nil {
			return nil, err
		}
	}
	if o.Bundle == "" {
		return nil, errors.New("no bundle directory given")
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", o.Bundle, err)
	}
	if err := checkVersion(spec.Version); err != nil {
		return nil, err
	}
	c := &configs.Config{
		Version:      spec.Version,
		Bundle:       bundle,
		NoPivotRoot:  o.NoPivotRoot,
		NoNewKeyring: o.NoNewKeyring,
		Hostname:     spec.Hostname,
		Domainname:   spec.Domainname,
	}
	if c.Rootfs, c.Readonly, err = convertRoot(spec.Root, bundle); err != nil {
		return nil, err
	}
	if c.Process, err = convertProcess("process", spec.Process, spec.Landlock); err != nil {
		return nil, err
	}
	lx := spec.Linux
	if lx == nil {
		return nil, fieldErr("linux", "required: hull needs at least a mount namespace")
	}
	if c.Namespaces, err = convertNamespaces(lx.Namespaces); err != nil {
		return nil, err
	}
	if _, ok := c.Namespace(configs.NEWNS); !ok {
		// Without its own mount namespace the container's mounts and
		// pivot_root would happen in the caller's.
		return nil, fieldErr("linux.namespaces", "a mount namespace is required")
	}
	if err := convertIDMappings(c, lx, o.Rootless); err != nil {
		return nil, err
	}
	if err := checkUTS(c); err != nil {
		return nil, err
	}
	if c.TimeOffsets, err = convertTimeOffsets(c, lx.TimeOffsets); err != nil {
		return nil, err
	}
	if c.Mounts, err = convertMounts(spec.Mounts, c, o.Rootless); err != nil {
		return nil, err
	}
	if c.Devices, err = convertDevices(lx.Devices); err != nil {
		return nil, err
	}
	if c.MaskedPaths, err = containerPaths("linux.maskedPaths", lx.MaskedPaths); err != nil {
		return nil, err
	}
	if c.ReadonlyPaths, err = containerPaths("linux.readonlyPaths", lx.ReadonlyPaths); err != nil {
		return nil, err
	}
	c.MountLabel = lx.MountLabel
	if c.RootPropagation, err = rootPropagation(lx.RootfsPropagation, o.NoPivotRoot); err != nil {
		return nil, err
	}
	if c.Sysctl, err = convertSysctl(lx.Sysctl, c); err != nil {
		return nil, err
	}
	if c.Personality, err = checkPersonality(lx.Personality); err != nil {
		return nil, err
	}
	if c.Cgroup, err = convertCgroup(lx, o.Systemd, spec.Annotations); err != nil {
		return nil, err
	}
	if c.IntelRdt, err = convertIntelRdt(lx.IntelRdt); err != nil {
		return nil, err
	}
	if c.MemoryPolicy, err = convertMemoryPolicy(lx.MemoryPolicy); err != nil {
		return nil, err
	}
	if c.NetDevices, err = convertNetDevices(lx.NetDevices, c, o.Rootless); err != nil {
		return nil, err
	}
	if lx.Seccomp != nil {
		// The seccomp package's own check, so that what passes here
		// compiles later; its errors already name the field.
		if err := seccomp.Validate(lx.Seccomp); err != nil {
			return nil, err
		}
		c.Seccomp = lx.Seccomp
	}
	if c.Hooks, err = checkHooks(spec.Hooks); err != nil {
		return nil, err
	}
	if len(spec.Annotations) > 0 {
		c.Annotations = make(map[string]string, len(spec.Annotations))
		for k, v := range spec.Annotations {
			if k == "" {
				return nil, fieldErr("annotations", "keys must not be empty")
			}
			c.Annotations[k] = v
		}
	}
	return c, nil
}

// checkVersion accepts any 1.x SemVer version: the 1.x specs only add
// properties, and unknown properties are ignored.
func checkVersion(v string) error {
	if v == "" {
		return fieldErr("ociVersion", "required")
	}
	if !semver().MatchString(v) {
		return fieldErr("ociVersion", "%q is not a SemVer version", v)
	}
	if !strings.HasPrefix(v, "1.") {
		return fieldErr("ociVersion", "%q is not supported: hull implements runtime-spec 1.x (%s)", v, specs.Version)
	}
	return nil
}

// semver is SemVer 2.0.0's grammar, simplified (no leading-zero rules).
var semver = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
})

// convertRoot resolves root.path against the bundle and checks that it is a
// directory. runc silently uses the bundle itself when root is missing.
func convertRoot(r *specs.Root, bundle string) (string, bool, error) {
	if r == nil {
		return "", false, fieldErr("root", "required")
	}
	if r.Path == "" {
		return "", false, fieldErr("root.path", "required")
	}
	if strings.IndexByte(r.Path, 0) >= 0 {
		return "", false, fieldErr("root.path", "contains a NUL byte")
	}
	p := r.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(bundle, p)
	}
	// The real path: pivot_root and the mounts below want the directory
	// itself, not a symlink to it.
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", false, fieldErr("root.path", "%w", unwrapPath(err))
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", false, fieldErr("root.path", "%w", unwrapPath(err))
	}
	if !fi.IsDir() {
		return "", false, fieldErr("root.path", "%q is not a directory", p)
	}
	return real, r.Readonly, nil
}

// unwrapPath keeps an *fs.PathError's path and errno but drops its "lstat"
// operation word, for a shorter line.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%q: %w", pe.Path, pe.Err)
	}
	return err
}

var namespaceTypes = map[specs.LinuxNamespaceType]configs.NamespaceType{
	specs.PIDNamespace:     configs.NEWPID,
	specs.NetworkNamespace: configs.NEWNET,
	specs.MountNamespace:   configs.NEWNS,
	specs.IPCNamespace:     configs.NEWIPC,
	specs.UTSNamespace:     configs.NEWUTS,
	specs.UserNamespace:    configs.NEWUSER,
	specs.CgroupNamespace:  configs.NEWCGROUP,
	specs.TimeNamespace:    configs.NEWTIME,
}

func convertNamespaces(in []specs.LinuxNamespace) ([]configs.Namespace, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]configs.Namespace, 0, len(in))
	seen := map[configs.NamespaceType]int{}
	for i, ns := range in {
		f := idx("linux.namespaces", i)
		t, ok := namespaceTypes[ns.Type]
		if !ok {
			return nil, fieldErr(f, "unknown namespace type %q", ns.Type)
		}
		if j, dup := seen[t]; dup {
			return nil, fieldErr(f, "duplicate namespace type %q (also linux.namespaces[%d])", ns.Type, j)
		}
		seen[t] = i
		if ns.Path != "" {
			if err := absPath(ns.Path); err != nil {
				return nil, fieldErr(f, "path: %v", err)
			}
		}
		out = append(out, configs.Namespace{Type: t, Path: ns.Path})
	}
	return out, nil
}

// absPath checks a host path given in the config.
func absPath(p string) error {
	if strings.IndexByte(p, 0) >= 0 {
		return errors.New("contains a NUL byte")
	}
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%q is not an absolute path", p)
	}
	return nil
}

// convertIDMappings checks linux.uidMappings/gidMappings against the user
// namespace, and that the process's ids are mapped.
func convertIDMappings(c *configs.Config, lx *specs.Linux, rootless bool) error {
	userns, hasUser := c.Namespace(configs.NEWUSER)
	if !hasUser {
		if len(lx.UIDMappings) > 0 {
			return fieldErr("linux.uidMappings", "set, but linux.namespaces has no user namespace")
		}
		if len(lx.GIDMappings) > 0 {
			return fieldErr("linux.gidMappings", "set, but linux.namespaces has no user namespace")
		}
		if rootless {
			return fieldErr("linux.namespaces", "a rootless container needs a user namespace")
		}
		return nil
	}
	for _, m := range []struct {
		name string
		maps []specs.LinuxIDMapping
	}{{"linux.uidMappings", lx.UIDMappings}, {"linux.gidMappings", lx.GIDMappings}} {
		// A joined user namespace already has its mappings.
		if userns.Path == "" && len(m.maps) == 0 {
			return fieldErr(m.name, "required with a new user namespace")
		}
		if err := checkIDMap(m.name, m.maps); err != nil {
			return err
		}
	}
	c.UIDMappings = lx.UIDMappings
	c.GIDMappings = lx.GIDMappings
	if c.Process == nil {
		return nil
	}
	if userns.Path == "" {
		return checkMapped(ProcessUserFields, c.Process, c.UIDMappings, c.GIDMappings, "linux.uidMappings/gidMappings")
	}
	// A joined namespace brings its own maps: readable when it is named
	// by a process's /proc/PID/ns/user, otherwise left to the kernel.
	if uids, gids, ok := joinedIDMaps(userns.Path); ok {
		return checkMapped(ProcessUserFields, c.Process, uids, gids, "the user namespace "+userns.Path)
	}
	return nil
}

// checkIDMap checks one uid_map/gid_map as the kernel would
// (kernel/user_namespace.c: map_write): no empty or wrapping ranges, no
// overlaps inside the namespace or on the host, at most 340 lines.
func checkIDMap(name string, maps []specs.LinuxIDMapping) error {
	if len(maps) > maxIDMapEntries {
		return fieldErr(name, "%d entries, the kernel takes at most %d", len(maps), maxIDMapEntries)
	}
	for i, m := range maps {
		f := idx(name, i)
		if m.Size == 0 {
			return fieldErr(f, "size must not be 0")
		}
		// The kernel refuses a range that reaches 4294967295 ((uid_t)-1):
		// map_write checks first+count for a wrap in 32 bits.
		if uint64(m.ContainerID)+uint64(m.Size) > noID || uint64(m.HostID)+uint64(m.Size) > noID {
			return fieldErr(f, "range reaches 4294967295 ((uid_t)-1), which cannot be mapped")
		}
		for j := range i {
			o := maps[j]
			if overlap(m.ContainerID, o.ContainerID, m.Size, o.Size) {
				return fieldErr(f, "containerID range overlaps %s[%d]", name, j)
			}
			if overlap(m.HostID, o.HostID, m.Size, o.Size) {
				return fieldErr(f, "hostID range overlaps %s[%d]", name, j)
			}
		}
	}
	return nil
}

func overlap(a, b, na, nb uint32) bool {
	return uint64(a) < uint64(b)+uint64(nb) && uint64(b) < uint64(a)+uint64(na)
}

func mapped(maps []specs.LinuxIDMapping, id uint32) bool {
	for _, m := range maps {
		if id >= m.ContainerID && uint64(id) < uint64(m.ContainerID)+uint64(m.Size) {
			return true
		}
	}
	return false
}

// checkUTS: setting a hostname without a UTS namespace would rename the
// host. Like runc, a joined UTS namespace is accepted.
func checkUTS(c *configs.Config) error {
	_, uts := c.Namespace(configs.NEWUTS)
	for _, f := range []struct{ name, val string }{{"hostname", c.Hostname}, {"domainname", c.Domainname}} {
		if f.val == "" {
			continue
		}
		if !uts {
			return fieldErr(f.name, "set, but linux.namespaces has no uts namespace")
		}
		if len(f.val) > hostNameMax {
			return fieldErr(f.name, "longer than %d bytes", hostNameMax)
		}
		if strings.IndexByte(f.val, 0) >= 0 {
			return fieldErr(f.name, "contains a NUL byte")
		}
	}
	return nil
}

// convertTimeOffsets: offsets are written to /proc/self/timens_offsets,
// which only works for a new time namespace before any process enters it.
func convertTimeOffsets(c *configs.Config, in map[string]specs.LinuxTimeOffset) (map[string]specs.LinuxTimeOffset, error) {
	if len(in) == 0 {
		return nil, nil
	}
	ns, ok := c.Namespace(configs.NEWTIME)
	if !ok {
		return nil, fieldErr("linux.timeOffsets", "set, but linux.namespaces has no time namespace")
	}
	if ns.Path != "" {
		return nil, fieldErr("linux.timeOffsets", "a joined time namespace (with a path) cannot be given offsets")
	}
	for _, k := range sortedKeys(in) {
		if k != "monotonic" && k != "boottime" {
			return nil, fieldErr(key("linux.timeOffsets", k), "unknown clock: only monotonic and boottime can be offset")
		}
		if in[k].Nanosecs >= 1e9 {
			return nil, fieldErr(key("linux.timeOffsets", k), "nanosecs must be less than 1000000000")
		}
	}
	return in, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// convertDevices checks linux.devices. The spec lets a device live anywhere
// in the container (not only under /dev), so only the path's shape is
// checked.
func convertDevices(in []specs.LinuxDevice) ([]specs.LinuxDevice, error) {
	if len(in) == 0 {
		return nil, nil
	}
	seen := map[string]int{}
	out := make([]specs.LinuxDevice, 0, len(in))
	for i, d := range in {
		f := idx("linux.devices", i)
		p, err := containerPath(d.Path)
		if err != nil {
			return nil, fieldErr(f, "path: %v", err)
		}
		if p == "/" {
			return nil, fieldErr(f, "path: %q is the root directory", d.Path)
		}
		if j, dup := seen[p]; dup {
			return nil, fieldErr(f, "duplicate path %q (also linux.devices[%d])", d.Path, j)
		}
		seen[p] = i
		switch d.Type {
		case "c", "b", "u":
			// new_encode_dev: 12-bit major, 20-bit minor.
			if d.Major < 0 || d.Major >= 1<<12 {
				return nil, fieldErr(f, "major %d out of range 0-4095", d.Major)
			}
			if d.Minor < 0 || d.Minor >= 1<<20 {
				return nil, fieldErr(f, "minor %d out of range 0-1048575", d.Minor)
			}
			if d.Major == 0 && d.Minor == 0 {
				// 0:0 is no device (a 0:0 char device is an overlayfs whiteout).
				return nil, fieldErr(f, "major and minor are required for type %q", d.Type)
			}
		case "p":
		case "":
			return nil, fieldErr(f, "type: required (c, b, u or p)")
		default:
			return nil, fieldErr(f, "unknown device type %q (c, b, u or p)", d.Type)
		}
		if d.FileMode != nil && *d.FileMode&^0o7777 != 0 {
			// Podman passes the host node's whole st_mode: the file
			// type bits are accepted when they say what type says, and
			// dropped (mknod takes the type from the device type).
			ifmt := uint32(*d.FileMode) & unix.S_IFMT
			want := map[string]uint32{"c": unix.S_IFCHR, "u": unix.S_IFCHR, "b": unix.S_IFBLK, "p": unix.S_IFIFO}[d.Type]
			if ifmt != want || uint32(*d.FileMode)&^(unix.S_IFMT|0o7777) != 0 {
				return nil, fieldErr(f, "fileMode %#o does not match device type %q", uint32(*d.FileMode), d.Type)
			}
			perm := *d.FileMode & 0o7777
			d.FileMode = &perm
		}
		d.Path = p
		out = append(out, d)
	}
	return out, nil
}

// containerPath cleans a path inside the container. It must be absolute and
// must not climb above the root with "..": "/../x" would be "/x" after
// cleaning, but says the author expected something else.
func containerPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("required")
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", errors.New("contains a NUL byte")
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%q is not an absolute path", p)
	}
	if escapes(p) {
		return "", fmt.Errorf("%q escapes the rootfs", p)
	}
	return filepath.Clean(p), nil
}

// escapes reports whether path p, taken from the root, goes above the root
// with "..".
func escapes(p string) bool {
	depth := 0
	for _, part := range strings.Split(p, "/") {
		switch part {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

func containerPaths(name string, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(in))
	for i, p := range in {
		cp, err := containerPath(p)
		if err != nil {
			return nil, fieldErr(idx(name, i), "%v", err)
		}
		out = append(out, cp)
	}
	return out, nil
}

var propagations = map[string]uintptr{
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// rootPropagation converts linux.rootfsPropagation. The spec names shared,
// slave, private and unbindable; the r- forms are accepted as runc does.
func rootPropagation(s string, noPivot bool) (uintptr, error) {
	if s == "" {
		return 0, nil
	}
	fl, ok := propagations[s]
	if !ok {
		return 0, fieldErr("linux.rootfsPropagation", "unknown value %q (shared, slave, private or unbindable)", s)
	}
	if noPivot && fl&unix.MS_PRIVATE != 0 {
		// Without pivot_root the old root stays reachable; a private
		// root would keep host mounts pinned in the container (runc).
		return 0, fieldErr("linux.rootfsPropagation", "%q is not safe without pivot_root (--no-pivot)", s)
	}
	return fl, nil
}

func checkPersonality(p *specs.LinuxPersonality) (*specs.LinuxPersonality, error) {
	if p == nil {
		return nil, nil
	}
	switch p.Domain {
	case specs.PerLinux, specs.PerLinux32:
	default:
		return nil, fieldErr("linux.personality.domain", "unknown domain %q (LINUX or LINUX32)", p.Domain)
	}
	if len(p.Flags) > 0 {
		return nil, fieldErr("linux.personality.flags[0]", "unknown flag %q: the spec defines none", p.Flags[0])
	}
	return p, nil
}

// checkHooks: hook paths must be absolute (they are not looked up in
// $PATH, and are resolved when the hook runs, so their existence is not
// checked here); a timeout must be positive.
func checkHooks(h *specs.Hooks) (*specs.Hooks, error) {
	if h == nil {
		return nil, nil
	}
	for _, l := range []struct {
		name  string
		hooks []specs.Hook
	}{
		{"hooks.prestart", h.Prestart},
		{"hooks.createRuntime", h.CreateRuntime},
		{"hooks.createContainer", h.CreateContainer},
		{"hooks.startContainer", h.StartContainer},
		{"hooks.poststart", h.Poststart},
		{"hooks.poststop", h.Poststop},
	} {
		for i, hk := range l.hooks {
			f := idx(l.name, i)
			if hk.Path == "" {
				return nil, fieldErr(f, "path: required")
			}
			if err := absPath(hk.Path); err != nil {
				return nil, fieldErr(f, "path: %v", err)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return nil, fieldErr(f, "timeout must be greater than zero, got %d", *hk.Timeout)
			}
			for j, s := range slices.Concat(hk.Args, hk.Env) {
				if strings.IndexByte(s, 0) >= 0 {
					what := "args"
					if j >= len(hk.Args) {
						what, j = "env", j-len(hk.Args)
					}
					return nil, fieldErr(idx(f+"."+what, j), "contains a NUL byte")
				}
			}
		}
	}
	return h, nil
}
