package intelrdt

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Stats is the "intel_rdt" part of `events --stats`, with runc's field
// names and JSON keys so that tools reading runc's output read hull's.
type Stats struct {
	L3CacheInfo       *L3CacheInfo `json:"l3_cache_info,omitempty"`
	L3CacheSchemaRoot string       `json:"l3_cache_schema_root,omitempty"`
	L3CacheSchema     string       `json:"l3_cache_schema,omitempty"`
	MemBwInfo         *MemBwInfo   `json:"mem_bw_info,omitempty"`
	MemBwSchemaRoot   string       `json:"mem_bw_schema_root,omitempty"`
	MemBwSchema       string       `json:"mem_bw_schema,omitempty"`
	// MBMStats and CMTStats have one entry per L3 domain (mon_data's
	// mon_L3_NN directories, in order).
	MBMStats *[]MBMStats `json:"mbm_stats,omitempty"`
	CMTStats *[]CMTStats `json:"cmt_stats,omitempty"`
}

// L3CacheInfo is info/L3.
type L3CacheInfo struct {
	CbmMask    string `json:"cbm_mask,omitempty"`
	MinCbmBits uint64 `json:"min_cbm_bits,omitempty"`
	NumClosids uint64 `json:"num_closids,omitempty"`
}

// MemBwInfo is info/MB.
type MemBwInfo struct {
	BandwidthGran uint64 `json:"bandwidth_gran,omitempty"`
	DelayLinear   uint64 `json:"delay_linear,omitempty"`
	MinBandwidth  uint64 `json:"min_bandwidth,omitempty"`
	NumClosids    uint64 `json:"num_closids,omitempty"`
}

// MBMStats is one domain's memory bandwidth counters, in bytes.
type MBMStats struct {
	MBMTotalBytes uint64 `json:"mbm_total_bytes"`
	MBMLocalBytes uint64 `json:"mbm_local_bytes"`
}

// CMTStats is one domain's L3 cache occupancy, in bytes.
type CMTStats struct {
	LLCOccupancy uint64 `json:"llc_occupancy"`
}

// Stats reads the group's schemas (and the root's, for comparison), what
// the hardware offers (info/L3, info/MB) and, where the kernel monitors,
// the counters of the MON group (or of the CTRL_MON group without one).
// What the host lacks is left out, not an error; a group that is gone is.
func (m *Manager) Stats() (*Stats, error) {
	own, err := os.ReadFile(filepath.Join(m.st.Path, "schemata"))
	if err != nil {
		return nil, err
	}
	root, _ := os.ReadFile(filepath.Join(m.st.Root, "schemata"))
	s := &Stats{}
	s.L3CacheSchema, s.MemBwSchema = schemaLines(string(own))
	s.L3CacheSchemaRoot, s.MemBwSchemaRoot = schemaLines(string(root))
	info := filepath.Join(m.st.Root, "info")
	if mask, err := os.ReadFile(filepath.Join(info, "L3", "cbm_mask")); err == nil {
		s.L3CacheInfo = &L3CacheInfo{
			CbmMask:    strings.TrimSpace(string(mask)),
			MinCbmBits: readUint(filepath.Join(info, "L3", "min_cbm_bits")),
			NumClosids: readUint(filepath.Join(info, "L3", "num_closids")),
		}
	}
	if _, err := os.Stat(filepath.Join(info, "MB")); err == nil {
		s.MemBwInfo = &MemBwInfo{
			BandwidthGran: readUint(filepath.Join(info, "MB", "bandwidth_gran")),
			DelayLinear:   readUint(filepath.Join(info, "MB", "delay_linear")),
			MinBandwidth:  readUint(filepath.Join(info, "MB", "min_bandwidth")),
			NumClosids:    readUint(filepath.Join(info, "MB", "num_closids")),
		}
	}
	mon := m.st.MonPath
	if mon == "" {
		mon = m.st.Path
	}
	if err := readMonData(filepath.Join(mon, "mon_data"), s); err != nil {
		return nil, err
	}
	return s, nil
}

// schemaLines picks the L3 and MB lines of a schemata file, spaces trimmed.
func schemaLines(content string) (l3, mb string) {
	for raw := range strings.Lines(content) {
		s := strings.TrimSpace(raw)
		switch {
		case strings.HasPrefix(s, "L3:"):
			l3 = s
		case strings.HasPrefix(s, "MB:"):
			mb = s
		}
	}
	return l3, mb
}

// readMonData reads mon_data/mon_L3_NN/{llc_occupancy,mbm_total_bytes,
// mbm_local_bytes}. Without mon_data (no monitoring) it reads nothing.
func readMonData(dir string, s *Stats) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "mon_L3_") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	var mbm []MBMStats
	var cmt []CMTStats
	for _, n := range names {
		d := filepath.Join(dir, n)
		if _, err := os.Stat(filepath.Join(d, "mbm_total_bytes")); err == nil {
			mbm = append(mbm, MBMStats{
				MBMTotalBytes: readUint(filepath.Join(d, "mbm_total_bytes")),
				MBMLocalBytes: readUint(filepath.Join(d, "mbm_local_bytes")),
			})
		}
		if _, err := os.Stat(filepath.Join(d, "llc_occupancy")); err == nil {
			cmt = append(cmt, CMTStats{LLCOccupancy: readUint(filepath.Join(d, "llc_occupancy"))})
		}
	}
	if len(mbm) > 0 {
		s.MBMStats = &mbm
	}
	if len(cmt) > 0 {
		s.CMTStats = &cmt
	}
	return nil
}

// readUint reads a file of one number; unreadable or "Unavailable" (the
// kernel's word for a counter it cannot read now) is 0.
func readUint(p string) uint64 {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v
}
