package libct

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseProcStat: never panics on any /proc/PID/stat content, and for
// a well-formed line reads the state and start time whatever the comm
// (which may hold spaces and parentheses: a process names itself).
func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1 (sleep) S 0 1 1 0 -1 4194560 101 0 0 0 0 0 0 0 20 0 1 0 12345 2 3 4"), "sleep", byte('S'), uint64(12345))
	f.Add([]byte("42 (a) (b)) Z 1"), ") R 1 2 3 (", byte('Z'), uint64(0))
	f.Add([]byte(""), "", byte('R'), uint64(1<<63))
	f.Fuzz(func(t *testing.T, raw []byte, comm string, state byte, start uint64) {
		_, _ = parseProcStat(raw)
		if state <= ' ' || state == ')' || state > '~' || len(comm) > 64 {
			return
		}
		fields := []string{string(state)}
		for i := 4; i <= 21; i++ {
			fields = append(fields, strconv.Itoa(i))
		}
		fields = append(fields, strconv.FormatUint(start, 10), "23", "24")
		line := "4242 (" + comm + ") " + strings.Join(fields, " ") + "\n"
		st, err := parseProcStat([]byte(line))
		if err != nil {
			t.Fatalf("well-formed %q: %v", line, err)
		}
		if st.State != state || st.StartTime != start {
			t.Fatalf("%q: got state %c start %d, want %c %d", line, st.State, st.StartTime, state, start)
		}
	})
}
