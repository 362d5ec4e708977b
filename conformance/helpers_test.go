package conformance

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func specsBind(src, dst string, opts ...string) specs.Mount {
	return specs.Mount{Source: src, Destination: dst, Type: "bind", Options: append([]string{"rbind"}, opts...)}
}

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u32(v uint32) *uint32 { return &v }
func intp(v int) *int      { return &v }
func uintp(v uint) *uint   { return &v }

// jsonWithExtras encodes spec and merges extra unknown properties into the
// top level, linux and process objects.
func jsonWithExtras(spec *specs.Spec, top, linux, process map[string]any) ([]byte, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for k, v := range top {
		m[k] = v
	}
	if l, ok := m["linux"].(map[string]any); ok {
		for k, v := range linux {
			l[k] = v
		}
	}
	if p, ok := m["process"].(map[string]any); ok {
		for k, v := range process {
			p[k] = v
		}
	}
	return json.MarshalIndent(m, "", "  ")
}

func sortStrings(s []string) { sort.Strings(s) }

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func itoa(i int) string { return strconv.Itoa(i) }
