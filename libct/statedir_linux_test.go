package libct

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
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

// TestStateSplit: state.json holds the head only and config.json the
// config; Load reads the head alone, config() reads config.json; a state
// dir written by an older hull (config inside state.json) still loads.
func TestStateSplit(t *testing.T) {
	root := t.TempDir()
	id := "split"
	dir := filepath.Join(root, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := &configs.Config{Version: "1.2.0", Bundle: "/b", Rootfs: "/b/rootfs", Hostname: "h1", Process: &configs.Process{Args: []string{"sh"}}}
	c := &Container{root: root, dir: dir, p: persisted{head: head{ID: id, InitPid: 7}, Config: cfg}}
	if err := c.saveState(); err != nil {
		t.Fatal(err)
	}
	st, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(st), `"config"`) || strings.Contains(string(st), "h1") {
		t.Errorf("state.json carries the config: %s", st)
	}
	l, err := Load(root, id)
	if err != nil {
		t.Fatal(err)
	}
	if l.p.Config != nil {
		t.Error("Load decoded the config")
	}
	if l.p.needsConfig() {
		t.Error("a container without poststart/poststop hooks needs its config for start/delete")
	}
	if l.p.InitPid != 7 || l.p.Bundle != "/b" || l.config().Hostname != "h1" {
		t.Errorf("loaded pid %d bundle %q hostname %q", l.p.InitPid, l.p.Bundle, l.config().Hostname)
	}

	// An unchanged config is not written again.
	fi1, _ := os.Stat(filepath.Join(dir, configFile))
	if err := l.saveState(); err != nil {
		t.Fatal(err)
	}
	if fi2, _ := os.Stat(filepath.Join(dir, configFile)); !os.SameFile(fi1, fi2) {
		t.Error("config.json rewritten although unchanged")
	}

	// Older layout: the config inside state.json, no config.json.
	old, _ := json.Marshal(&persisted{head: head{ID: id, InitPid: 8, Bundle: "/b"}, Config: cfg})
	if err := os.WriteFile(filepath.Join(dir, stateFile), old, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, configFile)); err != nil {
		t.Fatal(err)
	}
	l, err = Load(root, id)
	if err != nil {
		t.Fatal(err)
	}
	if !l.p.needsConfig() {
		t.Error("old layout: start/delete must read the config (its hooks are not in the head)")
	}
	if l.p.InitPid != 8 || l.config().Hostname != "h1" {
		t.Errorf("old layout: pid %d hostname %q", l.p.InitPid, l.config().Hostname)
	}

	// Neither config.json nor a config inside state.json: config() is a
	// stand-in from the head, and loadConfig says why.
	head8, _ := json.Marshal(&head{ID: id, InitPid: 8, Bundle: "/b"})
	if err := os.WriteFile(filepath.Join(dir, stateFile), head8, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err = Load(root, id)
	if err != nil {
		t.Fatal(err)
	}
	if l.config().Bundle != "/b" || len(l.config().Namespaces) != 0 {
		t.Errorf("stand-in config: %+v", l.config())
	}
	if _, err := l.loadConfig(); err == nil || !strings.Contains(err.Error(), "config of container") {
		t.Errorf("loadConfig without config.json: %v", err)
	}
}
