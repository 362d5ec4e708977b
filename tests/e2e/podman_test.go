//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// podman drives Podman as root with a private configuration: its own
// containers.conf, storage.conf and registries.conf (through the
// CONTAINERS_* variables), its own --root/--runroot and tmp_dir, all under
// the work dir, and the runtime under test given as --runtime PATH.
type podman struct {
	e       *env
	dir     string
	graph   string // --root
	runroot string // --runroot: holds each container's oci-log (the runtime's --log)
	conf    string // containers.conf
	env     []string
	image   string
	seq     atomic.Int64

	cgroupsBefore map[string]bool // cgroups under libpod_parent before the run
}

const podmanImage = "localhost/hull-e2e/busybox:latest"

// podmanConf is containers.conf. Why each setting:
//   - default_ulimits: Podman's defaults (nofile 1048576, nproc as large)
//     exceed this host's hard limits, and raising a hard limit needs
//     CAP_SYS_RESOURCE, which the sandbox's bounding set lacks; every
//     runtime then fails setrlimit with EPERM.
//   - netns "none": no network access and no netavark here; CNI is only
//     configured (in a private dir) so Podman can start at all.
//   - cgroup_manager "cgroupfs": systemd is not PID 1.
//   - events_logger "file": no journald.
//   - runtime_supports_json: Podman passes --log-format=json only to the
//     runtimes named there (keyed on the binary's base name).
const podmanConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"
log_driver = "k8s-file"

[network]
network_backend = "cni"
network_config_dir = "%[1]s/cni"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "%[1]s/events.log"
tmp_dir = "%[1]s/tmp"
volume_path = "%[1]s/volumes"
runtime_supports_json = ["crun", "runc", "hull"]
no_pivot_root = %[2]t
`

const podmanStorageConf = `[storage]
driver = "%s"
graphroot = "%s"
runroot = "%s"
`

func newPodman(e *env) (*podman, error) {
	if _, err := exec.LookPath("podman"); err != nil {
		return nil, fmt.Errorf("podman not installed (tests/e2e/deps.sh installs it): %w", err)
	}
	dir := filepath.Join(e.work, "podman")
	p := &podman{e: e, dir: dir, graph: filepath.Join(dir, "graph"), runroot: filepath.Join(dir, "run"), image: podmanImage,
		cgroupsBefore: libpodCgroups()}
	for _, d := range []string{"cni", "tmp", "volumes", "graph", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	p.conf = filepath.Join(dir, "containers.conf")
	files := map[string]string{
		p.conf: fmt.Sprintf(podmanConf, dir, false),
		filepath.Join(dir, "containers-nopivot.conf"): fmt.Sprintf(podmanConf, dir, true),
		filepath.Join(dir, "storage.conf"):            fmt.Sprintf(podmanStorageConf, podmanDriver(dir), p.graph, p.runroot),
		filepath.Join(dir, "registries.conf"):         "unqualified-search-registries = []\n",
	}
	for name, data := range files {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			return nil, err
		}
	}
	p.env = []string{
		"CONTAINERS_CONF=" + p.conf,
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(dir, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(dir, "registries.conf"),
	}
	r := p.cmd(2*time.Minute, nil, "import", "--change", `CMD ["/bin/sh"]`, e.layer, p.image)
	if r.err != nil || r.code != 0 {
		return p, fmt.Errorf("podman import:\n%s", r)
	}
	return p, nil
}

// podmanDriver picks overlay when this host can mount overlayfs in dir
// (kernel overlay support, a backing filesystem that can be an upper
// dir), else vfs, which works everywhere but copies every layer.
func podmanDriver(dir string) string {
	probe := filepath.Join(dir, "overlay-probe")
	defer os.RemoveAll(probe)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(probe, d), 0o755); err != nil {
			return "vfs"
		}
	}
	merged := filepath.Join(probe, "merged")
	opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", probe, probe, probe)
	if out, err := exec.Command("mount", "-t", "overlay", "overlay", "-o", opts, merged).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: overlayfs unusable here (%v: %s), podman uses vfs storage\n", err, out)
		return "vfs"
	}
	_ = exec.Command("umount", merged).Run()
	return "overlay"
}

// cmd runs `podman --root --runroot --runtime RUNTIME args...`.
func (p *podman) cmd(timeout time.Duration, stdin []byte, args ...string) result {
	full := append([]string{"podman", "--root", p.graph, "--runroot", p.runroot, "--runtime", p.e.runtime}, args...)
	return run(timeout, stdin, p.env, full...)
}

// pm runs a podman command within the scenario's deadline (60 s at most).
func (p *podman) pm(s *sc, stdin []byte, args ...string) result {
	return p.cmd(s.budget(60*time.Second), stdin, args...)
}

// name returns a fresh container name and registers its cleanup: on
// failure, the runtime's JSON log, podman's view of it and its output are
// dumped; then it is removed, and the runtime must have no state left for
// it.
func (p *podman) name(s *sc) string {
	n := fmt.Sprintf("e2e-%d", p.seq.Add(1))
	cidfile := filepath.Join(p.dir, n+".cid")
	s.Cleanup(func() {
		id := ""
		if b, err := os.ReadFile(cidfile); err == nil {
			id = strings.TrimSpace(string(b))
		}
		if s.Failed() {
			p.diag(s.T, n, id)
		}
		r := p.cmd(time.Minute, nil, "rm", "-f", "-t", "0", n)
		// Podman 4.3 races its own `container cleanup` process for the
		// container's shm mount: rm can fail with "unlinkat …/userdata/shm:
		// device or resource busy" whatever the runtime (seen with runc in
		// a CI run). That is Podman's storage, not the runtime's state; a
		// second rm finds the mount gone. Anything else fails at once.
		for try := 0; try < 3 && r.code != 0 && strings.Contains(r.stderr, "userdata/shm: device or resource busy"); try++ {
			time.Sleep(300 * time.Millisecond)
			r = p.cmd(time.Minute, nil, "rm", "-f", "-t", "0", n)
		}
		if r.err != nil || (r.code != 0 && !strings.Contains(r.stderr, "no such container")) {
			s.Errorf("cleanup: podman rm -f:\n%s", r)
		}
		if id != "" {
			p.e.checkNoRuntimeState(s.T, "", id)
		}
		os.Remove(cidfile)
	})
	return n
}

// diag logs what a failed scenario needs: the runtime's --log lines (kept
// by Podman at RUNROOT/overlay-containers/ID/userdata/oci-log), the
// container's state and output, and conmon's events.
func (p *podman) diag(t *testing.T, name, id string) {
	t.Helper()
	if id != "" {
		ocilog := p.ociLog(id)
		b, err := os.ReadFile(ocilog)
		t.Logf("diag: %s --log (%s): %v\n%s", p.e.name, ocilog, err, b)
	}
	r := p.cmd(30*time.Second, nil, "inspect", "--format", "{{json .State}}", name)
	t.Logf("diag: podman inspect %s: %s%s", name, r.stdout, r.stderr)
	r = p.cmd(30*time.Second, nil, "logs", name)
	t.Logf("diag: podman logs %s:\n%s%s", name, r.stdout, r.stderr)
	if id != "" {
		if b, err := os.ReadFile(filepath.Join(p.dir, "events.log")); err == nil {
			var lines []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, id) {
					lines = append(lines, l)
				}
			}
			t.Logf("diag: podman events for %s:\n%s", id, strings.Join(lines, "\n"))
		}
	}
}

// ociLog is where Podman has the runtime write its --log.
func (p *podman) ociLog(id string) string {
	return filepath.Join(p.runroot, p.driver()+"-containers", id, "userdata", "oci-log")
}

func (p *podman) driver() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "storage.conf"))
	if strings.Contains(string(b), `"vfs"`) {
		return "vfs"
	}
	return "overlay"
}

// runCtr runs `podman run --name N --cidfile F opts... IMAGE cmd...` in the
// foreground.
func (p *podman) runCtr(s *sc, stdin []byte, opts []string, cmd ...string) result {
	n := p.name(s)
	args := append([]string{"run", "--name", n, "--cidfile", filepath.Join(p.dir, n+".cid")}, opts...)
	args = append(append(args, p.image), cmd...)
	return p.pm(s, stdin, args...)
}

// startCtr starts a detached container and returns its name.
func (p *podman) startCtr(s *sc, opts []string, cmd ...string) string {
	s.Helper()
	n := p.name(s)
	args := append([]string{"run", "-d", "--name", n, "--cidfile", filepath.Join(p.dir, n+".cid")}, opts...)
	args = append(append(args, p.image), cmd...)
	expect(s.T, p.pm(s, nil, args...), 0)
	return n
}

func (p *podman) inspect(s *sc, name, format string) string {
	s.Helper()
	return expect(s.T, p.pm(s, nil, "inspect", "--format", format, name), 0)
}

func (p *podman) pid(s *sc, name string) int {
	s.Helper()
	pid, err := strconv.Atoi(p.inspect(s, name, "{{.State.Pid}}"))
	if err != nil || pid <= 0 {
		s.Fatalf("container %s has no pid: %v", name, err)
	}
	return pid
}

// wait waits for the container to exit and returns its exit code.
func (p *podman) wait(s *sc, name string) int {
	s.Helper()
	out := expect(s.T, p.pm(s, nil, "wait", name), 0)
	code, err := strconv.Atoi(out)
	if err != nil {
		s.Fatalf("podman wait %s: %q", name, out)
	}
	return code
}

// waitOutput polls the container's log until it contains want.
func (p *podman) waitOutput(s *sc, name, want string) {
	s.Helper()
	err := eventually(s.budget(20*time.Second), func() error {
		r := p.cmd(10*time.Second, nil, "logs", name)
		if strings.Contains(r.stdout+r.stderr, want) {
			return nil
		}
		return fmt.Errorf("container %s output has no %q yet: %s%s", name, want, r.stdout, r.stderr)
	})
	if err != nil {
		s.Fatal(err)
	}
}

// teardown removes every pod and container, resets the storage (which
// unmounts the layers) and reports conmon processes still alive.
func (p *podman) teardown() []string {
	var leaks []string
	p.cmd(2*time.Minute, nil, "pod", "rm", "-a", "-f", "-t", "0")
	r := p.cmd(2*time.Minute, nil, "ps", "-a", "-q")
	if out := strings.TrimSpace(r.stdout); out != "" {
		leaks = append(leaks, "podman containers not removed by their scenario: "+strings.Join(strings.Fields(out), " "))
		p.cmd(2*time.Minute, nil, "rm", "-a", "-f", "-t", "0")
	}
	for _, pid := range pidsMentioning(p.dir) {
		if strings.HasPrefix(cmdline(pid), "/usr/bin/conmon") {
			leaks = append(leaks, fmt.Sprintf("conmon %d alive after every container was removed: killed", pid))
			killPID(pid)
		}
	}
	if r := p.cmd(2*time.Minute, nil, "system", "reset", "-f"); r.code != 0 {
		leaks = append(leaks, "podman system reset:\n"+r.String())
	}
	// With cgroup_manager cgroupfs, Podman puts containers in
	// /libpod_parent/libpod-ID and conmon in /libpod_parent/conmon; the
	// runtime's delete removes the container's. What this run added and
	// left is a leak; the (empty) parents are removed.
	for _, parent := range libpodParents() {
		ents, _ := os.ReadDir(parent)
		for _, ent := range ents {
			dir := filepath.Join(parent, ent.Name())
			if !ent.IsDir() || p.cgroupsBefore[dir] || ent.Name() == "conmon" {
				continue
			}
			if strings.HasPrefix(ent.Name(), "libpod-") {
				leaks = append(leaks, "cgroup left behind: "+dir)
			} else {
				// A pod's cgroup (/libpod_parent/POD_ID): Podman 4.3 removes
				// it from the v1 controllers' hierarchies but not from
				// name=systemd and the cgroup2 one of a hybrid host, with
				// runc too. An engine leftover, not the runtime's.
				fmt.Fprintf(os.Stderr, "e2e: removing %s (a pod cgroup Podman leaves on hybrid hosts)\n", dir)
			}
			rmdirTree(dir)
		}
		_ = os.Remove(filepath.Join(parent, "conmon"))
		_ = os.Remove(parent)
	}
	return leaks
}

// rmdirTree removes an (empty) cgroup directory tree, deepest first.
func rmdirTree(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		if ent.IsDir() {
			rmdirTree(filepath.Join(dir, ent.Name()))
		}
	}
	_ = os.Remove(dir)
}

// libpodParents lists Podman's cgroupfs parent in every v1 hierarchy.
func libpodParents() []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/libpod_parent")
	return dirs
}

// libpodCgroups is the set of container and pod cgroups under
// libpod_parent now.
func libpodCgroups() map[string]bool {
	set := map[string]bool{}
	for _, parent := range libpodParents() {
		ents, _ := os.ReadDir(parent)
		for _, ent := range ents {
			if ent.IsDir() {
				set[filepath.Join(parent, ent.Name())] = true
			}
		}
	}
	return set
}

// checkNoRuntimeState fails t if the runtime still has state for id under
// root ("" for its default root, which Podman uses as root): the engine's
// delete must have removed it. Leftovers are force-deleted.
func (e *env) checkNoRuntimeState(t *testing.T, root, id string) {
	t.Helper()
	args := []string{e.runtime}
	if root != "" {
		args = append(args, "--root", root)
	}
	r := run(30*time.Second, nil, nil, append(args, "state", id)...)
	if r.code == 0 {
		t.Errorf("%s still has state for %s after the engine removed it:\n%s", e.name, id, r.stdout)
		run(30*time.Second, nil, nil, append(args, "delete", "--force", id)...)
	}
}

func podmanReady(t *testing.T) *podman {
	t.Helper()
	if testEnv.podman == nil || testEnv.podmanErr != nil {
		t.Fatalf("podman is not usable: %v", testEnv.podmanErr)
	}
	return testEnv.podman
}

var errNotYet = errors.New("not yet")
