package conformance

import (
	"fmt"
	"strings"
)

// KnownDeviation is a documented way in which a reference runtime departs
// from the spec (see DEVIATIONS.md). A failing assertion that matches one is
// reported as DEVIATION instead of FAIL unless -strict is given. Matching is
// by clause and test name, never by the runtime's name: a runtime that gets
// the clause right simply passes.
type KnownDeviation struct {
	ID      string // D1, D2...: one deviation may show in several clauses
	Clause  string
	Test    string // substring of the test name
	Message string // substring of the failure message ("" matches any)
	Note    string
}

// KnownDeviations lists the deviations of Debian's runc 1.1.5 found by this
// suite. DEVIATIONS.md is generated from this list (go generate).
var KnownDeviations = []KnownDeviation{
	{"D1", "RT-DELETE-NOT-STOPPED", "TestOperationErrors/delete-created", "err=<nil>", "runc deletes a created container without --force (it kills the init process first)"},
	{"D1", "RT-DELETE-NOT-STOPPED", "TestOperationErrors/delete-created", "after {status:<state failed>", "runc deletes a created container without --force (it kills the init process first)"},
	{"D1", "RT-ERRORS-NO-CHANGE", "TestOperationErrors/delete-created", "after {status:<state failed>", "runc deletes a created container without --force (it kills the init process first)"},
	{"D2", "CFG-RLIMIT-DUP", "TestCreateErrors/duplicate-rlimit", "err=<nil>", "runc accepts duplicate rlimits of one type (the last one wins)"},
	{"D2", "RT-LIFE-CREATE-ERROR", "TestCreateErrors/duplicate-rlimit", "err=<nil>", "runc accepts duplicate rlimits of one type (the last one wins)"},
	{"D3", "CL-DEVICES-MISMATCH", "TestCreateErrors/device-mismatch", "err=<nil>", "runc ignores EEXIST from mknod and keeps the non-device file at the device path"},
	{"D3", "RT-LIFE-CREATE-ERROR", "TestCreateErrors/device-mismatch", "err=<nil>", "runc ignores EEXIST from mknod and keeps the non-device file at the device path"},
	{"D4", "CL-SECCOMP-ERRNO-UNSUPPORTED", "TestCreateErrors/seccomp-errno-on-kill", "err=<nil>", "runc ignores errnoRet on an action that takes no errno (SCMP_ACT_KILL)"},
	{"D4", "RT-LIFE-CREATE-ERROR", "TestCreateErrors/seccomp-errno-on-kill", "err=<nil>", "runc ignores errnoRet on an action that takes no errno (SCMP_ACT_KILL)"},
	{"D5", "CL-INTELRDT-NO-RESCTRL", "TestCreateErrors/intelrdt-without-resctrl", "err=<nil>", "runc 1.1 accepts linux.intelRdt with only closID when no resctrl filesystem is mounted"},
	{"D5", "RT-LIFE-CREATE-ERROR", "TestCreateErrors/intelrdt-without-resctrl", "err=<nil>", "runc 1.1 accepts linux.intelRdt with only closID when no resctrl filesystem is mounted"},
	{"D6", "CFG-DOMAINNAME", "TestProcess/hostname-domainname", "", "runc 1.1 ignores domainname (support came in runc 1.2)"},
	{"D7", "CL-PERSONALITY", "TestPersonality", "", "runc 1.1 ignores linux.personality (support came in runc 1.2)"},
	{"D8", "CFG-HOOK-POSTSTART-WHEN", "TestHooks", "", "runc 1.1 runs poststart hooks at the end of create, before start executes the program"},
	{"D9", "RT-LIFE-STARTCONTAINER-FAIL", "TestHookFailures/startContainer", "start with a failing", "runc's start succeeds although a startContainer hook failed (the container stops without running the program)"},
	{"D10", "RT-LIFE-POSTSTOP-FAIL", "TestHookFailures/poststop", "remaining poststop hooks", "runc stops running poststop hooks at the first one that fails"},
	{"D11", "CFG-CAPS-WARN", "TestUngrantableCapability", "unable to apply caps", "runc fails create (\"unable to apply caps\") when a capability outside its own bounding set is requested, instead of warning"},
	{"D11", "CFG-CAPS-NO-FAIL", "TestUngrantableCapability", "unable to apply caps", "runc fails create when a capability outside its own bounding set is requested"},
	{"D11", "RT-WARNINGS-CONTINUE", "TestUngrantableCapability", "unable to apply caps", "runc fails create when a capability outside its own bounding set is requested, instead of warning"},
	{"D12", "CFG-MOUNTOPT-RO", "", "mount /sys/fs/cgroup option", "runc's cgroup v1 mount puts a read-write tmpfs at /sys/fs/cgroup although the mount says ro"},
	{"D12", "RT-LIFE-CREATE-ENV", "TestDefaultConfig", "", "consequence of D12: the default config's /sys/fs/cgroup is not read-only"},
	{"D13", "CFG-MOUNTOPT-DEFAULTS", "TestMountOptions/defaults", "", "runc passes \"defaults\" to mount(2) as filesystem data, which tmpfs rejects (EINVAL)"},
	{"D13", "FEAT-MOUNT-OPTIONS", "TestMountOptions/defaults", "", "runc lists \"defaults\" in features but passes it to mount(2) as data (EINVAL)"},
	{"D14", "FEAT-MOUNT-OPTIONS", "TestMountOptions/ratime", "", "runc lists ratime in features but the mount fails with EINVAL"},
	{"D14", "FEAT-MOUNT-OPTIONS", "TestMountOptions/rnostrictatime", "", "runc lists rnostrictatime in features but the mount fails with EINVAL"},
	{"D15", "CL-ROOTFS-PROPAGATION", "TestRootfsPropagation/shared", "", "with rootfsPropagation shared, the container's / is not in a peer group (no shared:N)"},
	{"D15", "CL-ROOTFS-PROPAGATION", "TestRootfsPropagation/unbindable", "flags: 0x5000: invalid argument", "with rootfsPropagation unbindable, runc fails to bind-mount the rootfs (EINVAL)"},
	{"D16", "CL-MEMORY-POLICY", "TestMemoryPolicy", "", "runc 1.1 ignores linux.memoryPolicy instead of applying or refusing it"},
	{"D17", "CFG-PROC-SCHEDULER", "TestSchedulingAndIOPriority/scheduler", "", "runc 1.1 ignores process.scheduler instead of applying or refusing it (support came in runc 1.2)"},
	{"D17", "CFG-PROC-IOPRIORITY", "TestSchedulingAndIOPriority/io-priority", "", "runc 1.1 ignores process.ioPriority instead of applying or refusing it (support came in runc 1.2)"},
	{"D18", "CFG-VALID-VALUES", "TestIdmapMount", "the mount's idmapping gives", "runc 1.1 accepts idmap/ridmap mounts with uidMappings/gidMappings but ignores them (no idmapping; files show as the overflow id)"},
	{"D19", "CL-INTELRDT-ROOT-CLOS", "TestIntelRdt/root-clos", "invalid intelRdt.ClosID", "runc 1.1 refuses closID \"/\" (the root group, runtime-spec 1.3) as invalid although its features enable intelRdt"},
	{"D20", "CL-INTELRDT-COMPARE", "TestIntelRdt/existing-other-schema", "err=<nil>", "runc 1.1 writes the schemas over an existing closID group's instead of comparing them (runtime-spec 1.3)"},
	{"D21", "CL-NETDEV-AVAILABLE", "TestNetDevices", "", "runc 1.1 predates linux.netDevices (runtime-spec 1.3) and ignores it: no device is moved"},
	{"D21", "CL-NETDEV-TEMPLATE", "TestNetDevices", "", "runc 1.1 predates linux.netDevices and ignores it"},
	{"D21", "CL-NETDEV-CHECK", "TestNetDevices", "err=<nil>", "runc 1.1 predates linux.netDevices and ignores it: a missing device is no error"},
	{"D21", "CL-NETDEV-NAME-EXISTS", "TestNetDevices", "err=<nil>", "runc 1.1 predates linux.netDevices and ignores it: a taken name is no error"},
	{"D22", "CL-INTELRDT-SCHEMATA", "TestIntelRdt/schemata", "", "runc 1.1 predates linux.intelRdt.schemata (runtime-spec 1.3) and ignores it: nothing is written to the group's schemata"},
	{"D23", "CL-INTELRDT-MON", "TestIntelRdt/monitoring", "no MON group made", "runc 1.1 predates linux.intelRdt.enableMonitoring (runtime-spec 1.3; it had enableCMT/enableMBM) and ignores it: no MON group is made"},
	{"D23", "CL-INTELRDT-MON-NAME", "TestIntelRdt/monitoring", "MON groups made []", "runc 1.1 ignores enableMonitoring: no mon_groups/<container-id> is made"},
	{"D23", "CL-INTELRDT-MON-DELETE", "TestIntelRdt/monitoring", "MON groups made []", "runc 1.1 ignores enableMonitoring: no MON group to delete"},
	{"D23", "CL-INTELRDT-MON-FAIL", "TestIntelRdt/monitoring-exhausted", "err=<nil>", "runc 1.1 ignores enableMonitoring: create succeeds with no MON group left to make"},
}

// MatchDeviation returns the known deviation covering a failure of clause
// in test with message msg.
func MatchDeviation(clause, test, msg string) (KnownDeviation, bool) {
	for _, d := range KnownDeviations {
		if d.Clause == clause && strings.Contains(test, d.Test) && strings.Contains(msg, d.Message) {
			return d, true
		}
	}
	return KnownDeviation{}, false
}

// RenderDeviations renders DEVIATIONS.md from KnownDeviations.
func RenderDeviations() string {
	var b strings.Builder
	b.WriteString("# Known deviations of Debian's runc 1.1.5 from runtime-spec v1.3.0\n\n")
	b.WriteString("Generated from `KnownDeviations` in deviations.go by `go generate`; do not edit.\n\n")
	b.WriteString("Every entry is a check of this suite that fails on `/usr/sbin/runc` (runc 1.1.5+ds1-1+deb12u1,\n")
	b.WriteString("Debian 12) because runc itself departs from the spec, not because the check is wrong.\n")
	b.WriteString("The suite reports such failures as DEVIATION instead of FAIL (run with `-strict` to fail on\n")
	b.WriteString("them). Matching is by clause and test, never by runtime name: another runtime that fails the\n")
	b.WriteString("same check is also shown as DEVIATION in the report, so read the report's message column.\n\n")
	b.WriteString("| id | clause | level / section | test | what runc does |\n|---|---|---|---|---|\n")
	for _, d := range KnownDeviations {
		c, _ := LookupClause(d.Clause)
		test := d.Test
		if test == "" {
			test = "(any test)"
		}
		if d.Message != "" {
			test += " — message contains `" + d.Message + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s %s | %s | %s |\n", d.ID, d.Clause, c.Level, c.Section, test, strings.ReplaceAll(d.Note, "|", "\\|"))
	}
	return b.String()
}
