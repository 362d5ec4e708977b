package cgroups

import (
	"errors"
	"fmt"
	"math"
)

// ConvertCPUSharesToWeight maps v1 cpu.shares (2-262144, default 1024) to
// v2 cpu.weight (1-10000, default 100). The mapping is the quadratic one on
// a log scale that crun introduced and runc adopted (1.3): it keeps the
// three anchor points 2->1, 1024->100 and 262144->10000, where the older
// linear formula mapped the default 1024 to 39. 0 means unset.
func ConvertCPUSharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares <= 2 {
		return 1
	}
	if shares >= 262144 {
		return 10000
	}
	l := math.Log2(float64(shares))
	exp := (l*l+125*l)/612.0 - 7.0/34.0
	return uint64(math.Ceil(math.Pow(10, exp)))
}

// ConvertBlkioWeightToIOWeight maps a v1 blkio weight (10-1000) linearly to
// v2 io.weight (1-10000). 0 means unset.
func ConvertBlkioWeightToIOWeight(w uint64) uint64 {
	if w == 0 {
		return 0
	}
	if w < 10 {
		w = 10
	}
	return 1 + (w-10)*9999/990
}

// ConvertMemorySwapToV2 turns the spec's swap value, which is v1's
// memory+swap limit (memory.memsw.limit_in_bytes), into v2's
// memory.swap.max, which limits swap alone: swap - memory. -1 is
// "unlimited", 0 "unset"; an unlimited memory with swap unset means both
// unlimited, as on v1.
func ConvertMemorySwapToV2(swap, memory int64) (int64, error) {
	if memory == -1 && swap == 0 {
		return -1, nil
	}
	if swap == -1 || swap == 0 {
		return swap, nil
	}
	if memory == 0 || memory == -1 {
		return 0, errors.New("a swap limit needs a memory limit")
	}
	if memory < 0 {
		return 0, fmt.Errorf("invalid memory limit %d", memory)
	}
	if swap < memory {
		return 0, fmt.Errorf("memory+swap limit %d is below the memory limit %d", swap, memory)
	}
	return swap - memory, nil
}
