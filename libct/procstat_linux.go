package libct

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// procStat is what hull reads of /proc/PID/stat: the state letter and the
// start time (field 22, in clock ticks since boot). The start time tells a
// process from a later one that reused its pid.
type procStat struct {
	State     byte
	StartTime uint64
}

// readProcStat parses /proc/PID/stat. The comm field may hold spaces and
// parentheses, so parsing starts after the last ')'.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, fmt.Errorf("malformed /proc stat %q", b)
	}
	// After ") " come field 3 (state) onwards; start time is field 22.
	fields := bytes.Fields(b[i+2:])
	if len(fields) < 20 {
		return procStat{}, fmt.Errorf("malformed /proc stat: %d fields", len(fields)+2)
	}
	st, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("malformed /proc stat start time: %w", err)
	}
	return procStat{State: fields[0][0], StartTime: st}, nil
}
