//go:build tools

// Package crictl pins the version of crictl (sigs.k8s.io/cri-tools) that
// tests/cri drives, with every dependency's hash in go.sum: deps.sh builds
// it from this module, so CI needs the Go module proxy only, never a
// checksum-database lookup of a module no go.sum names.
package crictl

import _ "sigs.k8s.io/cri-tools/cmd/crictl"
