//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// containerd is a private containerd daemon started by the suite: its own
// root, state, sockets and config (CRI disabled) under the work dir, driven
// with ctr in its own namespace; every container runs with --runc-binary
// set to the runtime under test and a private --runc-root.
type containerd struct {
	e        *env
	dir      string
	sock     string
	ns       string
	runcRoot string // the shim runs the runtime with --root RUNCROOT/NS
	log      string // the daemon's (and its shims') log
	daemon   *exec.Cmd
	exited   chan struct{}
	seq      atomic.Int64
}

const (
	ctrdImage = "localhost/hull-e2e/busybox:latest"
	ctrdNS    = "hull-e2e"
)

// ctrdConfig disables the CRI plugin (it wants CNI and a pause image) and
// the snapshotters this host cannot use, so the log stays readable.
const ctrdConfig = `version = 2
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "%[1]s/containerd.sock"

[ttrpc]
  address = "%[1]s/containerd.sock.ttrpc"

[debug]
  address = "%[1]s/debug.sock"
  level = "info"
`

func newContainerd(e *env) (*containerd, error) {
	for _, bin := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s not installed (tests/e2e/deps.sh installs containerd): %w", bin, err)
		}
	}
	dir := filepath.Join(e.work, "containerd")
	c := &containerd{e: e, dir: dir, sock: filepath.Join(dir, "containerd.sock"), ns: ctrdNS,
		runcRoot: filepath.Join(dir, "runc"), log: filepath.Join(dir, "containerd.log"), exited: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(ctrdConfig, dir)), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(c.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	c.daemon = exec.Command("containerd", "--config", conf)
	c.daemon.Stdout, c.daemon.Stderr = logf, logf
	c.daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.daemon.Start(); err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	go func() { c.daemon.Wait(); close(c.exited) }()
	// run.sh's trap stops the daemon by this pid if the suite dies.
	_ = os.WriteFile(filepath.Join(e.work, "containerd.pid"), []byte(strconv.Itoa(c.daemon.Process.Pid)), 0o644)
	if err := eventually(30*time.Second, func() error {
		select {
		case <-c.exited:
			return nil
		default:
		}
		if r := c.cmd(10*time.Second, nil, "version"); r.code != 0 {
			return fmt.Errorf("containerd not answering on %s:\n%s", c.sock, r)
		}
		return nil
	}); err != nil {
		return c, err
	}
	select {
	case <-c.exited:
		b, _ := os.ReadFile(c.log)
		return c, fmt.Errorf("containerd exited at start: %s\n%s", c.daemon.ProcessState, b)
	default:
	}
	archive := filepath.Join(dir, "image.tar")
	if err := writeOCIArchive(archive, e.layer, ctrdImage); err != nil {
		return c, fmt.Errorf("build the OCI image archive: %w", err)
	}
	if r := c.cmd(2*time.Minute, nil, "images", "import", archive); r.code != 0 {
		return c, fmt.Errorf("ctr images import:\n%s", r)
	}
	return c, nil
}

// writeOCIArchive writes an OCI image layout tar (oci-layout, index.json,
// blobs) holding one image: layer (an uncompressed tar) and a config that
// runs /bin/sh. The index names the image with containerd's
// io.containerd.image.name annotation, which `ctr images import` uses.
func writeOCIArchive(path, layer, name string) error {
	layerData, err := os.ReadFile(layer)
	if err != nil {
		return err
	}
	blobs := map[string][]byte{}
	add := func(data []byte) (string, int) {
		sum := sha256.Sum256(data)
		d := hex.EncodeToString(sum[:])
		blobs[d] = data
		return "sha256:" + d, len(data)
	}
	layerDigest, layerSize := add(layerData)
	config, _ := json.Marshal(map[string]any{
		"architecture": goarch(),
		"os":           "linux",
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": []string{"/bin/sh"},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	configDigest, configSize := add(config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": configSize},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": layerSize}},
	})
	manifestDigest, manifestSize := add(manifest)
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifestDigest, "size": manifestSize,
			"annotations": map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"},
		}},
	})
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	file := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		_, err := io.Copy(tw, bytes.NewReader(data))
		return err
	}
	err = file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	if err == nil {
		err = file("index.json", index)
	}
	for d, data := range blobs {
		if err == nil {
			err = file("blobs/sha256/"+d, data)
		}
	}
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func goarch() string {
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		return "amd64"
	}
	return strings.TrimSpace(string(out))
}

// cmd runs `ctr --address SOCK --namespace NS args...`.
func (c *containerd) cmd(timeout time.Duration, stdin []byte, args ...string) result {
	return run(timeout, stdin, nil, append([]string{"ctr", "--address", c.sock, "--namespace", c.ns}, args...)...)
}

// ctr runs a ctr command within the scenario's deadline (60 s at most).
func (c *containerd) ctr(s *sc, stdin []byte, args ...string) result {
	return c.cmd(s.budget(60*time.Second), stdin, args...)
}

// runtimeOpts selects the runtime under test for `ctr run`.
func (c *containerd) runtimeOpts() []string {
	return []string{"--runc-binary", c.e.runtime, "--runc-root", c.runcRoot}
}

// id returns a fresh container id and registers its cleanup: on failure,
// the runtime's JSON log (the shim keeps it in the task's bundle as
// log.json) and the daemon's log lines for it are dumped; then the task and
// the container are removed, and the runtime must have no state left.
func (c *containerd) id(s *sc) string {
	id := fmt.Sprintf("e2e-%d", c.seq.Add(1))
	s.Cleanup(func() {
		if s.Failed() {
			c.diag(s.T, id)
		}
		c.cmd(30*time.Second, nil, "task", "kill", "-s", "SIGKILL", id)
		c.cmd(30*time.Second, nil, "task", "rm", "-f", id)
		r := c.cmd(30*time.Second, nil, "container", "rm", id)
		if r.code != 0 && !strings.Contains(r.stderr, "not found") {
			s.Errorf("cleanup: ctr container rm:\n%s", r)
		}
		c.e.checkNoRuntimeState(s.T, filepath.Join(c.runcRoot, c.ns), id)
	})
	return id
}

func (c *containerd) diag(t *testing.T, id string) {
	t.Helper()
	logJSON := filepath.Join(c.dir, "state", "io.containerd.runtime.v2.task", c.ns, id, "log.json")
	if b, err := os.ReadFile(logJSON); err == nil {
		t.Logf("diag: %s --log (%s):\n%s", c.e.name, logJSON, b)
	} else {
		t.Logf("diag: %s --log: %v (the shim removes it with the task)", c.e.name, err)
	}
	r := c.cmd(30*time.Second, nil, "task", "ls")
	t.Logf("diag: ctr task ls:\n%s", r.stdout)
	if b, err := os.ReadFile(c.log); err == nil {
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, id) && (strings.Contains(l, "level=error") || strings.Contains(l, "level=warn")) {
				lines = append(lines, l)
			}
		}
		t.Logf("diag: containerd log (errors and warnings) for %s:\n%s", id, strings.Join(lines, "\n"))
	}
}

// runCtr runs `ctr run --rm opts... IMAGE ID cmd...` in the foreground.
//
// ctr 1.6 sometimes loses all the output of a short-lived task (its fifo
// copy races the task's exit: 2 runs in 100 with four concurrent clients
// here, with runc as with hull). A run that printed nothing at all is
// therefore run once more, and logged; a runtime that never delivers the
// output still fails.
func (c *containerd) runCtr(s *sc, stdin []byte, opts []string, cmd ...string) result {
	s.Helper()
	r := c.runOnce(s, stdin, opts, cmd...)
	if r.err == nil && r.stdout == "" && r.stderr == "" {
		s.Logf("ctr run printed nothing (exit %d): running it once more (ctr output race)", r.code)
		r = c.runOnce(s, stdin, opts, cmd...)
	}
	return r
}

func (c *containerd) runOnce(s *sc, stdin []byte, opts []string, cmd ...string) result {
	id := c.id(s)
	args := append(append([]string{"run", "--rm"}, c.runtimeOpts()...), opts...)
	args = append(append(args, ctrdImage, id), cmd...)
	return c.ctr(s, stdin, args...)
}

// startCtr starts a detached task and returns its id.
func (c *containerd) startCtr(s *sc, opts []string, cmd ...string) string {
	s.Helper()
	id := c.id(s)
	args := append(append([]string{"run", "-d"}, c.runtimeOpts()...), opts...)
	args = append(append(args, ctrdImage, id), cmd...)
	expect(s.T, c.ctr(s, nil, args...), 0)
	return id
}

// task returns the task's pid and status from `ctr task ls`.
func (c *containerd) task(s *sc, id string) (int, string) {
	s.Helper()
	out := expect(s.T, c.ctr(s, nil, "task", "ls"), 0)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == id {
			pid, _ := strconv.Atoi(f[1])
			return pid, f[2]
		}
	}
	s.Fatalf("no task %s in ctr task ls:\n%s", id, out)
	return 0, ""
}

// waitStatus polls until the task has status want.
func (c *containerd) waitStatus(s *sc, id, want string) {
	s.Helper()
	var st string
	if err := eventually(s.budget(20*time.Second), func() error {
		if _, st = c.task(s, id); st != want {
			return errNotYet
		}
		return nil
	}); err != nil {
		s.Fatalf("task %s is %s, want %s", id, st, want)
	}
}

// waitFile polls until path exists in the task (checked with exec).
func (c *containerd) waitFile(s *sc, id, path string) {
	s.Helper()
	n := 0
	if err := eventually(s.budget(20*time.Second), func() error {
		n++
		if r := c.cmd(10*time.Second, nil, "task", "exec", "--exec-id", fmt.Sprintf("wait-%d", n), id, "test", "-e", path); r.code != 0 {
			return fmt.Errorf("%s not in %s yet:\n%s", path, id, r)
		}
		return nil
	}); err != nil {
		s.Fatal(err)
	}
}

// exitCode deletes the stopped task and returns its exit status (ctr task
// rm exits with it).
func (c *containerd) exitCode(s *sc, id string) int {
	s.Helper()
	c.waitStatus(s, id, "STOPPED")
	return taskRmCode(s, c.ctr(s, nil, "task", "rm", id))
}

// taskRmCode returns the exit status `ctr task rm` reports: ctr 1.6 exits 0
// and warns "task ID exit with non-zero exit code N" on stderr.
func taskRmCode(s *sc, r result) int {
	s.Helper()
	if r.err != nil || r.code != 0 {
		s.Fatalf("ctr task rm:\n%s", r)
	}
	const marker = "exit with non-zero exit code "
	i := strings.Index(r.stderr, marker)
	if i < 0 {
		return 0
	}
	f := strings.FieldsFunc(r.stderr[i+len(marker):], func(c rune) bool { return c < '0' || c > '9' })
	if len(f) == 0 {
		s.Fatalf("ctr task rm: cannot parse the exit status:\n%s", r)
	}
	code, _ := strconv.Atoi(f[0])
	return code
}

// teardown removes every task and container left in the namespace, stops
// the daemon by its pid (SIGTERM, then SIGKILL) and kills shims still
// alive, reporting what had to be cleaned up.
func (c *containerd) teardown() []string {
	var leaks []string
	if c.daemon != nil && c.daemon.Process != nil {
		select {
		case <-c.exited:
			leaks = append(leaks, "containerd died during the run: "+c.daemon.ProcessState.String())
		default:
			r := c.cmd(30*time.Second, nil, "task", "ls", "-q")
			for _, id := range strings.Fields(r.stdout) {
				leaks = append(leaks, "containerd task not removed by its scenario: "+id)
				c.cmd(30*time.Second, nil, "task", "kill", "-s", "SIGKILL", id)
				c.cmd(30*time.Second, nil, "task", "rm", "-f", id)
			}
			r = c.cmd(30*time.Second, nil, "container", "ls", "-q")
			for _, id := range strings.Fields(r.stdout) {
				leaks = append(leaks, "containerd container not removed by its scenario: "+id)
				c.cmd(30*time.Second, nil, "container", "rm", id)
			}
			c.cmd(30*time.Second, nil, "images", "rm", ctrdImage)
			_ = c.daemon.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.exited:
			case <-time.After(10 * time.Second):
				leaks = append(leaks, "containerd ignored SIGTERM for 10 s: killed")
				_ = c.daemon.Process.Kill()
				<-c.exited
			}
		}
	}
	for _, pid := range pidsMentioning(c.dir) {
		leaks = append(leaks, fmt.Sprintf("process %d (%s) alive after containerd stopped: killed", pid, cmdline(pid)))
		killPID(pid)
	}
	// ctr's default cgroup for a container is /NAMESPACE/ID: the runtime
	// removes the container's, the namespace's own directory is ours.
	for _, ctrl := range []string{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc", "systemd", "unified"} {
		dir := filepath.Join("/sys/fs/cgroup", ctrl, c.ns)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, ent := range ents {
			if ent.IsDir() {
				leaks = append(leaks, "cgroup left behind: "+filepath.Join(dir, ent.Name()))
				_ = os.Remove(filepath.Join(dir, ent.Name()))
			}
		}
		_ = os.Remove(dir)
	}
	return leaks
}

func ctrdReady(t *testing.T) *containerd {
	t.Helper()
	if testEnv.ctrd == nil || testEnv.ctrdErr != nil {
		t.Fatalf("containerd is not usable: %v", testEnv.ctrdErr)
	}
	return testEnv.ctrd
}
