package conformance

import specs "github.com/opencontainers/runtime-spec/specs-go"

func specsBind(src, dst string, opts ...string) specs.Mount {
	return specs.Mount{Source: src, Destination: dst, Type: "bind", Options: append([]string{"rbind"}, opts...)}
}

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u32(v uint32) *uint32 { return &v }
func intp(v int) *int      { return &v }
func uintp(v uint) *uint   { return &v }
