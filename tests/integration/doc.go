// Package integration drives a runc-compatible runtime binary (hull by
// default, any other via HULL_BINARY) through the OCI lifecycle with real
// busybox bundles. See README.md for how to run it.
package integration
