package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:    "list",
		Aliases: []string{"ls"},
		Usage:   "list the containers under the state root",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the ids"},
		},
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 0, 0); err != nil {
				return err
			}
			states, err := libct.ListStates(ctx.String("root"))
			if err != nil {
				return fmt.Errorf("list: %w", err)
			}
			if ctx.Bool("quiet") {
				for _, s := range states {
					fmt.Println(s.ID)
				}
				return nil
			}
			switch f := ctx.String("format"); f {
			case "table":
				w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
				fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
				for _, s := range states {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
				}
				return w.Flush()
			case "json":
				// runc prints null, not [], when there are none; engines parse either.
				return json.NewEncoder(os.Stdout).Encode(states)
			default:
				return fmt.Errorf("list: invalid format %q: table or json", f)
			}
		},
	}
}
