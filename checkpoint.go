package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
)

// criuFlags are the flags checkpoint and restore share, as runc's.
func criuFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "image-path", Usage: "criu image files `DIR` (default: ./checkpoint)"},
		&cli.StringFlag{Name: "work-path", Usage: "criu work files and logs `DIR` (default: the image path)"},
		&cli.BoolFlag{Name: "tcp-established", Usage: "allow open tcp connections"},
		&cli.BoolFlag{Name: "ext-unix-sk", Usage: "allow external unix sockets"},
		&cli.BoolFlag{Name: "shell-job", Usage: "allow shell jobs"},
		&cli.BoolFlag{Name: "file-locks", Usage: "handle file locks, for safety"},
		&cli.StringFlag{Name: "manage-cgroups-mode", Usage: "cgroups mode: soft, full, strict or ignore (default: soft)"},
		&cli.StringSliceFlag{Name: "empty-ns", Usage: "create a namespace (network), but do not restore its properties"},
		&cli.BoolFlag{Name: "auto-dedup", Usage: "enable auto deduplication of memory images"},
		&cli.BoolFlag{Name: "lazy-pages", Usage: "use userfaultfd to lazily restore memory pages"},
	}
}

func checkpointCommand() *cli.Command {
	flags := append(criuFlags(),
		&cli.StringFlag{Name: "parent-path", Usage: "`DIR` of a previous pre-dump's images, relative to the image path"},
		&cli.BoolFlag{Name: "leave-running", Usage: "leave the container running after checkpointing"},
		&cli.BoolFlag{Name: "tcp-skip-in-flight", Usage: "skip in-flight tcp connections"},
		&cli.BoolFlag{Name: "link-remap", Usage: "allow linking unlinked files back when possible"},
		&cli.IntFlag{Name: "status-fd", Value: -1, Usage: "criu writes \\0 to this `FD` once lazy-pages is ready"},
		&cli.StringFlag{Name: "page-server", Usage: "`ADDRESS:PORT` of the page server"},
		&cli.BoolFlag{Name: "pre-dump", Usage: "dump the container's memory only, and leave it running"},
	)
	return &cli.Command{
		Name:      "checkpoint",
		Usage:     "checkpoint a running container with criu",
		ArgsUsage: "<container-id>",
		Flags:     flags,
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 1, 1); err != nil {
				return err
			}
			if rootless(ctx) {
				logrus.Warn("checkpoint is untested with rootless containers (criu needs root)")
			}
			o, err := criuOptions(ctx)
			if err != nil {
				return cmdErr(ctx, err)
			}
			c, err := loadContainer(ctx)
			if err != nil {
				return cmdErr(ctx, err)
			}
			return cmdErr(ctx, warnHook(c.Checkpoint(o)))
		},
	}
}

// criuOptions reads the flags of checkpoint and restore.
func criuOptions(ctx *cli.Context) (*libct.CriuOpts, error) {
	image := ctx.String("image-path")
	if image == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		image = filepath.Join(wd, "checkpoint")
	}
	image, err := filepath.Abs(image)
	if err != nil {
		return nil, err
	}
	work := ctx.String("work-path")
	if work != "" {
		if work, err = filepath.Abs(work); err != nil {
			return nil, err
		}
	}
	o := &libct.CriuOpts{
		CriuPath:          ctx.String("criu"),
		ImagePath:         image,
		WorkPath:          work,
		TCPEstablished:    ctx.Bool("tcp-established"),
		ExtUnixSk:         ctx.Bool("ext-unix-sk"),
		ShellJob:          ctx.Bool("shell-job"),
		FileLocks:         ctx.Bool("file-locks"),
		ManageCgroupsMode: ctx.String("manage-cgroups-mode"),
		EmptyNs:           ctx.StringSlice("empty-ns"),
		AutoDedup:         ctx.Bool("auto-dedup"),
		LazyPages:         ctx.Bool("lazy-pages"),
		StatusFd:          -1,
	}
	switch ctx.Command.Name {
	case "checkpoint":
		o.ParentPath = ctx.String("parent-path")
		o.LeaveRunning = ctx.Bool("leave-running")
		o.TCPSkipInFlight = ctx.Bool("tcp-skip-in-flight")
		o.LinkRemap = ctx.Bool("link-remap")
		o.StatusFd = ctx.Int("status-fd")
		o.PageServer = ctx.String("page-server")
		o.PreDump = ctx.Bool("pre-dump")
		if o.StatusFd >= 0 && !o.LazyPages {
			return nil, fmt.Errorf("--status-fd needs --lazy-pages")
		}
	case "restore":
		o.LsmProfile = ctx.String("lsm-profile")
		o.LsmMountContext = ctx.String("lsm-mount-context")
	}
	return o, nil
}
