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

// attrOption is one per-mount option of mount(8) as a MOUNT_ATTR_* bit it
// sets or clears.
type attrOption struct {
	clear bool
	attr  uint64
}

// attrOptions are the per-mount attribute options of mount(8).
var attrOptions = map[string]attrOption{
	"ro":          {false, unix.MOUNT_ATTR_RDONLY},
	"rw":          {true, unix.MOUNT_ATTR_RDONLY},
	"nosuid":      {false, unix.MOUNT_ATTR_NOSUID},
	"suid":        {true, unix.MOUNT_ATTR_NOSUID},
	"nodev":       {false, unix.MOUNT_ATTR_NODEV},
	"dev":         {true, unix.MOUNT_ATTR_NODEV},
	"noexec":      {false, unix.MOUNT_ATTR_NOEXEC},
	"exec":        {true, unix.MOUNT_ATTR_NOEXEC},
	"nodiratime":  {false, unix.MOUNT_ATTR_NODIRATIME},
	"diratime":    {true, unix.MOUNT_ATTR_NODIRATIME},
	"nosymfollow": {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"symfollow":   {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// atimeOptions are the access-time options: the MOUNT_ATTR_ access-time
// mode they pick (an enum, not bits: MOUNT_ATTR_RELATIME is 0), or, for
// the "no" forms and "atime", the mode they drop. A later option wins.
var atimeOptions = map[string]attrOption{
	"noatime":       {false, unix.MOUNT_ATTR_NOATIME},
	"atime":         {true, unix.MOUNT_ATTR_NOATIME},
	"relatime":      {false, unix.MOUNT_ATTR_RELATIME},
	"norelatime":    {true, unix.MOUNT_ATTR_RELATIME},
	"strictatime":   {false, unix.MOUNT_ATTR_STRICTATIME},
	"nostrictatime": {true, unix.MOUNT_ATTR_STRICTATIME},
}

// sbOptions are mount(8) options that belong to the superblock: they are
// passed to the filesystem with the rest of its options, and fsconfig(2)
// takes them for every filesystem.
var sbOptions = map[string]bool{
	"sync": true, "async": true, "dirsync": true,
	"mand": true, "nomand": true, "lazytime": true, "nolazytime": true,
}

// ignoredOptions are mount(8) options that change nothing for a
// container's mounts: silent/loud only quieten mount(2)'s kernel log and
// iversion is the filesystem's own choice; fsconfig(2) takes none of them.
var ignoredOptions = map[string]bool{
	"defaults": true, "silent": true, "loud": true, "iversion": true, "noiversion": true,
}

// recAttrs are the "r"-prefixed options: a MOUNT_ATTR_* bit set or cleared
// with mount_setattr(AT_RECURSIVE).
var recAttrs = map[string]attrOption{
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

// recAtime are the recursive access-time options. mount_setattr(2) wants
// MOUNT_ATTR__ATIME in attr_clr and exactly one value in attr_set, or it
// fails with EINVAL. The "no" forms go back to the kernel's default
// (relatime), except norelatime, which can only mean strictatime.
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
	bind, rec, remount bool
	// attr, attrClr: mount_setattr's attr_set and attr_clr for the
	// mount itself; attrClr holds MOUNT_ATTR__ATIME when an access-time
	// mode is in attr.
	attr, attrClr  uint64
	propagation    []uintptr
	data           []string
	recSet, recClr uint64
	idmap, ridmap  bool
	tmpcopyup      bool
}

// parseMountOptions sorts a mount's options into MOUNT_ATTR_* changes for
// the mount and its submounts, propagation changes and the filesystem's
// own options, in order: a later option overrides an earlier one ("ro,rw"
// is read-write). Options it does not know are the filesystem's.
func parseMountOptions(options []string) (mountOptions, error) {
	var m mountOptions
	var opts []string
	for i, o := range options {
		if strings.IndexByte(o, 0) >= 0 {
			return m, fieldErr(idx("options", i), "contains a NUL byte")
		}
		// An entry may hold several options, comma-separated, as
		// mount(8)'s -o does.
		opts = append(opts, splitData(o)...)
	}
	for _, o := range opts {
		if a, ok := attrOptions[o]; ok {
			if a.clear {
				m.attr &^= a.attr
				m.attrClr |= a.attr
			} else {
				m.attr |= a.attr
				m.attrClr &^= a.attr
			}
			continue
		}
		if a, ok := atimeOptions[o]; ok {
			switch {
			case !a.clear:
				m.attr = m.attr&^unix.MOUNT_ATTR__ATIME | a.attr
				m.attrClr |= unix.MOUNT_ATTR__ATIME
			case m.attrClr&unix.MOUNT_ATTR__ATIME != 0 && m.attr&unix.MOUNT_ATTR__ATIME == a.attr:
				// The mode it names is dropped: none is asked.
				m.attr &^= unix.MOUNT_ATTR__ATIME
				m.attrClr &^= unix.MOUNT_ATTR__ATIME
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
		switch {
		case o == "bind":
			m.bind = true
		case o == "rbind":
			m.bind, m.rec = true, true
		case o == "remount":
			m.remount = true
		case o == "idmap":
			m.idmap = true
		case o == "ridmap":
			m.ridmap = true
		case o == "tmpcopyup":
			m.tmpcopyup = true
		case ignoredOptions[o]:
		default:
			// sbOptions and the filesystem's own.
			m.data = append(m.data, o)
		}
	}
	return m, nil
}

// splitData splits a filesystem option string at its commas, except those
// inside double quotes (an SELinux context="...:c1,c2").
func splitData(o string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i <= len(o); i++ {
		switch {
		case i == len(o) || (o[i] == ',' && !quoted):
			if i > start {
				out = append(out, o[start:i])
			}
			start = i + 1
		case o[i] == '"':
			quoted = !quoted
		}
	}
	return out
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
		Bind:             opts.bind,
		Recursive:        opts.rec,
		Remount:          opts.remount,
		Attr:             opts.attr,
		AttrClr:          opts.attrClr,
		PropagationFlags: opts.propagation,
		Data:             opts.data,
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
		m.Bind = true
	}
	if m.Bind {
		m.Type = "bind"
		if m.Source == "" {
			return nil, fieldErr("source", "required for a bind mount")
		}
		// A bind mount has no filesystem to take options: one hull
		// does not know is a mistake (a misspelt "noexec" would
		// otherwise be dropped in silence).
		for _, o := range m.Data {
			if !sbOptions[o] {
				return nil, fmt.Errorf("unknown option %q", o)
			}
		}
		m.Data = nil
		if !filepath.IsAbs(m.Source) {
			// The spec: relative to the bundle. Resolved here once;
			// libct/rootfs takes the absolute path as it is.
			m.Source = filepath.Join(c.Bundle, m.Source)
		}
	} else if !m.Remount {
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
// the filesystem, which names the one it refuses; on a bind mount, which
// has no filesystem to take them, they are an error.
func MountOptions() []string {
	out := []string{"bind", "rbind", "remount", "idmap", "ridmap", "tmpcopyup"}
	for _, m := range []map[string]bool{sbOptions, ignoredOptions} {
		for name := range m {
			out = append(out, name)
		}
	}
	for _, m := range []map[string]attrOption{attrOptions, atimeOptions, recAttrs} {
		for name := range m {
			out = append(out, name)
		}
	}
	for name := range recAtime {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
