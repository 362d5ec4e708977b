package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/specconv"
)

func createFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the bundle `DIR`"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket `PATH` that receives the pty master (process.terminal)"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the container's init pid to `FILE`"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "use MS_MOVE and chroot instead of pivot_root (for a rootfs on ramfs)"},
		&cli.BoolFlag{Name: "no-new-keyring", Usage: "keep the caller's session keyring"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass `N` more fds (from 3 on, after LISTEN_FDS) to the container"},
		pidfdSocketFlag("the container's init"),
	}
}

func pidfdSocketFlag(what string) cli.Flag {
	return &cli.StringFlag{Name: "pidfd-socket", Usage: "unix socket `PATH` that receives a pidfd of " + what}
}

// dialPidfdSocket connects to --pidfd-socket, when given, before anything
// is started, so that an unreachable socket fails the command at once.
func dialPidfdSocket(ctx *cli.Context) (*os.File, error) {
	path := ctx.String("pidfd-socket")
	if path == "" {
		return nil, nil
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--pidfd-socket %s: %w", path, err)
	}
	defer conn.Close()
	f, err := conn.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("--pidfd-socket %s: %w", path, err)
	}
	return f, nil
}

func createCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a container; its process starts with `hull start`",
		ArgsUsage: "<container-id>",
		Flags:     createFlags(),
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 1, 1); err != nil {
				return err
			}
			_, err := createContainer(ctx, nil)
			return cmdErr(ctx, err)
		},
	}
}

// loadConfig reads and converts the bundle's config.json.
func loadConfig(ctx *cli.Context, id string) (*configs.Config, error) {
	bundle, err := filepath.Abs(ctx.String("bundle"))
	if err != nil {
		return nil, err
	}
	spec, err := specconv.LoadSpec(bundle)
	if err != nil {
		return nil, err
	}
	return specconv.Convert(spec, specconv.Options{
		ID:           id,
		Bundle:       bundle,
		NoPivotRoot:  ctx.Bool("no-pivot"),
		NoNewKeyring: ctx.Bool("no-new-keyring"),
		Systemd:      ctx.Bool("systemd-cgroup"),
		Rootless:     rootless(ctx),
	})
}

// createContainer is create, and the first half of run. fg is run's
// foreground: its relay gets the pty master from init, and its signals
// are caught before init exists; it is nil for create and run -d, where
// --console-socket gets the master.
func createContainer(ctx *cli.Context, fg *foreground) (*libct.Container, error) {
	var tty *ttyRelay
	if fg != nil {
		tty = fg.tty
	}
	id := ctx.Args().First()
	if err := libct.ValidateID(id); err != nil {
		return nil, err
	}
	cfg, err := loadConfig(ctx, id)
	if err != nil {
		return nil, err
	}
	o := &libct.CreateOpts{
		PidFile:  ctx.String("pid-file"),
		Rootless: rootless(ctx),
	}
	if tty == nil {
		sock := ctx.String("console-socket")
		// The same rules as runc: a detached tty needs somewhere to send
		// the pty master; a console socket needs a tty.
		if cfg.Process.Terminal && sock == "" {
			return nil, errors.New("cannot allocate a tty when detached without --console-socket")
		}
		if !cfg.Process.Terminal && sock != "" {
			return nil, errors.New("--console-socket needs process.terminal and a detached container")
		}
		o.ConsoleSocket = sock
		o.NotifySocket = os.Getenv("NOTIFY_SOCKET")
	}
	if o.ExtraFiles, err = passedFiles(ctx, cfg.Process); err != nil {
		return nil, err
	}
	if o.PidfdSocket, err = dialPidfdSocket(ctx); err != nil {
		return nil, err
	}
	if o.PidfdSocket != nil {
		defer o.PidfdSocket.Close()
	}
	if tty != nil {
		o.ConsoleConn = tty.give(cfg.Process.Terminal)
		defer tty.given()
		fg.catching()
	}
	return libct.Create(ctx.String("root"), id, cfg, o)
}

// passedFiles returns the fds that go on to the container: systemd socket
// activation's LISTEN_FDS (the process gets LISTEN_FDS and LISTEN_PID=1 in
// its environment) followed by --preserve-fds more.
func passedFiles(ctx *cli.Context, p *configs.Process) ([]*os.File, error) {
	var files []*os.File
	if v := os.Getenv("LISTEN_FDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("invalid LISTEN_FDS=%q", v)
		}
		for i := 0; i < n; i++ {
			files = append(files, os.NewFile(uintptr(3+i), "listen-fd-"+strconv.Itoa(i)))
		}
		p.Env = append(p.Env, "LISTEN_FDS="+v, "LISTEN_PID=1")
	}
	n := ctx.Int("preserve-fds")
	if n < 0 {
		return nil, fmt.Errorf("--preserve-fds %d: must not be negative", n)
	}
	base := 3 + len(files)
	for i := 0; i < n; i++ {
		fd := base + i
		f := os.NewFile(uintptr(fd), "preserved-fd-"+strconv.Itoa(fd))
		if _, err := f.Stat(); err != nil {
			return nil, fmt.Errorf("--preserve-fds %d: fd %d is not open", n, fd)
		}
		files = append(files, f)
	}
	return files, nil
}
