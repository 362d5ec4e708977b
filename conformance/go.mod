module github.com/hullrt/hull/conformance

go 1.26.8

require github.com/opencontainers/runtime-spec v1.3.0

require (
	github.com/hanwen/go-fuse/v2 v2.12.1
	golang.org/x/sys v0.28.0 // indirect
)
