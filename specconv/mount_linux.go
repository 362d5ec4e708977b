package specconv

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// mountFlag is one mount(8) option: it sets or clears an MS_* flag.
type mountFlag struct {
	clear bool
	flag  uintptr
}

// mountFlags are the filesystem-independent options of mount(8).
var mountFlags = map[string]mountFlag{
	"defaults":      {false, 0},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"nosuid":        {false, unix.MS_NOSUID},
	"suid":          {true, unix.MS_NOSUID},
	"nodev":         {false, unix.MS_NODEV},
	"dev":           {true, unix.MS_NODEV},
	"noexec":        {false, unix.MS_NOEXEC},
	"exec":          {true, unix.MS_NOEXEC},
	"sync":          {false, unix.MS_SYNCHRONOUS},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"remount":       {false, unix.MS_REMOUNT},
	"mand":          {false, unix.MS_MANDLOCK},
	"nomand":        {true, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"atime":         {true, unix.MS_NOATIME},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"diratime":      {true, unix.MS_NODIRATIME},
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"bind":          {false, unix.MS_BIND},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"silent":        {false, unix.MS_SILENT},
	"loud":          {true, unix.MS_SILENT},
	"iversion":      {false, unix.MS_I_VERSION},
	"noiversion":    {true, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
}

// recAttr is one "r"-prefixed option: a MOUNT_ATTR_* bit set or cleared
// with mount_setattr(AT_RECURSIVE).
type recAttr struct {
	clear bool
	attr  uint64
}

var recAttrs = map[string]recAttr{
	"rro":          {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":          {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":      {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":        {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":       {false, unix.MOUNT_ATTR_NODEV},
	"rdev":         {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":      {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":        {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":  {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":    {true, unix.MOUNT_ATTR_NODIRATIME},
	"rnosymfollow": {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":   {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// recAtime are the recursive access-time options. The MOUNT_ATTR_ atime
// values are an enum, not bits: mount_setattr(2) wants MOUNT_ATTR__ATIME in
// attr_clr and exactly one value in attr_set, or it fails with EINVAL. The
// "no" forms go back to the kernel's default (relatime), except norelatime,
// which can only mean strictatime.
var recAtime = map[string]uint64{
	"rrelatime":      unix.MOUNT_ATTR_RELATIME,
	"rnorelatime":    unix.MOUNT_ATTR_STRICTATIME,
	"rnoatime":       unix.MOUNT_ATTR_NOATIME,
	"ratime":         unix.MOUNT_ATTR_RELATIME,
	"rstrictatime":   unix.MOUNT_ATTR_STRICTATIME,
	"rnostrictatime": unix.MOUNT_ATTR_RELATIME,
}

// mountOptions is a mount's options list, parsed.
type mountOptions struct {
	flags, clear   uintptr
	propagation    []uintptr
	data           []string
	recSet, recClr uint64
	idmap, ridmap  bool
	tmpcopyup      bool
}

// parseMountOptions sorts a mount's options into MS_* flags, propagation
// changes, MOUNT_ATTR_* changes and the filesystem's own data, in order: a
// later option overrides an earlier one ("ro,rw" is read-write).
func parseMountOptions(options []string) (mountOptions, error) {
	var m mountOptions
	for i, o := range options {
		if strings.IndexByte(o, 0) >= 0 {
			return m, fieldErr(idx("options", i), "contains a NUL byte")
		}
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				m.flags &^= f.flag
				m.clear |= f.flag
			} else {
				m.flags |= f.flag
				m.clear &^= f.flag
			}
			continue
		}
		if p, ok := propagations[o]; ok {
			m.propagation = append(m.propagation, p)
			continue
		}
		if a, ok := recAttrs[o]; ok {
			if a.clear {
				m.recSet &^= a.attr
				m.recClr |= a.attr
			} else {
				m.recSet |= a.attr
				m.recClr &^= a.attr
			}
			continue
		}
		if v, ok := recAtime[o]; ok {
			m.recSet = m.recSet&^unix.MOUNT_ATTR__ATIME | v
			m.recClr |= unix.MOUNT_ATTR__ATIME
			continue
		}
		switch o {
		case "idmap":
			m.idmap = true
		case "ridmap":
			m.ridmap = true
		case "tmpcopyup":
			m.tmpcopyup = true
		case "":
		default:
			m.data = append(m.data, o)
		}
	}
	return m, nil
}

// convertMounts checks and converts mounts. c must already hold the
// namespaces and the user namespace mappings.
func convertMounts(in []specs.Mount, c *configs.Config, rootless bool) ([]*configs.Mount, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]*configs.Mount, 0, len(in))
	for i, sm := range in {
		m, err := convertMount(sm, c, rootless)
		if err != nil {
			return nil, wrapField(idx("mounts", i), err)
		}
		out = append(out, m)
	}
	return out, nil
}

func convertMount(sm specs.Mount, c *configs.Config, rootless bool) (*configs.Mount, error) {
	dest := sm.Destination
	if dest == "" {
		return nil, fieldErr("destination", "required")
	}
	if strings.IndexByte(dest, 0) >= 0 {
		return nil, fieldErr("destination", "contains a NUL byte")
	}
	// Spec 1.3.0, config.md: on Linux a relative destination is deprecated
	// but allowed, "interpreted as relative to /". runc does the same
	// (with a warning); so does hull, silently.
	if escapes("/" + dest) {
		return nil, fmt.Errorf("destination %q escapes the rootfs", dest)
	}
	dest = filepath.Join("/", dest)
	if dest == "/" {
		return nil, fmt.Errorf("destination %q would cover the whole rootfs; use root.path", sm.Destination)
	}
	opts, err := parseMountOptions(sm.Options)
	if err != nil {
		return nil, err
	}
	if strings.IndexByte(sm.Source, 0) >= 0 || strings.IndexByte(sm.Type, 0) >= 0 {
		return nil, errors.New("source or type contains a NUL byte")
	}
	m := &configs.Mount{
		Source:           sm.Source,
		Destination:      dest,
		Type:             sm.Type,
		Flags:            opts.flags,
		ClearFlags:       opts.clear,
		PropagationFlags: opts.propagation,
		Data:             strings.Join(opts.data, ","),
		RecAttrSet:       opts.recSet,
		RecAttrClr:       opts.recClr,
		TmpCopyUp:        opts.tmpcopyup,
	}
	if m.TmpCopyUp && sm.Type != "tmpfs" {
		return nil, fieldErr("options", "\"tmpcopyup\" is only for tmpfs mounts, not %q", sm.Type)
	}
	// The spec: a bind mount has bind or rbind in its options; type is
	// then a dummy. A type of "bind" alone is taken as a (non-recursive)
	// bind mount too, as crun and runc do.
	if sm.Type == "bind" {
		m.Flags |= unix.MS_BIND
	}
	if m.IsBind() {
		m.Type = "bind"
		if m.Source == "" {
			return nil, fieldErr("source", "required for a bind mount")
		}
		if !filepath.IsAbs(m.Source) {
			// The spec: relative to the bundle.
			m.Source = filepath.Join(c.Bundle, m.Source)
		}
	} else if m.Flags&unix.MS_REMOUNT == 0 {
		switch m.Type {
		case "":
			return nil, fieldErr("type", "required for a mount that is not a bind mount")
		case "none":
			// "none" is the dummy type of bind mounts; mount(2)
			// would fail with ENODEV.
			return nil, fieldErr("type", "\"none\" without a bind or rbind option")
		}
	}
	if err := idmapMount(m, sm, opts, c, rootless); err != nil {
		return nil, err
	}
	if rootless {
		if err := rootlessMountIDs(opts.data, c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// idmapMount sets up an idmapped mount (mount_setattr MOUNT_ATTR_IDMAP) from
// the mount's own mappings, or from the container's user namespace when
// only the idmap/ridmap option is given (the spec allows either).
func idmapMount(m *configs.Mount, sm specs.Mount, opts mountOptions, c *configs.Config, rootless bool) error {
	hasMaps := len(sm.UIDMappings) > 0 || len(sm.GIDMappings) > 0
	if !hasMaps && !opts.idmap && !opts.ridmap {
		return nil
	}
	if len(sm.UIDMappings) > 0 != (len(sm.GIDMappings) > 0) {
		return errors.New("uidMappings and gidMappings must be given together")
	}
	if !m.IsBind() {
		return errors.New("an idmapped mount must be a bind mount")
	}
	if rootless {
		// MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN in the mount's user namespace.
		return errors.New("idmapped mounts need privileges a rootless container lacks")
	}
	uids, gids := sm.UIDMappings, sm.GIDMappings
	if !hasMaps {
		if len(c.UIDMappings) == 0 || len(c.GIDMappings) == 0 {
			return errors.New("idmap needs uidMappings and gidMappings on the mount, or a user namespace with mappings")
		}
		uids, gids = c.UIDMappings, c.GIDMappings
	}
	if err := checkIDMap("uidMappings", uids); err != nil {
		return err
	}
	if err := checkIDMap("gidMappings", gids); err != nil {
		return err
	}
	m.UIDMappings, m.GIDMappings = uids, gids
	m.IDMapRecursive = opts.ridmap
	return nil
}

// rootlessMountIDs: a uid= or gid= option of a rootless container's mount
// must name an id of the container's user namespace.
func rootlessMountIDs(data []string, c *configs.Config) error {
	if len(c.UIDMappings) == 0 {
		return nil // joined user namespace: its mappings are not known here
	}
	for _, o := range data {
		for _, id := range []struct {
			prefix string
			maps   []specs.LinuxIDMapping
		}{{"uid=", c.UIDMappings}, {"gid=", c.GIDMappings}} {
			v, ok := strings.CutPrefix(o, id.prefix)
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				continue // not a number: the filesystem's business
			}
			if !mapped(id.maps, uint32(n)) {
				return fmt.Errorf("option %q: %s%d is not mapped in the user namespace of a rootless container", o, id.prefix, n)
			}
		}
	}
	return nil
}

// MountOptions lists every mount option name Convert understands, for
// `hull features` (mountOptions). Options it does not know are passed to
// the filesystem as data.
func MountOptions() []string {
	var out []string
	for name := range mountFlags {
		out = append(out, name)
	}
	for name := range recAttrs {
		out = append(out, name)
	}
	for name := range recAtime {
		out = append(out, name)
	}
	out = append(out, "idmap", "ridmap", "tmpcopyup")
	sort.Strings(out)
	return out
}
