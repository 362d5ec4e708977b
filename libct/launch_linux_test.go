package libct

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/hullrt/hull/libct/configs"
)

func TestNSJoinFor(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    nsJoin
	}{
		{"6.18.0", joinByPidfd},
		{"5.8.0-1-amd64", joinByPidfd},
		{"5.10.0-28-cloud-amd64", joinByPidfd},
		{"10.0", joinByPidfd},
		{"5.7.19", joinByPath},
		{"4.19.0-26-amd64", joinByPath},
		{"garbage", joinByPath},
		{"", joinByPath},
	} {
		if got := nsJoinFor(tc.release); got != tc.want {
			t.Errorf("nsJoinFor(%q) = %v, want %v", tc.release, got, tc.want)
		}
	}
}

// TestExecJoins: exec joins every namespace of the container's init, by
// pidfd and by the /proc/<pid>/ns fallback.
func TestExecJoins(t *testing.T) {
	for _, how := range []nsJoin{joinByPidfd, joinByPath} {
		t.Run(map[nsJoin]string{joinByPidfd: "pidfd", joinByPath: "paths"}[how], func(t *testing.T) {
			c := createTest(t, testConfig(t, "sleep", "100"))
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			defer func(f func(string) nsJoin) { chooseNSJoin = f }(chooseNSJoin)
			chooseNSJoin = func(string) nsJoin { return how }
			devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer devnull.Close()
			p, err := c.Exec(&configs.Process{Args: []string{"sleep", "100"}, Env: []string{"PATH=/bin"}, Cwd: "/"},
				&ExecOpts{Stdin: devnull, Stdout: devnull, Stderr: devnull})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = p.Kill(); _, _ = p.Wait() }()
			for _, ns := range []string{"mnt", "pid", "ipc", "uts"} {
				want, err1 := os.Readlink("/proc/" + strconv.Itoa(c.Pid()) + "/ns/" + ns)
				got, err2 := os.Readlink("/proc/" + strconv.Itoa(p.Pid) + "/ns/" + ns)
				if err := errors.Join(err1, err2); err != nil || got != want {
					t.Errorf("%s namespace: exec'd %s, init %s (%v)", ns, got, want, err)
				}
			}
		})
	}
}

// TestExecRefusesReusedPid: when the process at init's pid is not init
// (another start time: init died and the pid was reused), exec takes no
// namespaces from it, by pidfd or by path; with the right start time it
// does.
func TestExecRefusesReusedPid(t *testing.T) {
	c := createTest(t, testConfig(t, "sleep", "100"))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func(f func(string) nsJoin) { chooseNSJoin = f }(chooseNSJoin)
	for _, how := range []nsJoin{joinByPidfd, joinByPath} {
		chooseNSJoin = func(string) nsJoin { return how }
		for _, start := range []uint64{c.p.InitStartTime + 1, c.p.InitStartTime} {
			k := &execLaunch{initPid: c.Pid(), initStart: start, nsTypes: []configs.NamespaceType{configs.NEWNS, configs.NEWPID}}
			cmd := &command{cmd: &exec.Cmd{}}
			err := k.prepare(nil, cmd)
			cmd.close()
			if reused := start != c.p.InitStartTime; reused != errors.Is(err, errStoppedDuringExec) {
				t.Errorf("join %d, start time %d (init's %d): %v", how, start, c.p.InitStartTime, err)
			}
		}
	}
}

// TestStartInCgroupFallback: a start into a cgroup (CLONE_INTO_CGROUP)
// that the kernel refuses is made again without, and the command then
// says the child is not in its cgroup, for place to move it. The
// descriptor here is of a directory that is no cgroup2 directory, which
// clone3 refuses as it would refuse a cgroup with controllers enabled
// for its children (EBUSY).
func TestStartInCgroupFallback(t *testing.T) {
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	c := &command{cmd: exec.Command("/bin/true")}
	c.cmd.SysProcAttr = &syscall.SysProcAttr{}
	c.startInCgroup(dir)
	if !c.inCgroup() {
		t.Fatal("startInCgroup did not ask for CLONE_INTO_CGROUP")
	}
	if err := c.start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("the child started outside the cgroup failed: %v", err)
	}
	if c.inCgroup() {
		t.Error("after the fallback, the command still says the child started in its cgroup")
	}

	c = &command{cmd: exec.Command("/bin/true")}
	c.cmd.SysProcAttr = &syscall.SysProcAttr{}
	c.startInCgroup(nil)
	if c.inCgroup() {
		t.Error("startInCgroup(nil) asked for CLONE_INTO_CGROUP")
	}
}
