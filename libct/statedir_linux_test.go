package libct

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMakeLockedDir: of concurrent creates of one id exactly one gets the
// state directory, and it is locked from the moment it has its name.
func TestMakeLockedDir(t *testing.T) {
	root := t.TempDir()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, exists := 0, 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := makeLockedDir(root, "c1")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
				// Held: a non-blocking flock of the final path fails.
				fd, oerr := unix.Open(filepath.Join(root, "c1"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
				if oerr != nil {
					t.Error(oerr)
				} else {
					if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
						t.Error("the new state dir is not locked")
					}
					unix.Close(fd)
				}
				defer unlock()
			case errors.Is(err, ErrExist):
				exists++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || exists != 7 {
		t.Errorf("%d creates got the dir and %d were told it exists, want 1 and 7", wins, exists)
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 {
		t.Errorf("root holds %d entries, want only c1", len(ents))
	}
}

// TestSweepNewDirs: a killed create's hidden directory goes once it is a
// minute old and unlocked; a young or a locked one stays.
func TestSweepNewDirs(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-2 * time.Minute)
	mk := func(name string, age time.Time) string {
		p := filepath.Join(root, name)
		if err := os.Mkdir(p, 0o711); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, age, age); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := mk(newDirPrefix+"stale", old)
	young := mk(newDirPrefix+"young", time.Now())
	held := mk(newDirPrefix+"held", old)
	unlock, err := lockDir(held)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	other := mk("c2", old)
	sweepNewDirs(root)
	for p, want := range map[string]bool{stale: false, young: true, held: true, other: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}
