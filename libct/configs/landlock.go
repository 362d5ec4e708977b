package configs

// Landlock is process.landlock (runtime-spec PR #1241, not yet in
// runtime-spec's Go types) with access right names converted to the
// kernel's LANDLOCK_ACCESS_FS_* and LANDLOCK_ACCESS_NET_* bits. Rules keep
// the order and indexes of config.json, so that an error found while
// applying them names the same field as the document.
type Landlock struct {
	// HandledAccessFS and HandledAccessNet are the rights the ruleset
	// handles (denies unless a rule allows them).
	HandledAccessFS  uint64 `json:"handledAccessFS,omitempty"`
	HandledAccessNet uint64 `json:"handledAccessNet,omitempty"`
	// PathBeneath are rules.pathBeneath; the paths are the container's,
	// opened inside it after pivot_root.
	PathBeneath []LandlockPathBeneath `json:"pathBeneath,omitempty"`
	// NetPort are rules.netPort.
	NetPort []LandlockNetPort `json:"netPort,omitempty"`
	// DisableBestEffort makes every right and path mandatory: without it
	// rights the kernel's Landlock ABI lacks are dropped with a warning
	// (and missing paths skipped).
	DisableBestEffort bool `json:"disableBestEffort,omitempty"`
}

// LandlockPathBeneath allows AllowedAccess on the file hierarchies below
// each of Paths (absolute paths in the container).
type LandlockPathBeneath struct {
	AllowedAccess uint64   `json:"allowedAccess"`
	Paths         []string `json:"paths"`
}

// LandlockNetPort allows AllowedAccess (bind, connect) on each TCP port.
type LandlockNetPort struct {
	AllowedAccess uint64   `json:"allowedAccess"`
	Ports         []uint16 `json:"ports"`
}
