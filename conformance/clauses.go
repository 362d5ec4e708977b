package conformance

import (
	"sort"
	"strings"
)

// Level is the RFC 2119 keyword of a clause.
type Level string

// The levels used by the suite.
const (
	MUST   Level = "MUST"
	SHOULD Level = "SHOULD"
)

// Clause is one normative sentence of the runtime-spec (v1.3.0) that the
// suite checks. Text is a distinctive substring of the sentence (whitespace
// normalised) and is how COVERAGE.md maps spec sentences to clause IDs.
// A clause with an empty Text checks a property whose obligation comes from
// the clause named in Via (e.g. hostname is applied because RT-CREATE-APPLY
// says every property except process MUST be applied).
type Clause struct {
	ID      string
	Level   Level
	Section string // file#anchor
	Text    string
	Via     string
}

// File returns the spec file of the clause's section.
func (c Clause) File() string { return strings.SplitN(c.Section, "#", 2)[0] }

// Anchor returns the anchor of the clause's section.
func (c Clause) Anchor() string {
	parts := strings.SplitN(c.Section, "#", 2)
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

func rt(id, anchor, text string) Clause {
	return Clause{ID: id, Level: MUST, Section: "runtime.md#" + anchor, Text: text}
}

func cfg(id, anchor, text string) Clause {
	return Clause{ID: id, Level: MUST, Section: "config.md#" + anchor, Text: text}
}

func lnx(id, anchor, text string) Clause {
	return Clause{ID: id, Level: MUST, Section: "config-linux.md#" + anchor, Text: text}
}

func via(id, section, parent string) Clause {
	return Clause{ID: id, Level: MUST, Section: section, Via: parent}
}

func baseClauses() []Clause {
	return []Clause{
		// runtime.md: state, lifecycle, errors, operations.
		rt("RT-SCOPE", "runtimeScopeContainer", "MUST be able to use the operations defined in this specification against that same container"),
		rt("RT-STATE-ID-UNIQUE", "runtimeState", "This MUST be unique across all containers on this host."),
		rt("RT-STATE-STATUS", "runtimeState", "they MUST be used to represent new runtime states not defined above"),
		rt("RT-STATE-SCHEMA", "runtimeState", "the format MUST adhere to the JSON Schema"),
		rt("RT-LIFE-CREATE-ENV", "runtimeLifecycle", "runtime environment MUST be created according to the configuration"),
		rt("RT-LIFE-CREATE-ERROR", "runtimeLifecycle", "If the runtime is unable to create the environment specified"),
		rt("RT-LIFE-NO-PROGRAM", "runtimeLifecycle", "MUST NOT be run at this time"),
		rt("RT-LIFE-CONFIG-FROZEN", "runtimeLifecycle", "after this step MUST NOT affect the container"),
		rt("RT-LIFE-PRESTART", "runtimeLifecycle", "hooks](config.md#prestart) MUST be invoked by the runtime"),
		rt("RT-LIFE-PRESTART-FAIL", "runtimeLifecycle", "If any `prestart` hook fails, the runtime MUST"),
		rt("RT-LIFE-CREATERUNTIME", "runtimeLifecycle", "hooks](config.md#createRuntime-hooks) MUST be invoked by the runtime"),
		rt("RT-LIFE-CREATERUNTIME-FAIL", "runtimeLifecycle", "If any `createRuntime` hook fails, the runtime MUST"),
		rt("RT-LIFE-CREATECONTAINER", "runtimeLifecycle", "hooks](config.md#createContainer-hooks) MUST be invoked by the runtime"),
		rt("RT-LIFE-CREATECONTAINER-FAIL", "runtimeLifecycle", "If any `createContainer` hook fails, the runtime MUST"),
		rt("RT-LIFE-STARTCONTAINER", "runtimeLifecycle", "hooks](config.md#startContainer-hooks) MUST be invoked by the runtime"),
		rt("RT-LIFE-STARTCONTAINER-FAIL", "runtimeLifecycle", "If any `startContainer` hook fails, the runtime MUST"),
		rt("RT-LIFE-RUN", "runtimeLifecycle", "The runtime MUST run the user-specified program"),
		rt("RT-LIFE-POSTSTART", "runtimeLifecycle", "hooks](config.md#poststart) MUST be invoked by the runtime"),
		rt("RT-LIFE-POSTSTART-FAIL", "runtimeLifecycle", "If any `poststart` hook fails, the runtime MUST"),
		rt("RT-LIFE-DESTROY", "runtimeLifecycle", "The container MUST be destroyed by undoing the steps"),
		rt("RT-LIFE-POSTSTOP", "runtimeLifecycle", "hooks](config.md#poststop) MUST be invoked by the runtime"),
		rt("RT-LIFE-POSTSTOP-FAIL", "runtimeLifecycle", "If any `poststop` hook fails, the runtime MUST"),
		rt("RT-ERRORS-NO-CHANGE", "runtimeErrors", "generating an error MUST leave the state of the environment as if the operation were never attempted"),
		rt("RT-WARNINGS-CONTINUE", "runtimeWarnings", "it MUST continue as if the warning had not been logged"),
		rt("RT-OPS-SUPPORT", "runtimeOperations", "runtimes MUST support the following operations"),
		rt("RT-STATE-NOID", "runtimeQueryState", "if it is not provided the ID of a container"),
		rt("RT-STATE-UNKNOWN", "runtimeQueryState", "Attempting to query a container that does not exist MUST"),
		rt("RT-STATE-RETURN", "runtimeQueryState", "This operation MUST return the state of a container"),
		rt("RT-CREATE-NOARGS", "runtimeCreate", "if it is not provided a path to the bundle and the container ID"),
		rt("RT-CREATE-DUP-ID", "runtimeCreate", "If the ID provided is not unique across all containers within the scope of the runtime"),
		rt("RT-CREATE-NEW", "runtimeCreate", "This operation MUST create a new container."),
		rt("RT-CREATE-APPLY", "runtimeCreate", "except for [`process`](config.md#process) MUST be applied"),
		rt("RT-CREATE-ARGS-DEFERRED", "runtimeCreate", "MUST NOT be applied until triggered by the [`start`](#start) operation"),
		rt("RT-CREATE-CANNOT-APPLY", "runtimeCreate", "If the runtime cannot apply a property as specified in the [configuration](config.md), it MUST"),
		rt("RT-START-NOID", "runtimeStart", "if it is not provided the container ID"),
		rt("RT-START-NOT-CREATED", "runtimeStart", "Attempting to `start` a container that is not"),
		rt("RT-START-RUN", "runtimeStart", "This operation MUST run the user-specified program"),
		rt("RT-START-NO-PROCESS", "runtimeStart", "This operation MUST generate an error if `process` was not set."),
		rt("RT-KILL-NOID", "runtimeKill", "if it is not provided the container ID"),
		rt("RT-KILL-NOT-LIVE", "runtimeKill", "Attempting to send a signal to a container that is neither"),
		rt("RT-KILL-SEND", "runtimeKill", "This operation MUST send the specified signal to the container process."),
		rt("RT-DELETE-NOID", "runtimeDelete", "if it is not provided the container ID"),
		rt("RT-DELETE-NOT-STOPPED", "runtimeDelete", "Attempting to `delete` a container that is not"),
		rt("RT-DELETE-RESOURCES", "runtimeDelete", "Deleting a container MUST delete the resources that were created during the `create` step."),
		rt("RT-DELETE-KEEP-FOREIGN", "runtimeDelete", "but not created by this container, MUST NOT be deleted"),

		// runtime-linux.md.
		{ID: "RL-DEV-SYMLINKS", Level: MUST, Section: "runtime-linux.md#runtimeLinuxDevSymbolicLinks", Text: "runtimes MUST create the following symlinks"},

		// config.md: root, mounts, process, hooks, annotations, extensibility.
		cfg("CFG-ROOT-PATH", "configRoot", "A directory MUST exist at the path declared by the field."),
		cfg("CFG-ROOT-READONLY", "configRoot", "If true then the root filesystem MUST be read-only inside the container"),
		{ID: "CFG-MOUNTOPT-IDMAP", Level: MUST, Section: "config.md#configLinuxMountOptions", Text: "`idmap` | SHOULD | Indicates that the mount MUST have an idmapping applied"},
		{ID: "CFG-MOUNTOPT-RIDMAP", Level: MUST, Section: "config.md#configLinuxMountOptions", Text: "`ridmap` | SHOULD | Indicates that the mount MUST have an idmapping applied, and the mapping is applied recursively"},
		cfg("CFG-MOUNTS-ORDER", "configMounts", "The runtime MUST mount entries in the listed order."),
		cfg("CFG-MOUNTS-RELATIVE", "configMounts", "it MUST be interpreted as relative to \"/\""),
		via("CFG-MOUNTS-APPLY", "config.md#configMounts", "RT-CREATE-APPLY"),
		cfg("CFG-PROC-CONSOLESIZE-IGNORED", "configProcess", "Runtimes MUST ignore `consoleSize` if `terminal` is `false` or unset."),
		via("CFG-PROC-TERMINAL", "config.md#configProcess", "RT-START-RUN"),
		cfg("CFG-PROC-CWD-ABS", "configProcess", "This value MUST be an absolute path."),
		via("CFG-PROC-CWD", "config.md#configProcess", "RT-START-RUN"),
		via("CFG-PROC-ENV", "config.md#configProcess", "RT-START-RUN"),
		via("CFG-PROC-ARGS", "config.md#configProcess", "RT-START-RUN"),
		cfg("CFG-RLIMIT-INVALID", "configPOSIXProcess", "MUST [generate an error](runtime.md#errors) for any values which cannot be mapped to a relevant kernel interface"),
		cfg("CFG-RLIMIT-GETRLIMIT", "configPOSIXProcess", "on `type` MUST succeed"),
		cfg("CFG-RLIMIT-SOFT", "configPOSIXProcess", "`rlim.rlim_cur` MUST match the configured value."),
		cfg("CFG-RLIMIT-HARD", "configPOSIXProcess", "`rlim.rlim_max` MUST match the configured value."),
		cfg("CFG-RLIMIT-DUP", "configPOSIXProcess", "If `rlimits` contains duplicated entries with same `type`"),
		cfg("CFG-CAPS-WARN", "configLinuxProcess", "be granted otherwise MUST be [logged as a warning]"),
		via("CFG-CAPS-SETS", "config.md#configLinuxProcess", "RT-START-RUN"),
		via("CFG-PROC-NNP", "config.md#configLinuxProcess", "RT-START-RUN"),
		via("CFG-PROC-SCHEDULER", "config.md#configLinuxProcess", "RT-START-RUN"),
		via("CFG-PROC-IOPRIORITY", "config.md#configLinuxProcess", "RT-START-RUN"),
		cfg("CFG-PROC-OOM-SET", "configLinuxProcess", "If `oomScoreAdj` is set, the runtime MUST set `oom_score_adj` to the given value."),
		cfg("CFG-PROC-OOM-UNSET", "configLinuxProcess", "If `oomScoreAdj` is not set, the runtime MUST NOT change the value of `oom_score_adj`."),
		via("CFG-USER", "config.md#configPOSIXUser", "RT-START-RUN"),
		via("CFG-HOSTNAME", "config.md#configHostname", "RT-CREATE-APPLY"),
		via("CFG-DOMAINNAME", "config.md#configDomainname", "RT-CREATE-APPLY"),
		{ID: "CFG-HOOK-PATH-RUNTIME-NS", Level: MUST, Section: "config.md#configHooks", Text: "The value of `path` MUST resolve in the [runtime namespace]"},
		{ID: "CFG-HOOK-PATH-CONTAINER-NS", Level: MUST, Section: "config.md#configHooks", Text: "The value of `path` MUST resolve in the [container namespace]"},
		{ID: "CFG-HOOK-RUNTIME-NS", Level: MUST, Section: "config.md#configHooks", Text: "hooks MUST be executed in the [runtime namespace]"},
		{ID: "CFG-HOOK-CONTAINER-NS", Level: MUST, Section: "config.md#configHooks", Text: "hooks MUST be executed in the [container namespace]"},
		cfg("CFG-HOOKS-ORDER", "configHooks", "Hooks MUST be called in the listed order."),
		cfg("CFG-HOOKS-STDIN", "configHooks", "MUST be passed to hooks over stdin"),
		cfg("CFG-HOOK-PRESTART-WHEN", "configHooksPrestart", "The `prestart` hooks MUST be called as part of the [`create`]"),
		cfg("CFG-HOOK-PRESTART-FIRST", "configHooksPrestart", "The `prestart` hooks MUST be called before the `createRuntime` hooks."),
		cfg("CFG-HOOK-PRESTART-PATH", "configHooksPrestart", "The `prestart` hooks' path MUST resolve in the [runtime namespace]"),
		cfg("CFG-HOOK-PRESTART-NS", "configHooksPrestart", "The `prestart` hooks MUST be executed in the [runtime namespace]"),
		cfg("CFG-HOOK-CREATERUNTIME-WHEN", "configHooksCreateRuntime", "The `createRuntime` hooks MUST be called as part of the [`create`]"),
		cfg("CFG-HOOK-CREATERUNTIME-PATH", "configHooksCreateRuntime", "The `createRuntime` hooks' path MUST resolve in the [runtime namespace]"),
		cfg("CFG-HOOK-CREATERUNTIME-NS", "configHooksCreateRuntime", "The `createRuntime` hooks MUST be executed in the [runtime namespace]"),
		cfg("CFG-HOOK-CREATECONTAINER-WHEN", "configHooksCreateContainer", "The `createContainer` hooks MUST be called as part of the [`create`]"),
		cfg("CFG-HOOK-CREATECONTAINER-AFTER", "configHooksCreateContainer", "The `createContainer` hooks MUST be called after the `createRuntime` hooks."),
		cfg("CFG-HOOK-CREATECONTAINER-PATH", "configHooksCreateContainer", "The `createContainer` hooks' path MUST resolve in the [runtime namespace]"),
		cfg("CFG-HOOK-CREATECONTAINER-NS", "configHooksCreateContainer", "The `createContainer` hooks MUST be executed in the [container namespace]"),
		cfg("CFG-HOOK-STARTCONTAINER-WHEN", "configHooksStartContainer", "The `startContainer` hooks MUST be called [before the user-specified process is executed]"),
		cfg("CFG-HOOK-STARTCONTAINER-PATH", "configHooksStartContainer", "The `startContainer` hooks' path MUST resolve in the [container namespace]"),
		cfg("CFG-HOOK-STARTCONTAINER-NS", "configHooksStartContainer", "The `startContainer` hooks MUST be executed in the [container namespace]"),
		cfg("CFG-HOOK-POSTSTART-WHEN", "configHooksPoststart", "The `poststart` hooks MUST be called [after the user-specified process is executed]"),
		cfg("CFG-HOOK-POSTSTART-PATH", "configHooksPoststart", "The `poststart` hooks' path MUST resolve in the [runtime namespace]"),
		cfg("CFG-HOOK-POSTSTART-NS", "configHooksPoststart", "The `poststart` hooks MUST be executed in the [runtime namespace]"),
		cfg("CFG-HOOK-POSTSTOP-WHEN", "configHooksPoststop", "The `poststop` hooks MUST be called [after the container is deleted]"),
		cfg("CFG-HOOK-POSTSTOP-PATH", "configHooksPoststop", "The `poststop` hooks' path MUST resolve in the [runtime namespace]"),
		cfg("CFG-HOOK-POSTSTOP-NS", "configHooksPoststop", "The `poststop` hooks MUST be executed in the [runtime namespace]"),
		cfg("CFG-ANNOTATIONS-UNKNOWN", "configAnnotations", "Runtimes MUST handle unknown annotation keys like any other"),
		cfg("CFG-EXTENSIBILITY", "configExtensibility", "but MUST otherwise ignore them"),
		cfg("CFG-VALID-VALUES", "valid-values", "Runtimes MUST generate an error when invalid or unsupported values are encountered."),

		// config-linux.md.
		lnx("CL-NS-PATH-JOIN", "configLinuxNamespaces", "The runtime MUST place the container process in the namespace associated with that `path`."),
		lnx("CL-NS-PATH-TYPE", "configLinuxNamespaces", "if `path` is not associated with a namespace of type `type`"),
		lnx("CL-NS-NEW", "configLinuxNamespaces", "If `path` is not specified, the runtime MUST create a new"),
		lnx("CL-NS-INHERIT", "configLinuxNamespaces", "the container MUST inherit the [runtime namespace]"),
		lnx("CL-NS-DUP", "configLinuxNamespaces", "If a `namespaces` field contains duplicated namespaces with same `type`"),
		via("CL-TIME-OFFSETS", "config-linux.md#configLinuxTimeOffset", "RT-CREATE-APPLY"),
		via("CL-USERNS-MAPPINGS", "config-linux.md#configLinuxUserNamespaceMappings", "RT-CREATE-APPLY"),
		lnx("CL-DEVICES", "configLinuxDevices", "lists devices that MUST be available in the container"),
		lnx("CL-DEVICES-MISMATCH", "configLinuxDevices", "that does not match the requested device, the runtime MUST generate an error"),
		lnx("CL-DEFAULT-DEVICES", "configLinuxDefaultDevices", "the runtime MUST also supply"),
		lnx("CL-CGROUPSPATH-ABS", "configLinuxCgroupsPath", "the runtime MUST take the path to be relative to the cgroups mount point"),
		lnx("CL-CGROUPSPATH-SAME", "configLinuxCgroupsPath", "MUST consistently attach to the same place in the cgroups hierarchy"),
		lnx("CL-DEVICE-CGROUP-ORDER", "configLinuxDeviceAllowedlist", "The runtime MUST apply entries in the listed order."),
		via("CL-MEMORY", "config-linux.md#configLinuxMemory", "RT-CREATE-APPLY"),
		via("CL-CPU", "config-linux.md#configLinuxCPU", "RT-CREATE-APPLY"),
		via("CL-BLOCKIO", "config-linux.md#configLinuxBlockIO", "RT-CREATE-APPLY"),
		via("CL-PIDS", "config-linux.md#configLinuxPIDS", "RT-CREATE-APPLY"),
		lnx("CL-UNIFIED-ENABLE", "configLinuxUnified", "The OCI runtime MUST ensure that the needed cgroup controllers are enabled for the cgroup."),
		lnx("CL-UNIFIED-UNKNOWN-WRITTEN", "configLinuxUnified", "Configuration unknown to the runtime MUST still be written to the relevant file."),
		lnx("CL-UNIFIED-MISSING-CONTROLLER", "configLinuxUnified", "The runtime MUST generate an error when the configuration refers to a cgroup controller that is not present"),
		lnx("CL-INTELRDT-NO-RESCTRL", "configLinuxIntelRdt", "If no mounted `resctrl` pseudo-filesystem is available"),
		lnx("CL-INTELRDT-TASKS", "configLinuxIntelRdt", "If `intelRdt` is set, the runtime MUST write the container process ID to the `tasks` file"),
		lnx("CL-INTELRDT-UNSET", "configLinuxIntelRdt", "If `intelRdt` is not set, the runtime MUST NOT manipulate any `resctrl` pseudo-filesystems."),
		lnx("CL-INTELRDT-ROOT-CLOS", "configLinuxIntelRdt", "value `/` means that the container MUST be assigned to the default CLOS"),
		lnx("CL-INTELRDT-NO-SCHEMA-NO-WRITE", "configLinuxIntelRdt", "runtimes MUST NOT write to `schemata` files in any `resctrl` pseudo-filesystems"),
		lnx("CL-INTELRDT-COMPARE", "configLinuxIntelRdt", "runtimes MUST compare `l3CacheSchema` and/or `memBwSchema` value with `schemata` file"),
		lnx("CL-INTELRDT-PRECONFIGURED", "configLinuxIntelRdt", "runtime MUST check if corresponding pre-configured directory `closID` is present"),
		lnx("CL-INTELRDT-PRECONFIGURED-ASSIGN", "configLinuxIntelRdt", "runtime MUST assign container to this `closID`"),
		lnx("CL-INTELRDT-KEEP", "configLinuxIntelRdt", "If `closID` is set or the runtime has not created the sub-directory, the runtime MUST NOT remove"),
		lnx("CL-INTELRDT-SCHEMA-BOTH", "configLinuxIntelRdt", "If both `l3CacheSchema` and `memBwSchema` are set, runtimes MUST write the values to the `schemata` file"),
		lnx("CL-INTELRDT-SCHEMA-ORDER", "configLinuxIntelRdt", "The runtimes MUST write `l3CacheSchema` first and `memBwSchema` last."),
		lnx("CL-INTELRDT-SCHEMA-EITHER", "configLinuxIntelRdt", "If either `l3CacheSchema` or `memBwSchema` is set, runtimes MUST write the value to the `schemata` file"),
		lnx("CL-INTELRDT-SCHEMATA", "configLinuxIntelRdt", "If `schemata` field is set, runtimes MUST write the value to the `schemata` file"),
		lnx("CL-INTELRDT-CREATE-ID", "configLinuxIntelRdt", "If `closID` is not set, runtimes MUST use the container ID from [`start`](runtime.md#start) and create the `<container-id>` directory."),
		lnx("CL-INTELRDT-CREATE-CLOS", "configLinuxIntelRdt", "if `closID` directory in a mounted `resctrl` pseudo-filesystem doesn't exist, the runtimes MUST create it."),
		lnx("CL-INTELRDT-REMOVE", "configLinuxIntelRdt", "If `closID` is not set and the runtime has created the sub-directory, the runtime MUST remove the sub-directory"),
		lnx("CL-INTELRDT-MON", "configLinuxIntelRdt", "If `enableMonitoring` is set, the runtime MUST create a dedicated MON group for the container."),
		lnx("CL-INTELRDT-MON-NAME", "configLinuxIntelRdt", "The runtime MUST use the container ID from [`start`](runtime.md#start) as the name of the MON group"),
		lnx("CL-INTELRDT-MON-DELETE", "configLinuxIntelRdt", "The runtime MUST delete the MON group after the container is deleted."),
		lnx("CL-INTELRDT-MON-FAIL", "configLinuxIntelRdt", "If creation of the MON group fails (e.g. the maximum number of MON groups is reached) the runtime MUST return an error."),
		lnx("CL-NETDEV-AVAILABLE", "configLinuxNetworkDevices", "A set of network devices that MUST be made available in the container"),
		lnx("CL-NETDEV-CHECK", "configLinuxNetworkDevices", "The runtime MUST check if moving the network interface to the container namespace is possible."),
		lnx("CL-NETDEV-NAME-EXISTS", "configLinuxNetworkDevices", "If a network device with the specified name already exists in the container namespace, the runtime MUST"),
		lnx("CL-NETDEV-TEMPLATE", "configLinuxNetworkDevices", "In that case, the runtime MUST allow the move"),
		lnx("CL-NETDEV-ADDRS", "configLinuxNetworkDevices", "The runtime MUST preserve existing network interface attributes"),
		lnx("CL-NETDEV-UP", "configLinuxNetworkDevices", "The runtime MUST set the network device state to \"up\""),
		lnx("CL-NETDEV-UNMANAGED", "namespace-lifecycle-and-container-termination", "The runtime MUST NOT actively manage the interface's lifecycle and configuration"),
		lnx("CL-NETDEV-NO-MOVE-OUT", "namespace-lifecycle-and-container-termination", "attempt to move the interface out of the namespace before deletion"),
		via("CL-SYSCTL", "config-linux.md#configLinuxSysctl", "RT-CREATE-APPLY"),
		lnx("CL-SECCOMP-ERRNO-UNSUPPORTED", "configLinuxSeccomp", "When the action doesn't support an errno, the runtime MUST print and error and fail."),
		via("CL-SECCOMP", "config-linux.md#configLinuxSeccomp", "RT-CREATE-APPLY"),
		lnx("CL-SECCOMP-LISTENER-STREAM", "configLinuxSeccomp", "This socket MUST use `AF_UNIX` domain and `SOCK_STREAM` type."),
		lnx("CL-SECCOMP-LISTENER-ONE", "configLinuxSeccomp", "The runtime MUST send exactly one [container process state](#containerprocessstate) per connection."),
		lnx("CL-SECCOMP-LISTENER-CLOSE", "configLinuxSeccomp", "The connection MUST NOT be reused and it MUST be closed after sending a seccomp state."),
		lnx("CL-SECCOMP-LISTENER-FAIL", "configLinuxSeccomp", "If sending to this socket fails, the runtime MUST [generate an error]"),
		lnx("CL-SECCOMP-STATE-PAYLOAD", "containerprocessstate", "MUST send the container process state over the UNIX socket as regular payload serialized in JSON"),
		lnx("CL-SECCOMP-STATE-FDS-FIRST", "containerprocessstate", "the file descriptors MUST be sent only in the first call"),
		via("CL-ROOTFS-PROPAGATION", "config-linux.md#configLinuxRootfsMountPropagation", "RT-CREATE-APPLY"),
		via("CL-MASKED-PATHS", "config-linux.md#configLinuxMaskedPaths", "RT-CREATE-APPLY"),
		via("CL-READONLY-PATHS", "config-linux.md#configLinuxReadonlyPaths", "RT-CREATE-APPLY"),
		via("CL-MEMORY-POLICY", "config-linux.md#configLinuxMemoryPolicy", "RT-CREATE-APPLY"),
		via("CL-PERSONALITY", "config-linux.md#configLinuxPersonality", "RT-CREATE-APPLY"),

		// SHOULD clauses: asserted and reported, not part of COVERAGE.md.
		{ID: "CFG-CAPS-NO-FAIL", Level: SHOULD, Section: "config.md#configLinuxProcess", Text: "Runtimes SHOULD NOT fail if the container configuration requests capabilities that cannot be granted"},
		{ID: "CL-DEFAULT-FILESYSTEMS", Level: SHOULD, Section: "config-linux.md#configLinuxDefaultFilesystems", Text: "The following filesystems SHOULD be made available in each container's filesystem"},
		{ID: "CL-NS-TYPES", Level: SHOULD, Section: "config-linux.md#configLinuxNamespaces", Text: "The following namespace types SHOULD be supported"},
		{ID: "CL-USERNS-NO-CHOWN", Level: SHOULD, Section: "config-linux.md#configLinuxUserNamespaceMappings", Text: "The runtime SHOULD NOT modify the ownership of referenced filesystems to realize the mapping."},
		{ID: "FEAT-MOUNT-OPTIONS-NO-DATA", Level: SHOULD, Section: "features.md#featuresMountOptions", Text: "this array SHOULD NOT contain filesystem-specific mount options"},

		// features.md and features-linux.md.
		{ID: "FEAT-OCIVERSION-ACCEPT", Level: MUST, Section: "features.md#featuresSpecificationVersion", Text: "The runtime MUST accept this value as the [`ociVersion` property"},
		{ID: "FEAT-OCIVERSION-ORDER", Level: MUST, Section: "features.md#featuresSpecificationVersion", Text: "The value MUST NOT be less than the value of the `ociVersionMin` property."},
		{ID: "FEAT-NO-UNKNOWN", Level: MUST, Section: "features.md#featuresSpecificationVersion", Text: "The Features structure MUST NOT contain properties that are not defined"},
		{ID: "FEAT-HOOKS", Level: MUST, Section: "features.md#featuresHooks", Text: "The runtime MUST support the elements in this array as the [`hooks` property"},
		{ID: "FEAT-MOUNT-OPTIONS", Level: MUST, Section: "features.md#featuresMountOptions", Text: "The runtime MUST recognize the elements in this array as the [`options` of `mounts` objects"},
		{ID: "FEAT-ANNOTATIONS", Level: MUST, Section: "features.md#featuresAnnotations", Text: "Annotations MUST be a key-value map that follows the same convention"},
		{ID: "FEAT-LINUX-NAMESPACES", Level: MUST, Section: "features-linux.md#linuxFeaturesNamespaces", Text: "as the [`type` of `linux.namespaces` objects"},
		{ID: "FEAT-LINUX-CAPABILITIES", Level: MUST, Section: "features-linux.md#linuxFeaturesCapabilities", Text: "in the [`process.capabilities` object"},
		{ID: "FEAT-LINUX-SECCOMP-ACTIONS", Level: MUST, Section: "features-linux.md#linuxFeaturesSeccomp", Text: "in the [`syscalls[].action` property"},
		{ID: "FEAT-LINUX-SECCOMP-OPERATORS", Level: MUST, Section: "features-linux.md#linuxFeaturesSeccomp", Text: "in the [`syscalls[].args[].op` property"},
		{ID: "FEAT-LINUX-SECCOMP-KNOWN-FLAGS", Level: MUST, Section: "features-linux.md#linuxFeaturesSeccomp", Text: "The runtime MUST recognize the elements in this array in the [`flags` property"},
		{ID: "FEAT-LINUX-SECCOMP-SUPPORTED-FLAGS", Level: MUST, Section: "features-linux.md#linuxFeaturesSeccomp", Text: "The runtime MUST recognize and support the elements in this array in the [`flags` property"},
		{ID: "FEAT-LINUX-MEMPOLICY-MODES", Level: MUST, Section: "features-linux.md#linuxFeaturesMemoryPolicy", Text: "as the [`mode` of `linux.memoryPolicy` objects"},
		{ID: "FEAT-LINUX-MEMPOLICY-FLAGS", Level: MUST, Section: "features-linux.md#linuxFeaturesMemoryPolicy", Text: "in the [`flags` property of the `linux.memoryPolicy` object"},
		{ID: "FEAT-LINUX-MOUNTEXT-IDMAP", Level: MUST, Section: "features-linux.md#linuxFeaturesMountExtensions", Text: "runtimes MUST still set this value to `true`"},
		{ID: "FEAT-LINUX-SECCOMP-ARCHS", Level: MUST, Section: "features-linux.md#linuxFeaturesSeccomp", Text: "in the [`architectures` property"},
	}
}

// mustMountOptions are the option strings that config.md's "Linux mount
// options" table marks MUST.
var mustMountOptions = []string{
	"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
	"iversion", "lazytime", "loud", "noatime", "nodev", "nodiratime", "noexec",
	"noiversion", "nolazytime", "norelatime", "nostrictatime", "nosuid",
	"private", "rbind", "relatime", "remount", "ro", "rprivate", "rshared",
	"rslave", "runbindable", "rw", "shared", "silent", "slave", "strictatime",
	"suid", "sync", "unbindable",
}

// MountOptionClause returns the clause ID of a MUST mount option.
func MountOptionClause(opt string) string { return "CFG-MOUNTOPT-" + strings.ToUpper(opt) }

// Clauses returns every clause the suite knows, sorted by ID.
func Clauses() []Clause {
	all := baseClauses()
	for _, o := range mustMountOptions {
		all = append(all, Clause{ID: MountOptionClause(o), Level: MUST,
			Section: "config.md#configLinuxMountOptions", Text: "`" + o + "`"})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return all
}

// LookupClause finds a clause by ID.
func LookupClause(id string) (Clause, bool) {
	for _, c := range Clauses() {
		if c.ID == id {
			return c, true
		}
	}
	return Clause{}, false
}
