package main

// The subset of the runtime-spec config the checker reads. It is declared
// here rather than imported so the checker builds with the standard library
// alone.
type spec struct {
	Process  *process          `json:"process"`
	Root     *root             `json:"root"`
	Hostname string            `json:"hostname"`
	Domain   string            `json:"domainname"`
	Mounts   []mount           `json:"mounts"`
	Linux    *linux            `json:"linux"`
	Annot    map[string]string `json:"annotations"`
}

type process struct {
	Terminal     bool                          `json:"terminal"`
	ConsoleSize  *struct{ Height, Width uint } `json:"consoleSize"`
	User         user                          `json:"user"`
	Args         []string                      `json:"args"`
	Env          []string                      `json:"env"`
	Cwd          string                        `json:"cwd"`
	Capabilities *struct {
		Bounding    []string `json:"bounding"`
		Effective   []string `json:"effective"`
		Inheritable []string `json:"inheritable"`
		Permitted   []string `json:"permitted"`
		Ambient     []string `json:"ambient"`
	} `json:"capabilities"`
	Rlimits []struct {
		Type string `json:"type"`
		Hard uint64 `json:"hard"`
		Soft uint64 `json:"soft"`
	} `json:"rlimits"`
	NoNewPrivileges bool `json:"noNewPrivileges"`
	Scheduler       *struct {
		Policy string `json:"policy"`
		Nice   int32  `json:"nice"`
	} `json:"scheduler"`
	IOPriority *struct {
		Class    string `json:"class"`
		Priority int    `json:"priority"`
	} `json:"ioPriority"`
	OOMScoreAdj *int `json:"oomScoreAdj"`
}

type user struct {
	UID            uint32   `json:"uid"`
	GID            uint32   `json:"gid"`
	Umask          *uint32  `json:"umask"`
	AdditionalGids []uint32 `json:"additionalGids"`
}

type root struct {
	Path     string `json:"path"`
	Readonly bool   `json:"readonly"`
}

type mount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type"`
	Source      string   `json:"source"`
	Options     []string `json:"options"`
}

type idmap struct {
	ContainerID uint32 `json:"containerID"`
	HostID      uint32 `json:"hostID"`
	Size        uint32 `json:"size"`
}

type linux struct {
	UIDMappings []idmap           `json:"uidMappings"`
	GIDMappings []idmap           `json:"gidMappings"`
	Sysctl      map[string]string `json:"sysctl"`
	TimeOffsets map[string]struct {
		Secs     int64  `json:"secs"`
		Nanosecs uint32 `json:"nanosecs"`
	} `json:"timeOffsets"`
	Resources *struct {
		Memory *struct {
			Limit       *int64 `json:"limit"`
			Reservation *int64 `json:"reservation"`
			Swap        *int64 `json:"swap"`
		} `json:"memory"`
		CPU *struct {
			Shares *uint64 `json:"shares"`
			Quota  *int64  `json:"quota"`
			Period *uint64 `json:"period"`
			Cpus   string  `json:"cpus"`
			Mems   string  `json:"mems"`
		} `json:"cpu"`
		Unified map[string]string `json:"unified"`
		BlockIO *struct {
			ThrottleReadBpsDevice []struct {
				Major int64  `json:"major"`
				Minor int64  `json:"minor"`
				Rate  uint64 `json:"rate"`
			} `json:"throttleReadBpsDevice"`
		} `json:"blockIO"`
		Pids *struct {
			Limit *int64 `json:"limit"`
		} `json:"pids"`
	} `json:"resources"`
	Namespaces []struct {
		Type string `json:"type"`
		Path string `json:"path"`
	} `json:"namespaces"`
	Devices []struct {
		Path     string  `json:"path"`
		Type     string  `json:"type"`
		Major    int64   `json:"major"`
		Minor    int64   `json:"minor"`
		FileMode *uint32 `json:"fileMode"`
		UID      *uint32 `json:"uid"`
		GID      *uint32 `json:"gid"`
	} `json:"devices"`
	Seccomp *struct {
		DefaultAction string `json:"defaultAction"`
		Syscalls      []struct {
			Names    []string `json:"names"`
			Action   string   `json:"action"`
			ErrnoRet *uint    `json:"errnoRet"`
			Args     []any    `json:"args"`
		} `json:"syscalls"`
	} `json:"seccomp"`
	RootfsPropagation string   `json:"rootfsPropagation"`
	MaskedPaths       []string `json:"maskedPaths"`
	ReadonlyPaths     []string `json:"readonlyPaths"`
	MemoryPolicy      *struct {
		Mode  string   `json:"mode"`
		Nodes string   `json:"nodes"`
		Flags []string `json:"flags"`
	} `json:"memoryPolicy"`
	Personality *struct {
		Domain string `json:"domain"`
	} `json:"personality"`
}
