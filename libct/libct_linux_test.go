package libct

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
	_ "github.com/hullrt/hull/libct/nsenter"
)

// TestMain makes the test binary double as `hull init`: libct re-execs
// its own binary for a container's init.
func TestMain(m *testing.M) {
	if out := os.Getenv(probeEnv); out != "" {
		// The end of a program of finalexec_linux_test.go, on stdout or
		// in the file named.
		if out == "1" {
			os.Stdout.WriteString(probeState())
		} else if err := os.WriteFile(out, []byte(probeState()), 0o600); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	if IsInit() && os.Getenv(goExecutorProbe) != "" {
		os.Exit(goExecutorChild())
	}
	if IsInit() && os.Getenv(dumpableProbe) != "" {
		// TestConstructorDumpable: how the constructor left us.
		d, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		os.Stdout.WriteString("dumpable=" + strconv.Itoa(d) + "\n")
		os.Exit(0)
	}
	if os.Getenv(closeFdsProbe) != "" {
		os.Stdout.WriteString(closeFdsChild(os.Getenv(closeFdsProbe)) + "\n")
		os.Exit(0)
	}
	if IsInit() && os.Getenv(fdsProbe) != "" {
		var open []string
		for fd := 3; fd < 64; fd++ {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
				open = append(open, strconv.Itoa(fd))
			}
		}
		os.Stdout.WriteString("fds=" + strings.Join(open, ",") + "\n")
		os.Exit(0)
	}
	if IsInit() {
		if err := Init(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if probeDirMade != "" {
		os.RemoveAll(probeDirMade)
	}
	os.Exit(code)
}

// testConfig builds a minimal container (busybox from the host's
// busybox-static) in new mount, pid, ipc and uts namespaces.
func testConfig(t *testing.T, args ...string) *configs.Config {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (creates namespaces and mounts)")
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox (Debian busybox-static) for a rootfs")
	}
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "sleep", "true", "cat"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	return &configs.Config{
		Version: "1.3.0",
		Bundle:  bundle,
		Rootfs:  rootfs,
		Namespaces: []configs.Namespace{
			{Type: configs.NEWNS}, {Type: configs.NEWPID}, {Type: configs.NEWIPC}, {Type: configs.NEWUTS},
		},
		Mounts: []*configs.Mount{
			{Source: "proc", Destination: "/proc", Type: "proc", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC},
		},
		Process: &configs.Process{Args: args, Env: []string{"PATH=/bin"}, Cwd: "/"},
	}
}

func createTest(t *testing.T, cfg *configs.Config) *Container {
	t.Helper()
	root := t.TempDir()
	id := "t" + strconv.Itoa(os.Getpid()) + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	c, err := Create(root, id, cfg, &CreateOpts{Stdin: devnull, Stdout: devnull, Stderr: devnull})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(true) })
	return c
}

// TestSelfExeNotWritable is CVE-2019-5736: a process of the container
// grabs /proc/<init>/exe while init is hull, then, after init has exec'd
// the container's process, reopens it for writing. What it holds must be
// on a read-only mount (EROFS once hull no longer runs; here the test
// binary still runs, so the kernel would say ETXTBSY first: the test
// checks the mount, which is what stops the write for good).
func TestSelfExeNotWritable(t *testing.T) {
	c := createTest(t, testConfig(t, "sleep", "100"))
	held, err := unix.Open("/proc/"+strconv.Itoa(c.Pid())+"/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open init's exe: %v", err)
	}
	defer unix.Close(held)
	if err := c.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(held, &st); err != nil {
		t.Fatal(err)
	}
	if st.Flags&unix.ST_RDONLY == 0 {
		t.Fatal("init's /proc/PID/exe is on a writable mount: the container could overwrite hull's binary")
	}
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(held), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
		t.Fatal("hull's binary could be opened for writing through init's /proc/PID/exe")
	}
	if !errors.Is(err, unix.EROFS) && !errors.Is(err, unix.ETXTBSY) {
		t.Fatalf("reopen for writing: %v, want EROFS", err)
	}
}

func TestSelfExeContent(t *testing.T) {
	f, err := selfExe()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := os.ReadFile("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("selfExe's file differs from the running binary")
	}
}

// TestStartAfterInitDied is runc#1697: start must fail at once, not hang,
// when the created container's init is gone.
func TestStartAfterInitDied(t *testing.T) {
	c := createTest(t, testConfig(t, "true"))
	if got := c.Status(); got != Created {
		t.Fatalf("status %s, want created", got)
	}
	if err := unix.Kill(c.Pid(), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(c.Pid(), c.p.InitStartTime, 5*time.Second)
	done := make(chan error, 1)
	go func() { done <- c.Start() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("start of a container whose init died succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("start hangs when init is gone")
	}
	if got := c.Status(); got != Stopped {
		t.Errorf("status %s, want stopped", got)
	}
}

// TestStartReportsExecFailure: a failure after start released init (here
// an rlimit the kernel refuses) makes start fail with init's message.
func TestStartReportsExecFailure(t *testing.T) {
	cfg := testConfig(t, "true")
	cfg.Process.Rlimits = []configs.Rlimit{{Type: unix.RLIMIT_NOFILE, Soft: 10, Hard: 5}}
	c := createTest(t, cfg)
	err := c.Start()
	if err == nil {
		t.Fatal("start succeeded although init could not set its rlimits")
	}
	if want := "rlimits"; !contains(err.Error(), want) {
		t.Fatalf("start error %q does not name %q", err, want)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// waitStopped polls until the container's process has exited.
func waitStopped(t *testing.T, c *Container) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Status() != Stopped {
		if time.Now().After(deadline) {
			t.Fatal("container did not stop")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTmpCopyUp: a tmpfs with "tmpcopyup" starts with the image's files
// at that path, and writes to it do not reach the image.
func TestTmpCopyUp(t *testing.T) {
	cfg := testConfig(t, "sh", "-c", "cat /etc/sub/hello > /tmp/out; readlink /etc/link >> /tmp/out; echo changed > /etc/sub/hello")
	etc := filepath.Join(cfg.Rootfs, "etc")
	if err := os.MkdirAll(filepath.Join(etc, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "sub", "hello"), []byte("hi\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nowhere", filepath.Join(etc, "link")); err != nil {
		t.Fatal(err)
	}
	cfg.Mounts = append(cfg.Mounts, &configs.Mount{Source: "tmpfs", Destination: "/etc", Type: "tmpfs", TmpCopyUp: true})
	c := createTest(t, cfg)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, c)
	out, err := os.ReadFile(filepath.Join(cfg.Rootfs, "tmp", "out"))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "hi\n/nowhere\n" {
		t.Errorf("container saw %q, want the image's file and link", out)
	}
	if b, _ := os.ReadFile(filepath.Join(etc, "sub", "hello")); string(b) != "hi\n" {
		t.Errorf("the container's write reached the image: %q", b)
	}
}

// TestCwdThroughLeakedFd is CVE-2024-21626: process.cwd of
// /proc/self/fd/N, where N is a directory fd of the runtime's that leaked
// into init, put the process outside the container's root. Whatever N is,
// create must either fail or leave the process inside the rootfs.
func TestCwdThroughLeakedFd(t *testing.T) {
	base := testConfig(t, "sleep", "100")
	for fd := 3; fd <= 20; fd++ {
		cfg := *base
		p := *base.Process
		p.Cwd = "/proc/self/fd/" + strconv.Itoa(fd)
		cfg.Process = &p
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Create(t.TempDir(), "cwd"+strconv.Itoa(fd), &cfg, &CreateOpts{Stdin: devnull, Stdout: devnull, Stderr: devnull})
		devnull.Close()
		if err != nil {
			continue // refused: fine
		}
		cwd, rerr := os.Readlink("/proc/" + strconv.Itoa(c.Pid()) + "/cwd")
		_ = c.Delete(true)
		if rerr != nil {
			t.Fatalf("fd %d: read init's cwd: %v", fd, rerr)
		}
		if cwd != base.Rootfs && !strings.HasPrefix(cwd, base.Rootfs+"/") {
			t.Errorf("fd %d: init's cwd %s is outside the rootfs %s", fd, cwd, base.Rootfs)
		}
	}
}

// TestCwdThroughPassedDirFd: a host directory handed to the container
// on purpose (--preserve-fds) must not become its cwd either: getcwd(2)
// after the chdir shows it is outside the root.
func TestCwdThroughPassedDirFd(t *testing.T) {
	cfg := testConfig(t, "sleep", "100")
	cfg.Process.Cwd = "/proc/self/fd/3"
	hostDir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer hostDir.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	c, err := Create(t.TempDir(), "cwdpassed", cfg, &CreateOpts{Stdin: devnull, Stdout: devnull, Stderr: devnull, ExtraFiles: []*os.File{hostDir}})
	if err == nil {
		_ = c.Delete(true)
		t.Fatal("create with cwd through a host directory fd succeeded")
	}
	if !strings.Contains(err.Error(), "outside the container root") {
		t.Fatalf("error %q does not say the cwd is outside the root", err)
	}
}
