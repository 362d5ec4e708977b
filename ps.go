package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
)

func psCommand() *cli.Command {
	return &cli.Command{
		Name:      "ps",
		Usage:     "list the processes of a container",
		ArgsUsage: "<container-id> [ps options]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json (the pids)"},
		},
		Action: onContainerArgs(-1, func(ctx *cli.Context, c *libct.Container) error {
			pids, err := c.Processes()
			if err != nil {
				return err
			}
			switch f := ctx.String("format"); f {
			case "json":
				if pids == nil {
					pids = []int{}
				}
				return json.NewEncoder(os.Stdout).Encode(pids)
			case "table":
				return psTable(pids, ctx.Args().Slice()[1:])
			default:
				return fmt.Errorf("invalid format %q: table or json", f)
			}
		}),
	}
}

// psTable runs ps(1) on the host with args (default -ef) and prints its
// header and the lines of the container's processes, found by the PID
// column.
func psTable(pids []int, args []string) error {
	if len(args) == 0 {
		args = []string{"-ef"}
	}
	out, err := exec.Command("ps", args...).Output()
	if err != nil {
		return fmt.Errorf("ps %s: %w", strings.Join(args, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	col := -1
	for i, h := range strings.Fields(lines[0]) {
		if h == "PID" {
			col = i
		}
	}
	if col < 0 {
		return fmt.Errorf("ps %s: no PID column in its header", strings.Join(args, " "))
	}
	in := make(map[int]bool, len(pids))
	for _, p := range pids {
		in[p] = true
	}
	var b bytes.Buffer
	b.WriteString(lines[0] + "\n")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= col {
			continue
		}
		if pid, err := strconv.Atoi(f[col]); err == nil && in[pid] {
			b.WriteString(l + "\n")
		}
	}
	_, err = os.Stdout.Write(b.Bytes())
	return err
}
