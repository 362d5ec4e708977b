package cgroups

import "testing"

func TestConvertCPUSharesToWeight(t *testing.T) {
	tests := []struct{ shares, want uint64 }{
		{0, 0}, {1, 1}, {2, 1}, {1024, 100}, {262144, 10000}, {300000, 10000},
		{512, 59}, {2048, 174}, {100, 17},
	}
	for _, tt := range tests {
		if got := ConvertCPUSharesToWeight(tt.shares); got != tt.want {
			t.Errorf("ConvertCPUSharesToWeight(%d) = %d, want %d", tt.shares, got, tt.want)
		}
	}
}

func TestConvertBlkioWeightToIOWeight(t *testing.T) {
	tests := []struct{ w, want uint64 }{{0, 0}, {10, 1}, {500, 4950}, {1000, 10000}, {5, 1}}
	for _, tt := range tests {
		if got := ConvertBlkioWeightToIOWeight(tt.w); got != tt.want {
			t.Errorf("ConvertBlkioWeightToIOWeight(%d) = %d, want %d", tt.w, got, tt.want)
		}
	}
}

func TestConvertMemorySwapToV2(t *testing.T) {
	tests := []struct {
		name         string
		swap, memory int64
		want         int64
		wantErr      bool
	}{
		{"both unset", 0, 0, 0, false},
		{"memory unlimited, swap unset", 0, -1, -1, false},
		{"swap unlimited", -1, 100, -1, false},
		{"swap unset", 0, 100, 0, false},
		{"memsw minus memory", 300, 100, 200, false},
		{"no swap allowed", 100, 100, 0, false},
		{"swap without memory", 300, 0, 0, true},
		{"swap with unlimited memory", 300, -1, 0, true},
		{"memsw below memory", 50, 100, 0, true},
		{"negative memory", 50, -5, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConvertMemorySwapToV2(tt.swap, tt.memory)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ConvertMemorySwapToV2(%d, %d) error = %v, want error %v", tt.swap, tt.memory, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Fatalf("ConvertMemorySwapToV2(%d, %d) = %d, want %d", tt.swap, tt.memory, got, tt.want)
			}
		})
	}
}
