package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
	"github.com/hullrt/hull/libct/capabilities"
	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/specconv"
)

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a new process inside a running container",
		ArgsUsage: "<container-id> <command> [args...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "console-socket", Usage: "unix socket `PATH` that receives the pty master"},
			&cli.StringFlag{Name: "cwd", Usage: "working directory in the container"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable (`KEY=VALUE`)"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-TTY"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "`UID[:GID]` to run as"},
			&cli.Int64SliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "additional group ids"},
			&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "`FILE` with the process as spec JSON (- for stdin)"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the process"},
			&cli.StringFlag{Name: "pid-file", Usage: "write the process's pid to `FILE`"},
			&cli.StringFlag{Name: "process-label", Usage: "SELinux label for the process"},
			&cli.StringFlag{Name: "apparmor", Usage: "AppArmor profile for the process"},
			&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs for the process"},
			&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add a capability (bounding, effective, permitted; never inheritable)"},
			&cli.IntFlag{Name: "preserve-fds", Usage: "pass `N` more fds (from 3 on) to the process"},
			&cli.StringSliceFlag{Name: "cgroup", Usage: "run in a sub-cgroup of the container's: `PATH`, or on cgroup v1 CONTROLLER[,CONTROLLER...]:PATH (repeatable)"},
			&cli.BoolFlag{Name: "ignore-paused", Usage: "allow exec in a paused container"},
			pidfdSocketFlag("the process"),
		},
		SkipFlagParsing: false,
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 1, -1); err != nil {
				return err
			}
			code, err := execProcess(ctx)
			if err != nil {
				// runc exits 255 when the process could not be started,
				// so callers can tell it from the process's own status.
				logErr(cmdErr(ctx, err))
				return &exitError{code: 255}
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
}

// execProcess runs the exec and returns the process's exit status.
func execProcess(ctx *cli.Context) (int, error) {
	sub, err := cgroups.ParseExecCgroup(ctx.StringSlice("cgroup"))
	if err != nil {
		return -1, err
	}
	detach := ctx.Bool("detach")
	var fg *foreground
	if !detach {
		// Signals are caught while the container and its config load.
		fg = startForeground(true)
		defer fg.close()
	}
	c, err := libct.LoadForExec(ctx.String("root"), ctx.Args().First())
	if err != nil {
		return -1, err
	}
	p, err := execProcessConfig(ctx, c)
	if err != nil {
		return -1, err
	}
	if err := checkExecUser(ctx, c, p); err != nil {
		return -1, err
	}
	sock := ctx.String("console-socket")
	if detach && p.Terminal && sock == "" {
		return -1, errors.New("cannot allocate a tty when detached without --console-socket")
	}
	if (!detach || !p.Terminal) && sock != "" {
		return -1, errors.New("--console-socket needs --tty and --detach")
	}
	extra, err := passedFiles(ctx, p)
	if err != nil {
		return -1, err
	}
	o := &libct.ExecOpts{
		PidFile:       ctx.String("pid-file"),
		ConsoleSocket: sock,
		ExtraFiles:    extra,
		IgnorePaused:  ctx.Bool("ignore-paused"),
		Cgroup:        sub,
	}
	if o.PidfdSocket, err = dialPidfdSocket(ctx); err != nil {
		return -1, err
	}
	if o.PidfdSocket != nil {
		defer o.PidfdSocket.Close()
	}
	start := func() (*os.Process, error) {
		proc, err := c.Exec(p, o)
		if o.PidfdSocket != nil {
			o.PidfdSocket.Close() // sent: the receiver sees EOF after it
		}
		return proc, err
	}
	if detach {
		proc, err := start()
		if err != nil {
			return -1, err
		}
		_ = proc.Release()
		return 0, nil
	}
	if err := fg.openTTY(ctx); err != nil {
		return -1, err
	}
	o.ConsoleConn = fg.tty.give(p.Terminal)
	fg.catching()
	proc, err := start()
	fg.tty.given()
	if err != nil {
		return -1, err
	}
	if err := fg.tty.attach(); err != nil {
		_ = proc.Kill()
		return -1, err
	}
	return fg.wait(proc.Pid)
}

// execProcessConfig builds the process for exec: from --process (a spec
// Process, validated by specconv), or from the container's own process
// with the command line's args and flags.
func execProcessConfig(ctx *cli.Context, c *libct.Container) (*configs.Process, error) {
	if path := ctx.String("process"); path != "" {
		if path == "-" {
			path = "/dev/stdin"
		}
		sp, err := specconv.LoadProcess(path)
		if err != nil {
			return nil, err
		}
		return specconv.ConvertProcess("process", sp)
	}
	if ctx.NArg() < 2 {
		return nil, errors.New("no command given (and no --process)")
	}
	cfg, err := c.Config()
	if err != nil {
		return nil, err
	}
	p := *cfg.Process
	p.Args = ctx.Args().Slice()[1:]
	p.Env = append(append([]string(nil), p.Env...), ctx.StringSlice("env")...)
	p.Terminal = ctx.Bool("tty")
	p.ConsoleSize = nil
	p.NoNewPrivileges = p.NoNewPrivileges || ctx.Bool("no-new-privs")
	if v := ctx.String("cwd"); v != "" {
		if !strings.HasPrefix(v, "/") {
			return nil, fmt.Errorf("--cwd %q: must be an absolute path", v)
		}
		p.Cwd = v
	}
	if v := ctx.String("apparmor"); v != "" {
		p.ApparmorProfile = v
	}
	if v := ctx.String("process-label"); v != "" {
		p.SelinuxLabel = v
	}
	if u := ctx.String("user"); u != "" {
		uid, gid, hasGid, err := parseUser(u)
		if err != nil {
			return nil, err
		}
		p.UID = uid
		if hasGid {
			p.GID = gid
		}
	}
	p.AdditionalGids = append([]uint32(nil), p.AdditionalGids...)
	for _, g := range ctx.Int64Slice("additional-gids") {
		if g < 0 || g > 1<<32-1 {
			return nil, fmt.Errorf("--additional-gids %d: out of range", g)
		}
		p.AdditionalGids = append(p.AdditionalGids, uint32(g))
	}
	// --cap adds to bounding, effective and permitted; never to
	// inheritable (CVE-2022-29162) nor ambient.
	if names := ctx.StringSlice("cap"); len(names) > 0 {
		caps := configs.Capabilities{}
		if p.Capabilities != nil {
			caps = *p.Capabilities
		}
		for _, name := range names {
			name = strings.ToUpper(name)
			if !strings.HasPrefix(name, "CAP_") {
				name = "CAP_" + name
			}
			n, err := capabilities.FromName(name)
			if err != nil {
				return nil, fmt.Errorf("--cap %s: %w", name, err)
			}
			caps.Bounding = addCap(caps.Bounding, n)
			caps.Effective = addCap(caps.Effective, n)
			caps.Permitted = addCap(caps.Permitted, n)
		}
		p.Capabilities = &caps
	}
	return &p, nil
}

// checkExecUser refuses ids the process cannot take: (uid_t)-1, which
// setresuid leaves unchanged (the process would stay root), and ids the
// container's user namespace does not map (issue 20).
func checkExecUser(ctx *cli.Context, c *libct.Container, p *configs.Process) error {
	cfg, err := c.Config()
	if err != nil {
		return err
	}
	f := specconv.ProcessUserFields
	if ctx.String("process") == "" {
		f = specconv.UserFields{UID: "--user", GID: "--user", AdditionalGids: "additionalGids"}
	}
	return specconv.CheckExecUser(p, cfg, c.Pid(), f)
}

func addCap(set []int, n int) []int {
	for _, c := range set {
		if c == n {
			return set
		}
	}
	return append(append([]int(nil), set...), n)
}

// parseUser parses --user UID[:GID] (numbers only: names would need the
// container's /etc/passwd).
func parseUser(s string) (uid, gid uint32, hasGid bool, err error) {
	us, gs, hasGid := strings.Cut(s, ":")
	u, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return 0, 0, false, fmt.Errorf("--user %q: uid must be a number", s)
	}
	if hasGid {
		g, err := strconv.ParseUint(gs, 10, 32)
		if err != nil {
			return 0, 0, false, fmt.Errorf("--user %q: gid must be a number", s)
		}
		gid = uint32(g)
	}
	return uint32(u), gid, hasGid, nil
}
