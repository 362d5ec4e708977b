package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAllowList(t *testing.T) {
	good := "# allow-list\n\ntext\n\n| clause | test | message | reason |\n|---|---|---|---|\n" +
		"| RT-DELETE-NOT-STOPPED | TestOperationErrors/delete-created | `err=<nil>` | kept on purpose |\n" +
		"| CFG-VALID-VALUES | TestMemoryPolicy |  | reason two |\n"
	tests := []struct {
		name, text string
		want       int
		wantErr    string
	}{
		{"good", good, 2, ""},
		{"empty table", "| clause | test | message | reason |\n|---|---|---|---|\n", 0, ""},
		{"unknown clause", "| NO-SUCH-CLAUSE | TestX |  | r |\n", 0, "unknown clause"},
		{"no reason", "| CFG-VALID-VALUES | TestX | m |  |\n", 0, "needs a test and a reason"},
		{"no test", "| CFG-VALID-VALUES |  | m | r |\n", 0, "needs a test and a reason"},
		{"three cells", "| CFG-VALID-VALUES | TestX | r |\n", 0, "want 4 cells"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "allow.md")
			if err := os.WriteFile(p, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			list, err := ParseAllowList(p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(list) != tt.want {
				t.Fatalf("got %d entries, err %v; want %d", len(list), err, tt.want)
			}
		})
	}
	p := filepath.Join(t.TempDir(), "allow.md")
	os.WriteFile(p, []byte(good), 0o644)
	list, _ := ParseAllowList(p)
	if list[0].Message != "err=<nil>" {
		t.Fatalf("backquotes kept: %q", list[0].Message)
	}
	if _, ok := matchAllowance(list, "RT-DELETE-NOT-STOPPED", "TestOperationErrors/delete-created", "delete: err=<nil>"); !ok || !list[0].Used() {
		t.Fatal("entry 1 does not match its failure")
	}
	if _, ok := matchAllowance(list, "RT-DELETE-NOT-STOPPED", "TestOperationErrors/delete-created", "other message"); ok {
		t.Fatal("entry 1 matches another message")
	}
	if list[1].Used() {
		t.Fatal("entry 2 used without a match")
	}
}
