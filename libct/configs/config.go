// Package configs holds libct's container configuration: what specconv
// produces from an OCI config.json after validation, and what the parent
// hands to the container's init over the sync pipe.
//
// Fields that the kernel takes in a different form than the spec writes them
// (mount options, capability and rlimit names, namespace types) are stored
// already converted, so that init never parses strings. Structured spec types
// that need no conversion (resources, seccomp, hooks, devices, id mappings)
// are reused as they are.
package configs

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// NamespaceType is a namespace kind in the kernel's words ("pid", "net",
// "mnt", "ipc", "uts", "user", "cgroup", "time"), as in /proc/PID/ns/.
type NamespaceType string

// The namespace types hull knows, named as in /proc/PID/ns/.
const (
	NEWPID    NamespaceType = "pid"
	NEWNET    NamespaceType = "net"
	NEWNS     NamespaceType = "mnt"
	NEWIPC    NamespaceType = "ipc"
	NEWUTS    NamespaceType = "uts"
	NEWUSER   NamespaceType = "user"
	NEWCGROUP NamespaceType = "cgroup"
	NEWTIME   NamespaceType = "time"
)

// Namespace is one namespace of the container: created new when Path is
// empty, joined (setns) otherwise.
type Namespace struct {
	Type NamespaceType `json:"type"`
	Path string        `json:"path,omitempty"`
}

// Mount is one entry of config.json's mounts with its options parsed, in
// the kernel's vocabulary for the new mount API: mount attributes as
// MOUNT_ATTR_* bits (what mount_setattr(2) and fsmount(2) take), the
// filesystem's own options as fsconfig(2) keys, propagation as the MS_*
// values mount_setattr's propagation field takes.
type Mount struct {
	Source      string `json:"source"`      // absolute for a bind mount
	Destination string `json:"destination"` // absolute, cleaned, inside the rootfs
	Type        string `json:"type"`        // filesystem type; "bind" for bind mounts
	// Bind makes a bind mount of Source ("bind"); Recursive takes its
	// submounts too ("rbind").
	Bind      bool `json:"bind,omitempty"`
	Recursive bool `json:"recursive,omitempty"`
	// Remount ("remount") changes the mount already at Destination (or,
	// with Bind, keeps the source's attributes but those named).
	Remount bool `json:"remount,omitempty"`
	// Attr and AttrClr are the mount's attributes as mount_setattr(2)
	// takes them: MOUNT_ATTR_* bits to set (RDONLY, NOSUID, NODEV,
	// NOEXEC, NODIRATIME, NOSYMFOLLOW) and the ones the options turned
	// off explicitly ("rw", "suid", ...). An access-time option puts
	// MOUNT_ATTR__ATIME in AttrClr and its mode (NOATIME, STRICTATIME or
	// RELATIME, which is 0) in Attr.
	Attr    uint64 `json:"attr,omitempty"`
	AttrClr uint64 `json:"attrClr,omitempty"`
	// PropagationFlags are applied one by one after the mount (MS_PRIVATE,
	// MS_SLAVE, MS_SHARED, MS_UNBINDABLE, possibly with MS_REC).
	PropagationFlags []uintptr `json:"propagationFlags,omitempty"`
	// Data are the filesystem's options in order ("size=65536k",
	// "mode=755", "newinstance", and the superblock options "sync",
	// "dirsync", "lazytime", "mand" and their opposites), each given to
	// the filesystem with fsconfig(2). A bind mount has none.
	Data []string `json:"data,omitempty"`
	// RecAttrSet/RecAttrClr are MOUNT_ATTR_* bits from the "r"-prefixed
	// options (rro, rnosuid, ...), applied with mount_setattr(AT_RECURSIVE).
	RecAttrSet uint64 `json:"recAttrSet,omitempty"`
	RecAttrClr uint64 `json:"recAttrClr,omitempty"`
	// UIDMappings/GIDMappings make an idmapped mount (mount_setattr MOUNT_ATTR_IDMAP).
	UIDMappings []specs.LinuxIDMapping `json:"uidMappings,omitempty"`
	GIDMappings []specs.LinuxIDMapping `json:"gidMappings,omitempty"`
	// IDMapRecursive is set by the "ridmap" option.
	IDMapRecursive bool `json:"idmapRecursive,omitempty"`
	// TmpCopyUp (the "tmpcopyup" option of a tmpfs) fills the new tmpfs
	// with what the image has at the destination, as runc does.
	TmpCopyUp bool `json:"tmpCopyUp,omitempty"`
}

// IsBind reports whether the mount is a bind mount.
func (m *Mount) IsBind() bool { return m.Bind }

// Rlimit is one resource limit for setrlimit(2)/prlimit(2).
type Rlimit struct {
	Type int    `json:"type"` // RLIMIT_* number
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// Capabilities are the five capability sets as CAP_* numbers.
type Capabilities struct {
	Bounding    []int `json:"bounding,omitempty"`
	Effective   []int `json:"effective,omitempty"`
	Permitted   []int `json:"permitted,omitempty"`
	Inheritable []int `json:"inheritable,omitempty"`
	Ambient     []int `json:"ambient,omitempty"`
}

// Process is the process to run: the container's init, or one started by exec.
type Process struct {
	Args            []string               `json:"args"`
	Env             []string               `json:"env,omitempty"`
	Cwd             string                 `json:"cwd"`
	UID             uint32                 `json:"uid"`
	GID             uint32                 `json:"gid"`
	AdditionalGids  []uint32               `json:"additionalGids,omitempty"`
	Umask           *uint32                `json:"umask,omitempty"`
	Terminal        bool                   `json:"terminal,omitempty"`
	ConsoleSize     *specs.Box             `json:"consoleSize,omitempty"`
	Rlimits         []Rlimit               `json:"rlimits,omitempty"`
	OOMScoreAdj     *int                   `json:"oomScoreAdj,omitempty"`
	NoNewPrivileges bool                   `json:"noNewPrivileges,omitempty"`
	Capabilities    *Capabilities          `json:"capabilities,omitempty"`
	ApparmorProfile string                 `json:"apparmorProfile,omitempty"`
	SelinuxLabel    string                 `json:"selinuxLabel,omitempty"`
	IOPriority      *specs.LinuxIOPriority `json:"ioPriority,omitempty"`
	Scheduler       *specs.Scheduler       `json:"scheduler,omitempty"`
	ExecCPUAffinity *specs.CPUAffinity     `json:"execCPUAffinity,omitempty"`
	// Landlock is applied last, right before execve (see Landlock).
	Landlock *Landlock `json:"landlock,omitempty"`
}

// Cgroup says where the container's cgroup is and what it may use.
type Cgroup struct {
	// Path is linux.cgroupsPath as given (may be empty: the default
	// path is then derived from the container id by the cgroup manager).
	Path string `json:"path,omitempty"`
	// Systemd selects the systemd driver (--systemd-cgroup); Path is then
	// "slice:prefix:name".
	Systemd bool `json:"systemd,omitempty"`
	// Resources are linux.resources, unchanged.
	Resources *specs.LinuxResources `json:"resources,omitempty"`
	// SystemdProperties are the org.systemd.property.* annotations, sorted
	// by name, for the systemd driver's unit (empty without Systemd).
	SystemdProperties []SystemdProperty `json:"systemdProperties,omitempty"`
}

// Config is one container's configuration, validated and converted from the
// OCI spec by specconv.
type Config struct {
	// Version is the spec's ociVersion.
	Version string `json:"ociVersion"`
	// Bundle is the absolute path of the bundle directory.
	Bundle string `json:"bundle"`
	// Rootfs is the absolute path of the root filesystem.
	Rootfs   string `json:"rootfs"`
	Readonly bool   `json:"readonly,omitempty"`
	// NoPivotRoot uses MS_MOVE + chroot instead of pivot_root (--no-pivot).
	NoPivotRoot bool `json:"noPivotRoot,omitempty"`
	// NoNewKeyring keeps the caller's session keyring (--no-new-keyring).
	NoNewKeyring bool `json:"noNewKeyring,omitempty"`
	// RootPropagation is linux.rootfsPropagation as MS_* flags (0: MS_SLAVE|MS_REC as runc).
	RootPropagation uintptr `json:"rootPropagation,omitempty"`

	Hostname   string `json:"hostname,omitempty"`
	Domainname string `json:"domainname,omitempty"`

	Namespaces  []Namespace                      `json:"namespaces,omitempty"`
	UIDMappings []specs.LinuxIDMapping           `json:"uidMappings,omitempty"`
	GIDMappings []specs.LinuxIDMapping           `json:"gidMappings,omitempty"`
	TimeOffsets map[string]specs.LinuxTimeOffset `json:"timeOffsets,omitempty"`

	Mounts        []*Mount                `json:"mounts,omitempty"`
	Devices       []specs.LinuxDevice     `json:"devices,omitempty"`
	MaskedPaths   []string                `json:"maskedPaths,omitempty"`
	ReadonlyPaths []string                `json:"readonlyPaths,omitempty"`
	MountLabel    string                  `json:"mountLabel,omitempty"`
	Sysctl        map[string]string       `json:"sysctl,omitempty"`
	Personality   *specs.LinuxPersonality `json:"personality,omitempty"`

	Cgroup  *Cgroup             `json:"cgroup,omitempty"`
	Seccomp *specs.LinuxSeccomp `json:"seccomp,omitempty"`
	Hooks   *specs.Hooks        `json:"hooks,omitempty"`
	Process *Process            `json:"process"`

	// IntelRdt is linux.intelRdt, checked (libct/intelrdt applies it).
	IntelRdt *specs.LinuxIntelRdt `json:"intelRdt,omitempty"`
	// MemoryPolicy is linux.memoryPolicy, for set_mempolicy(2).
	MemoryPolicy *MemoryPolicy `json:"memoryPolicy,omitempty"`
	// NetDevices is linux.netDevices, sorted by host name.
	NetDevices []NetDevice `json:"netDevices,omitempty"`

	Annotations map[string]string `json:"annotations,omitempty"`
}

// Namespace returns the namespace of type t and whether the config has one.
func (c *Config) Namespace(t NamespaceType) (Namespace, bool) {
	for _, ns := range c.Namespaces {
		if ns.Type == t {
			return ns, true
		}
	}
	return Namespace{}, false
}
