package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/specconv"
)

func specCommand() *cli.Command {
	return &cli.Command{
		Name:  "spec",
		Usage: "write a default config.json to the bundle",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "bundle `DIR` to write config.json into"},
			&cli.BoolFlag{Name: "rootless", Usage: "a config for a container run by a non-root user"},
		},
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 0, 0); err != nil {
				return err
			}
			s := specconv.Example()
			if ctx.Bool("rootless") {
				specconv.ToRootless(s)
			}
			path := filepath.Join(ctx.String("bundle"), "config.json")
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("spec: %s exists: remove it first", path)
			}
			b, err := json.MarshalIndent(s, "", "\t")
			if err != nil {
				return err
			}
			if err := os.WriteFile(path, b, 0o666); err != nil {
				return fmt.Errorf("spec: %w", err)
			}
			return nil
		},
	}
}
