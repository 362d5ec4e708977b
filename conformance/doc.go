// Package conformance is a runtime-agnostic conformance suite for the OCI
// runtime-spec (v1.3.0). It drives any runc-compatible runtime through its
// command line, runs a static checker inside the containers it creates, and
// ties every assertion to a MUST/SHOULD clause of the spec. See README.md.
package conformance
