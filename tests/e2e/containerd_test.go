//go:build e2e

package e2e

type containerd struct{}

func newContainerd(e *env) (*containerd, error) { return nil, nil }
func (c *containerd) teardown() []string   { return nil }
