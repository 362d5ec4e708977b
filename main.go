// Command hull is an OCI low-level container runtime, a drop-in for runc:
// it takes an OCI bundle (config.json and a rootfs) through the runtime
// spec's lifecycle. Each command lives in a file of its own; they parse
// flags and call libct (through specconv for configs).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	_ "github.com/hullrt/hull/internal/earlystack" // one stack growth, not four (issue 17.4)
	"github.com/hullrt/hull/libct"
	_ "github.com/hullrt/hull/libct/nsenter" // joins namespaces before Go starts, for init
)

// Set by the Makefile.
var (
	version   = "dev"
	gitCommit = ""
)

func init() {
	if libct.IsInit() {
		// The container's init sets up credentials and namespaces that
		// are per thread: keep it on the main thread from the start.
		runtime.LockOSThread()
	}
}

func main() {
	if libct.IsInit() {
		if err := libct.Init(); err != nil {
			// 255, as runc: a process that could not be started is told
			// apart from one that exited 1 (exec's status, run's).
			os.Exit(255)
		}
		os.Exit(0) // not reached: Init exec's the process or fails
	}
	app := newApp()
	if err := app.Run(os.Args); err != nil {
		fatal(err)
	}
}

// exitError carries an exit status that is not a failure of hull itself
// (the container's own status, for run and exec).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// fatal reports err as runc does: to the log (JSON lines with --log-format
// json, which containerd and Podman read) and as one line on stderr.
func fatal(err error) {
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	logErr(err)
	os.Exit(1)
}

// logErr logs err (and prints it when the log is not stderr) without
// exiting, for commands that exit with a status of their own.
func logErr(err error) {
	// On a terminal a plain line reads best; a log file or a JSON log on
	// stderr is for machines (containerd and Podman show its last line).
	if !logToStderr || logJSON {
		logrus.Error(err)
	}
	if !logToStderr || !logJSON {
		fmt.Fprintln(os.Stderr, "hull: "+err.Error())
	}
}

// logToStderr is set when logrus writes to stderr, so fatal does not
// print the error twice.
var logToStderr = true

// logJSON is set by --log-format json.
var logJSON bool

func defaultRoot() string {
	if os.Geteuid() != 0 {
		if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
			return filepath.Join(d, "hull")
		}
	}
	return "/run/hull"
}

func newApp() *cli.App {
	app := &cli.App{
		Name:    "hull",
		Usage:   "an OCI low-level container runtime",
		Version: version + versionSuffix(),
		Description: `hull runs containers from OCI bundles: a directory with a config.json and a
root filesystem. It is a drop-in for runc: the same commands, flags, exit
codes and state JSON, so that containerd, Podman and Kubernetes can use it.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "debug", Usage: "enable debug logging"},
			&cli.StringFlag{Name: "log", Usage: "write the log to `FILE` (default: stderr)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.StringFlag{Name: "root", Value: defaultRoot(), Usage: "state directory `DIR`"},
			&cli.StringFlag{Name: "criu", Value: "criu", Usage: "criu binary `PATH` for checkpoint and restore"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "use the systemd cgroup driver (cgroupsPath is slice:prefix:name)"},
			&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "rootless mode: true, false or auto"},
		},
		Before:          setupLogging,
		HideHelpCommand: true,
		// Completions for contrib/completions (bash, zsh): the hidden
		// --generate-bash-completion flag lists commands and flags.
		EnableBashCompletion: true,
		Commands: []*cli.Command{
			checkCommand(),
			checkpointCommand(),
			createCommand(),
			deleteCommand(),
			eventsCommand(),
			execCommand(),
			featuresCommand(),
			initCommand(),
			killCommand(),
			listCommand(),
			networkCommand(),
			pauseCommand(),
			psCommand(),
			restoreCommand(),
			resumeCommand(),
			runCommand(),
			specCommand(),
			startCommand(),
			stateCommand(),
			updateCommand(),
		},
	}
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Printf("hull version %s\n", version)
		if gitCommit != "" {
			fmt.Printf("commit: %s\n", gitCommit)
		}
		fmt.Printf("spec: 1.3.0\ngo: %s\n", runtime.Version())
	}
	return app
}

func versionSuffix() string {
	if gitCommit != "" {
		return "\ncommit: " + gitCommit
	}
	return ""
}

func setupLogging(ctx *cli.Context) error {
	if ctx.Bool("debug") {
		logrus.SetLevel(logrus.DebugLevel)
	}
	var out io.Writer = os.Stderr
	if p := ctx.String("log"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("open log file %s: %w", p, err)
		}
		out = f
		logToStderr = false
	}
	logrus.SetOutput(out)
	switch f := ctx.String("log-format"); f {
	case "text":
		// the default
	case "json":
		logrus.SetFormatter(&logrus.JSONFormatter{})
		logJSON = true
	default:
		return fmt.Errorf("unknown log-format %q: text or json", f)
	}
	switch r := ctx.String("rootless"); r {
	case "auto", "true", "false":
	default:
		return fmt.Errorf("invalid --rootless %q: true, false or auto", r)
	}
	return nil
}

// rootless reports whether hull runs rootless (--rootless, auto: not root).
func rootless(ctx *cli.Context) bool {
	switch ctx.String("rootless") {
	case "true":
		return true
	case "false":
		return false
	}
	return os.Geteuid() != 0
}

// checkArgs checks the number of positional arguments like runc.
func checkArgs(ctx *cli.Context, min, max int) error {
	n := ctx.NArg()
	if n >= min && (max < 0 || n <= max) {
		return nil
	}
	name := ctx.Command.Name
	switch {
	case min == max:
		return fmt.Errorf("%s: %d argument(s) required, got %d (%s)", name, min, n, ctx.Command.ArgsUsage)
	case n < min:
		return fmt.Errorf("%s: at least %d argument(s) required, got %d (%s)", name, min, n, ctx.Command.ArgsUsage)
	default:
		return fmt.Errorf("%s: at most %d argument(s) allowed, got %d (%s)", name, max, n, ctx.Command.ArgsUsage)
	}
}

// onContainer is the Action of a command that takes exactly one
// container id and acts on that container.
func onContainer(fn func(c *libct.Container) error) cli.ActionFunc {
	return onContainerArgs(0, func(_ *cli.Context, c *libct.Container) error { return fn(c) })
}

// onContainerArgs is onContainer for a command that takes up to extra
// more arguments after the id (-1: any number), which fn reads from ctx.
func onContainerArgs(extra int, fn func(ctx *cli.Context, c *libct.Container) error) cli.ActionFunc {
	return func(ctx *cli.Context) error {
		max := 1 + extra
		if extra < 0 {
			max = -1
		}
		if err := checkArgs(ctx, 1, max); err != nil {
			return err
		}
		c, err := loadContainer(ctx)
		if err != nil {
			return cmdErr(ctx, err)
		}
		return cmdErr(ctx, fn(ctx, c))
	}
}

// loadContainer loads the container named by the first argument.
func loadContainer(ctx *cli.Context) (*libct.Container, error) {
	id := ctx.Args().First()
	c, err := libct.Load(ctx.String("root"), id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// cmdErr prefixes err with the command and the container id.
func cmdErr(ctx *cli.Context, err error) error {
	if err == nil {
		return nil
	}
	id := ctx.Args().First()
	if id == "" || libct.ValidateID(id) != nil || strings.Contains(err.Error(), id) {
		// An invalid id is quoted by the error itself; never print it
		// raw (a newline in it would forge a second log line).
		return fmt.Errorf("%s: %w", ctx.Command.Name, err)
	}
	return fmt.Errorf("%s %s: %w", ctx.Command.Name, id, err)
}
