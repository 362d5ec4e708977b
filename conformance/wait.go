package conformance

import (
	"fmt"
	"time"
)

// PollInterval is how often WaitFor re-evaluates its condition.
const PollInterval = 10 * time.Millisecond

// WaitFor polls cond until it returns true or the deadline passes. It never
// sleeps a fixed time: it returns as soon as the condition holds.
func WaitFor(timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(PollInterval)
	}
}
