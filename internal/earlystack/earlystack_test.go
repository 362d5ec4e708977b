package earlystack

import "testing"

// The trick only works while grow's array lives in its frame: an array the
// compiler moves to the heap (over its stack-size limit, or escaping) grows
// nothing and allocates 16 KB instead.
func TestGrowStaysOnStack(t *testing.T) {
	if n := testing.AllocsPerRun(10, func() { grow(1) }); n != 0 {
		t.Errorf("grow allocates %v times per call, want 0: its array left the stack", n)
	}
}
