package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/hostcheck"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "report whether this host can run containers",
		Description: `check examines the running kernel and the host feature by feature, trying
each where it can (a namespace, an idmapped mount, a syscall), and says for
each: ok, limited or missing, and what hull does without it. It changes
nothing on the host. The exit status is 0 if hull can run a default
container (one made by hull spec) here, 1 if not.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json"},
		},
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 0, 0); err != nil {
				return err
			}
			format := ctx.String("format")
			if format != "text" && format != "json" {
				return fmt.Errorf("check: unknown format %q: text or json", format)
			}
			r := hostcheck.Run(hostcheck.Options{})
			var err error
			if format == "json" {
				err = r.WriteJSON(os.Stdout)
			} else {
				err = r.WriteText(os.Stdout)
			}
			if err != nil {
				return fmt.Errorf("check: write report: %w", err)
			}
			if !r.CanRun {
				return &exitError{code: 1}
			}
			return nil
		},
	}
}
