package main

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
)

// event is one line of `hull events`, as runc prints them.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

func eventsCommand() *cli.Command {
	return &cli.Command{
		Name:      "events",
		Usage:     "print a container's resource usage and OOM events as JSON",
		ArgsUsage: "<container-id>",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "time between stats events"},
			&cli.BoolFlag{Name: "stats", Usage: "print one stats event and exit"},
		},
		Action: onContainerArgs(0, func(ctx *cli.Context, c *libct.Container) error {
			enc := json.NewEncoder(os.Stdout)
			stats := func() error {
				s, err := c.Stats()
				if err != nil {
					return err
				}
				return enc.Encode(event{Type: "stats", ID: c.ID(), Data: s})
			}
			if ctx.Bool("stats") {
				return stats()
			}
			if ctx.Duration("interval") <= 0 {
				return errInterval
			}
			return streamEvents(c, enc, ctx.Duration("interval"), stats)
		}),
	}
}

type strErr string

func (e strErr) Error() string { return string(e) }

const errInterval = strErr("--interval must be positive")

// streamEvents prints stats every interval and an oom event for each OOM
// kill, until the container stops.
func streamEvents(c *libct.Container, enc *json.Encoder, interval time.Duration, stats func() error) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ooms, err := c.OOMEvents(ctx)
	if err != nil {
		ooms = nil // no OOM notification here: stats only
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if c.Status() == libct.Stopped {
			return nil
		}
		select {
		case _, ok := <-ooms:
			if !ok {
				ooms = nil
				continue
			}
			if err := enc.Encode(event{Type: "oom", ID: c.ID()}); err != nil {
				return err
			}
		case <-tick.C:
			if err := stats(); err != nil {
				if c.Status() == libct.Stopped {
					return nil
				}
				return err
			}
		}
	}
}
