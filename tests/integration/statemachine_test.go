package integration

import (
	"testing"
)

// containerIn brings a fresh container into status ("created", "running",
// "paused", "stopped") and returns its id and bundle.
func containerIn(t *testing.T, r *rt, status string) (string, *bundle) {
	t.Helper()
	id := newID(t)
	b := newBundle(t, []string{"sleep", "1000"}, nil)
	r.must("create", "--bundle", b.dir, id)
	switch status {
	case "created":
	case "running":
		r.must("start", id)
		r.waitStatus(id, "running")
	case "paused":
		r.must("start", id)
		r.waitStatus(id, "running")
		r.must("pause", id)
		r.waitStatus(id, "paused")
	case "stopped":
		r.must("start", id)
		r.waitStatus(id, "running")
		r.must("kill", id, "KILL")
		r.waitStatus(id, "stopped")
	default:
		t.Fatalf("containerIn: unknown status %q", status)
	}
	return id, b
}

// TestWrongState is the error catalogue for commands on a container in the
// wrong state or on one that does not exist: each must fail with a message,
// leave the container as it was and start no process.
func TestWrongState(t *testing.T) {
	cases := []struct {
		name   string
		status string // the container's status; "" for no container
		args   func(id, bundle string) []string
		// wantAny: stderr names one of these (any runtime).
		wantAny []string
		// hullWant: hull's one-line message names all of these; "ID" is
		// replaced by the container id.
		hullWant []string
		// runcDeviation, when set, is why runc does otherwise (skipped
		// when the runtime under test is runc).
		runcDeviation string
	}{
		{
			name: "duplicate id", status: "created",
			args:     func(id, b string) []string { return []string{"create", "--bundle", b, id} },
			wantAny:  []string{"exist", "already"},
			hullWant: []string{"ID"},
		},
		{
			name: "duplicate id of a running container with run", status: "running",
			args:     func(id, b string) []string { return []string{"run", "--bundle", b, id} },
			wantAny:  []string{"exist", "already"},
			hullWant: []string{"ID"},
		},
		{
			name: "start on running", status: "running",
			args:     func(id, _ string) []string { return []string{"start", id} },
			wantAny:  []string{"running", "not created", "state"},
			hullWant: []string{"ID", "running"},
		},
		{
			name: "start on stopped", status: "stopped",
			args:     func(id, _ string) []string { return []string{"start", id} },
			wantAny:  []string{"stopped", "not created", "state"},
			hullWant: []string{"ID", "stopped"},
		},
		{
			name: "kill on stopped", status: "stopped",
			args:     func(id, _ string) []string { return []string{"kill", id, "KILL"} },
			wantAny:  []string{"not running", "stopped"},
			hullWant: []string{"ID"},
		},
		{
			name: "delete on running", status: "running",
			args:     func(id, _ string) []string { return []string{"delete", id} },
			wantAny:  []string{"running", "force"},
			hullWant: []string{"ID", "running"},
		},
		{
			// runtime.md: deleting a container that is not stopped MUST
			// have no effect on it and MUST fail (conformance D1).
			name: "delete on created", status: "created",
			args:          func(id, _ string) []string { return []string{"delete", id} },
			wantAny:       []string{"created", "force"},
			hullWant:      []string{"ID", "created", "--force"},
			runcDeviation: "runc deletes a created container without --force (it kills its init)",
		},
		{
			name: "delete on paused", status: "paused",
			args:     func(id, _ string) []string { return []string{"delete", id} },
			wantAny:  []string{"paused", "force"},
			hullWant: []string{"ID", "paused", "--force"},
		},
		{name: "start nonexistent", args: func(id, _ string) []string { return []string{"start", id} }, wantAny: []string{"not exist", "no such"}, hullWant: []string{"ID"}},
		{name: "state nonexistent", args: func(id, _ string) []string { return []string{"state", id} }, wantAny: []string{"not exist", "no such"}, hullWant: []string{"ID"}},
		{name: "kill nonexistent", args: func(id, _ string) []string { return []string{"kill", id} }, wantAny: []string{"not exist", "no such"}, hullWant: []string{"ID"}},
		{name: "delete nonexistent", args: func(id, _ string) []string { return []string{"delete", id} }, wantAny: []string{"not exist", "no such"}, hullWant: []string{"ID"}},
		{
			name:     "kill with unknown signal",
			status:   "running",
			args:     func(id, _ string) []string { return []string{"kill", id, "SIGBOGUS"} },
			wantAny:  []string{"signal", "SIGBOGUS"},
			hullWant: []string{"SIGBOGUS"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.runcDeviation != "" {
				runcDeviation(t, tc.runcDeviation)
			}
			r := newRuntime(t)
			id := newID(t)
			b := newBundle(t, []string{"sleep", "1000"}, nil)
			var before state
			if tc.status != "" {
				id, b = containerIn(t, r, tc.status)
				before = r.state(id)
			}
			snap := snapshot(t, b.dir)
			res := r.callReaped(tc.args(id, b.dir)...)
			hullWant := make([]string, len(tc.hullWant))
			for i, w := range tc.hullWant {
				if w == "ID" {
					w = id
				}
				hullWant[i] = w
			}
			checkFailure(t, res, tc.wantAny, hullWant)
			if tc.status == "" {
				checkNoLeaks(t, r, id, b.dir, snap)
				return
			}
			// The container is untouched: same status and init pid.
			after := r.state(id)
			if after.Status != before.Status || after.Pid != before.Pid {
				t.Errorf("container changed: before %s pid %d, after %s pid %d",
					before.Status, before.Pid, after.Status, after.Pid)
			}
			checkNoLeaks(t, r, "", b.dir, snap)
		})
	}
}
