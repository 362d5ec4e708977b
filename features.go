package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/apparmor"
	"github.com/hullrt/hull/hostcheck"
	"github.com/hullrt/hull/libct/capabilities"
	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/intelrdt"
	"github.com/hullrt/hull/libct/landlock"
	"github.com/hullrt/hull/libct/seccomp"
	"github.com/hullrt/hull/selinux"
	"github.com/hullrt/hull/specconv"
)

func featuresCommand() *cli.Command {
	return &cli.Command{
		Name:  "features",
		Usage: "print what hull supports, as the spec's features.json",
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 0, 0); err != nil {
				return err
			}
			apparmorOn, selinuxOn := apparmor.IsEnabled(), selinux.Enabled()
			// Tried, not assumed: the kernel and the caller's privilege
			// decide (specconv refuses rootless idmapped mounts too).
			idmap := hostcheck.IDMappedMounts(rootless(ctx))
			// What the code implements, not what this host has
			// (features-linux.md): linux.intelRdt (libct/intelrdt),
			// linux.netDevices (libct/netdev) and linux.memoryPolicy (the
			// final program's memoryPolicy step) are applied by create.
			rdt := intelrdt.Supported
			yes := true
			modes, flags := specconv.MemoryPolicyFeatures()
			f := features.Features{
				OCIVersionMin: "1.0.0",
				OCIVersionMax: "1.3.0",
				Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
				MountOptions:  specconv.MountOptions(),
				Linux: &features.Linux{
					Namespaces:      []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
					Capabilities:    capabilities.Names(),
					Cgroup:          cgroups.Features(),
					Seccomp:         seccomp.Features(),
					Apparmor:        &features.Apparmor{Enabled: &apparmorOn},
					Selinux:         &features.Selinux{Enabled: &selinuxOn},
					IntelRdt:        &features.IntelRdt{Enabled: &rdt.Enabled, Schemata: &rdt.Schemata, Monitoring: &rdt.Monitoring},
					MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &idmap}},
					NetDevices:      &features.NetDevices{Enabled: &yes},
					MemoryPolicy:    &features.MemoryPolicy{Modes: modes, Flags: flags},
				},
				Annotations: map[string]string{
					"org.opencontainers.runtime-spec.features": "hull",
					"io.github.hullrt.hull.version":            version,
					// checkpoint and restore (with criu): runc's key,
					// which engines read, and hull's own.
					"org.opencontainers.runc.checkpoint.enabled": "true",
					"io.github.hullrt.hull.checkpoint.enabled":   "true",
				},
				// org.criu.config names the criu configuration file that
				// checkpoint and restore use (as runc).
				PotentiallyUnsafeConfigAnnotations: []string{"org.criu.config"},
			}
			for k, v := range landlockFeatures() {
				f.Annotations[k] = v
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "    ")
			return enc.Encode(&f)
		},
	}
}

// landlockFeatures reports process.landlock (runtime-spec PR #1241, which
// defines no features field yet) as annotations: the kernel's Landlock ABI
// version (0: none) and the access rights hull enforces on it.
func landlockFeatures() map[string]string {
	abi, err := landlock.ABI()
	if err != nil {
		abi = 0
	}
	fs, net := landlock.Supported(min(abi, landlock.LatestABI))
	return map[string]string{
		"io.github.hullrt.hull.landlock.abi":                  strconv.Itoa(abi),
		"io.github.hullrt.hull.landlock.handledAccessFS":      strings.Join(landlock.Names(landlock.FSRights, fs), ","),
		"io.github.hullrt.hull.landlock.handledAccessNetwork": strings.Join(landlock.Names(landlock.NetRights, net), ","),
	}
}
