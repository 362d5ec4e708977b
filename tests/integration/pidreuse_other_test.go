//go:build !amd64

package integration

import "os"

func traceVictim(argv []string, stdout, stderr *os.File, pid int, trigger string, reuse func()) (*traced, error) {
	return nil, errNoTracer
}
