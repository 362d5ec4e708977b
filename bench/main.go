// Command bench measures hull against runc and crun on the same host, in one
// run, interleaved round by round (A B C, A B C, ...), and prints medians and
// pairwise ratios as markdown tables. It times each runtime call from fork to
// wait4 and takes its peak RSS from wait4's rusage. Timing never fails the
// bench; a runtime call that fails does, with that runtime's error.
//
// It re-executes itself in a private mount namespace with the hybrid cgroup2
// mount detached, so every runtime sees the same cgroup layout (crun 1.8
// refuses hybrid hosts).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	runtimes    string
	hull        string
	runc        string
	crun        string
	rootfs      string
	workdir     string
	n           int
	bigN        int
	rssN        int
	big         int
	listReps    int
	rotate      bool
	keepUnified bool
	jsonOut     string
	copyBins    bool
	extra       []string
	vs          string
}

func main() {
	var o options
	flag.StringVar(&o.runtimes, "runtimes", "hull,runc,crun", "comma-separated runtimes, measured in this order each round")
	flag.StringVar(&o.vs, "vs", "crun,runc", "reference runtimes: every other runtime gets a ratio column against each")
	flag.StringVar(&o.hull, "hull", "./hull", "hull binary")
	flag.StringVar(&o.runc, "runc", "/usr/sbin/runc", "runc binary")
	flag.StringVar(&o.crun, "crun", "/usr/bin/crun", "crun binary")
	flag.StringVar(&o.rootfs, "rootfs", "", "busybox rootfs directory (scripts/mkrootfs.sh builds one)")
	flag.StringVar(&o.workdir, "workdir", "/run/hull-bench", "scratch directory for bundles and --root dirs (removed at the end)")
	flag.IntVar(&o.n, "n", 30, "rounds of the sequential operations")
	flag.IntVar(&o.rssN, "rss-n", 5, "rounds of the peak-RSS calls (under /usr/bin/time)")
	flag.IntVar(&o.bigN, "big-n", 5, "rounds of the 50-container operations")
	flag.IntVar(&o.big, "big", 50, "containers in the concurrent create+start, list and kill/delete rounds")
	flag.IntVar(&o.listReps, "list-reps", 5, "list calls per runtime per big round")
	flag.BoolVar(&o.rotate, "rotate", true, "rotate which runtime goes first each round (A B C, B C A, ...) so none always follows the same one")
	flag.BoolVar(&o.keepUnified, "keep-unified", false, "do not detach "+cgroup2Hybrid+" (crun 1.8 fails on hybrid hosts)")
	flag.StringVar(&o.jsonOut, "json", "", "also write every sample to this file as JSON")
	flag.BoolVar(&o.copyBins, "copy-bins", true, "run copies of the runtime binaries (see copyBin: a binary fresh from the linker shows ~1.7 MB more RSS)")
	flag.Func("add", "`name=path`: one more runtime to name in -runtimes (a hull build to compare, say); repeatable", func(v string) error {
		name, path, ok := strings.Cut(v, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("want name=path, got %q", v)
		}
		o.extra = append(o.extra, name, path)
		return nil
	})
	flag.Parse()

	if os.Getenv(nsEnv) != "1" {
		os.Exit(reexecPrivate())
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type bench struct {
	o        options
	rts      []*runtime
	bigRoots map[string]string
	trueB    string
	sleepB   string
	tmp      string
	res      *results
	floor    []float64
	ctx      context.Context
	sleepers map[string]int
	livePids map[string]map[string]int // runtime -> id -> pid, for cleanup
	mu       sync.Mutex
}

func run(o options) error {
	if o.rootfs == "" {
		return fmt.Errorf("-rootfs is required")
	}
	rootfs, err := filepath.Abs(o.rootfs)
	if err != nil {
		return err
	}
	o.rootfs = rootfs
	if err := setupPrivate(o.keepUnified); err != nil {
		return err
	}
	if err := setSubreaper(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if err := os.RemoveAll(o.workdir); err != nil {
		return fmt.Errorf("clean %s: %w", o.workdir, err)
	}
	b := &bench{o: o, res: newResults(), ctx: ctx, sleepers: map[string]int{},
		livePids: map[string]map[string]int{}, bigRoots: map[string]string{}}
	b.tmp = filepath.Join(o.workdir, "tmp")
	if err := os.MkdirAll(b.tmp, 0o700); err != nil {
		return err
	}
	bins := map[string]string{"hull": o.hull, "runc": o.runc, "crun": o.crun}
	for i := 0; i+1 < len(o.extra); i += 2 {
		bins[o.extra[i]] = o.extra[i+1]
	}
	for _, name := range strings.Split(o.runtimes, ",") {
		bin, ok := bins[name]
		if !ok {
			return fmt.Errorf("unknown runtime %q (want hull, runc, crun or a name given with -add)", name)
		}
		abs, err := exec.LookPath(bin)
		if err != nil {
			return fmt.Errorf("runtime %s: %w", name, err)
		}
		if abs, err = filepath.Abs(abs); err != nil {
			return err
		}
		if o.copyBins {
			if abs, err = copyBin(abs, filepath.Join(o.workdir, "bin", name)); err != nil {
				return fmt.Errorf("runtime %s: %w", name, err)
			}
		}
		rt := &runtime{name: name, bin: abs, root: filepath.Join(o.workdir, "root", name)}
		b.bigRoots[name] = filepath.Join(o.workdir, "root", name+"-big")
		for _, d := range []string{rt.root, b.bigRoots[name]} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return err
			}
		}
		b.rts = append(b.rts, rt)
		b.livePids[name] = map[string]int{}
	}
	specRT := o.runc
	if _, err := exec.LookPath(specRT); err != nil {
		specRT = b.rts[0].bin
	}
	b.trueB, b.sleepB, err = makeBundles(filepath.Join(o.workdir, "bundles"), rootfs, specRT)
	if err != nil {
		return err
	}
	defer b.cleanup()

	start := time.Now()
	if err := b.benchmark(); err != nil {
		return err
	}
	b.report(time.Since(start))
	if o.jsonOut != "" {
		if err := b.writeJSON(o.jsonOut); err != nil {
			return err
		}
	}
	return nil
}

// order returns the runtimes in round i's order.
func (b *bench) order(i int) []*runtime {
	if !b.o.rotate {
		return b.rts
	}
	n := len(b.rts)
	out := make([]*runtime, 0, n)
	for k := 0; k < n; k++ {
		out = append(out, b.rts[(i+k)%n])
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func mb(kb int64) float64        { return float64(kb) / 1024 }

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func (b *bench) benchmark() error {
	// Warm-up: page cache, binaries, the kernel's namespace caches.
	for _, rt := range b.rts {
		if _, err := rt.call(b.tmp, "run", "--bundle", b.trueB, rt.name+"-warmup"); err != nil {
			return err
		}
	}
	// One long-lived container per runtime for exec, state and list.
	for _, rt := range b.rts {
		pid, _, err := b.createStart(rt, rt.root, rt.name+"-sleeper", b.sleepB)
		if err != nil {
			return err
		}
		b.sleepers[rt.name] = pid
	}
	b.progress("%d sequential rounds", b.o.n)
	for i := 0; i < b.o.n; i++ {
		if err := b.ctx.Err(); err != nil {
			return fmt.Errorf("interrupted: %w", err)
		}
		if err := b.floorRound(); err != nil {
			return err
		}
		for _, step := range []func(*runtime, int) error{b.lifecycle, b.runOnce, b.execOnce, b.stateOnce, b.list1Once, b.versionOnce} {
			for _, rt := range b.order(i) {
				if err := step(rt, i); err != nil {
					return err
				}
			}
		}
		reapOrphans()
	}
	b.progress("%d peak-RSS rounds", b.o.rssN)
	for i := 0; i < b.o.rssN; i++ {
		if err := b.ctx.Err(); err != nil {
			return fmt.Errorf("interrupted: %w", err)
		}
		for _, rt := range b.order(i) {
			if err := b.rssRound(rt, i); err != nil {
				return err
			}
		}
		reapOrphans()
	}
	b.progress("%d rounds of %d containers", b.o.bigN, b.o.big)
	for j := 0; j < b.o.bigN; j++ {
		if err := b.ctx.Err(); err != nil {
			return fmt.Errorf("interrupted: %w", err)
		}
		if err := b.bigRound(j); err != nil {
			return err
		}
		reapOrphans()
	}
	return nil
}

func (b *bench) floorRound() error {
	// The floor: the namespaces runc spec asks for, chroot and exec of
	// /bin/true, with nothing else (no cgroup, mounts, caps or seccomp).
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot: b.o.rootfs,
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
	}
	t := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("floor (namespaces + chroot + exec): %w", err)
	}
	b.floor = append(b.floor, ms(time.Since(t)))
	return nil
}

// createStart creates and starts a container and returns its init's pid
// and the CPU time of the two calls.
func (b *bench) createStart(rt *runtime, root, id, bundle string) (int, time.Duration, error) {
	r := *rt
	r.root = root
	pidFile := filepath.Join(b.tmp, rt.name+"-"+id+".pid")
	c, err := r.call(b.tmp, "create", "--bundle", bundle, "--pid-file", pidFile, id)
	if err != nil {
		return 0, 0, err
	}
	pid, err := readPid(pidFile)
	if err != nil {
		return 0, 0, err
	}
	b.mu.Lock()
	b.livePids[rt.name][id] = pid
	b.mu.Unlock()
	s, err := r.call(b.tmp, "start", id)
	if err != nil {
		return 0, 0, err
	}
	return pid, c.cpu + s.cpu, nil
}

func (b *bench) lifecycle(rt *runtime, i int) error {
	id := fmt.Sprintf("%s-lc-%d", rt.name, i)
	pidFile := filepath.Join(b.tmp, rt.name+".pid")
	c, err := rt.call(b.tmp, "create", "--bundle", b.trueB, "--pid-file", pidFile, id)
	if err != nil {
		return err
	}
	pid, err := readPid(pidFile)
	if err != nil {
		return err
	}
	rss, pss, err := initMemory(pid)
	if err != nil {
		return fmt.Errorf("%s: init memory while created: %w", rt.name, err)
	}
	s, err := rt.call(b.tmp, "start", id)
	if err != nil {
		return err
	}
	t := time.Now()
	if err := waitPid(pid); err != nil {
		return fmt.Errorf("%s: %w (is the container init not reparented to a subreaper?)", rt.name, err)
	}
	w := time.Since(t)
	d, err := rt.call(b.tmp, "delete", id)
	if err != nil {
		return err
	}
	b.res.add("lifecycle: create+start+wait+delete", "ms", rt.name, ms(c.dur+s.dur+w+d.dur))
	b.res.add("  create", "ms", rt.name, ms(c.dur))
	b.res.add("  start", "ms", rt.name, ms(s.dur))
	b.res.add("  wait (start returned → init reaped)", "ms", rt.name, ms(w))
	b.res.add("  delete", "ms", rt.name, ms(d.dur))
	b.res.add("cpu: create", "cpu ms", rt.name, ms(c.cpu))
	b.res.add("cpu: start", "cpu ms", rt.name, ms(s.cpu))
	b.res.add("cpu: delete", "cpu ms", rt.name, ms(d.cpu))
	b.res.add("init while created: VmRSS", "MB", rt.name, mb(rss))
	b.res.add("init while created: Pss", "MB", rt.name, mb(pss))
	return nil
}

// rssRound takes each command's peak RSS through /usr/bin/time.
// versionOnce times `--version`: the cost of starting the runtime's
// process at all, which run pays twice for hull and runc (the runtime and
// its re-executed init) and once for crun.
func (b *bench) versionOnce(rt *runtime, _ int) error {
	s, err := rt.call(b.tmp, "--version")
	if err != nil {
		return err
	}
	b.res.add("process start-up (--version)", "ms", rt.name, ms(s.dur))
	b.res.add("cpu: process start-up (--version)", "cpu ms", rt.name, ms(s.cpu))
	return nil
}

func (b *bench) rssRound(rt *runtime, i int) error {
	id := fmt.Sprintf("%s-rss-%d", rt.name, i)
	pidFile := filepath.Join(b.tmp, rt.name+".pid")
	steps := []struct {
		name string
		args []string
	}{
		{"run", []string{"run", "--bundle", b.trueB, id + "-run"}},
		{"create", []string{"create", "--bundle", b.trueB, "--pid-file", pidFile, id}},
		{"start", []string{"start", id}},
		{"delete", nil}, // after the init is reaped
		{"exec", []string{"exec", rt.name + "-sleeper", "/bin/true"}},
		{"state", []string{"state", rt.name + "-sleeper"}},
		{"list", []string{"list"}},
	}
	for _, st := range steps {
		args := st.args
		if st.name == "delete" {
			pid, err := readPid(pidFile)
			if err != nil {
				return err
			}
			if err := waitPid(pid); err != nil {
				return fmt.Errorf("%s: %w", rt.name, err)
			}
			args = []string{"delete", id}
		}
		s, err := rt.callRSS(b.tmp, args...)
		if err != nil {
			return err
		}
		b.res.add("peak RSS: "+st.name, "MB", rt.name, mb(s.maxRSSKB))
	}
	return nil
}

func (b *bench) runOnce(rt *runtime, i int) error {
	s, err := rt.call(b.tmp, "run", "--bundle", b.trueB, fmt.Sprintf("%s-run-%d", rt.name, i))
	if err != nil {
		return err
	}
	b.res.add("run /bin/true", "ms", rt.name, ms(s.dur))
	b.res.add("cpu: run (with the reaped container)", "cpu ms", rt.name, ms(s.cpu))
	return nil
}

func (b *bench) execOnce(rt *runtime, _ int) error {
	s, err := rt.call(b.tmp, "exec", rt.name+"-sleeper", "/bin/true")
	if err != nil {
		return err
	}
	b.res.add("exec /bin/true", "ms", rt.name, ms(s.dur))
	b.res.add("cpu: exec", "cpu ms", rt.name, ms(s.cpu))
	return nil
}

func (b *bench) stateOnce(rt *runtime, _ int) error {
	s, err := rt.call(b.tmp, "state", rt.name+"-sleeper")
	if err != nil {
		return err
	}
	b.res.add("state", "ms", rt.name, ms(s.dur))
	b.res.add("cpu: state", "cpu ms", rt.name, ms(s.cpu))
	return nil
}

func (b *bench) list1Once(rt *runtime, _ int) error {
	s, err := rt.call(b.tmp, "list")
	if err != nil {
		return err
	}
	b.res.add("list (1 live)", "ms", rt.name, ms(s.dur))
	b.res.add("cpu: list (1 live)", "cpu ms", rt.name, ms(s.cpu))
	return nil
}

func (b *bench) bigRound(j int) error {
	ids := map[string][]string{}
	for _, rt := range b.rts {
		for k := 0; k < b.o.big; k++ {
			ids[rt.name] = append(ids[rt.name], fmt.Sprintf("%s-big-%d-%d", rt.name, j, k))
		}
	}
	pids := map[string][]int{}
	for _, rt := range b.order(j) {
		t := time.Now()
		p, cpu, err := b.concurrentCreateStart(rt, ids[rt.name])
		if err != nil {
			return err
		}
		b.res.add(fmt.Sprintf("%d concurrent create+start (wall)", b.o.big), "ms", rt.name, ms(time.Since(t)))
		b.res.add(fmt.Sprintf("cpu: %d concurrent create+start (sum of the calls)", b.o.big), "cpu ms", rt.name, ms(cpu))
		pids[rt.name] = p
	}
	for r := 0; r < b.o.listReps; r++ {
		for _, rt := range b.order(j + r) {
			big := *rt
			big.root = b.bigRoots[rt.name]
			s, err := big.call(b.tmp, "list")
			if err != nil {
				return err
			}
			b.res.add(fmt.Sprintf("list (%d live)", b.o.big), "ms", rt.name, ms(s.dur))
			b.res.add(fmt.Sprintf("cpu: list (%d live)", b.o.big), "cpu ms", rt.name, ms(s.cpu))
		}
	}
	for _, rt := range b.order(j) {
		big := *rt
		big.root = b.bigRoots[rt.name]
		t := time.Now()
		var cpu time.Duration
		for k, id := range ids[rt.name] {
			s, err := big.call(b.tmp, "kill", id, "KILL")
			if err != nil {
				return err
			}
			cpu += s.cpu
			if err := waitPid(pids[rt.name][k]); err != nil {
				return fmt.Errorf("%s: %w", rt.name, err)
			}
			if s, err = big.call(b.tmp, "delete", id); err != nil {
				return err
			}
			cpu += s.cpu
			b.mu.Lock()
			delete(b.livePids[rt.name], id)
			b.mu.Unlock()
		}
		b.res.add(fmt.Sprintf("kill+wait+delete %d (sequential)", b.o.big), "ms", rt.name, ms(time.Since(t)))
		b.res.add(fmt.Sprintf("cpu: kill+delete %d (sum of the calls)", b.o.big), "cpu ms", rt.name, ms(cpu))
	}
	return nil
}

// concurrentCreateStart creates and starts the containers ids all at once
// and returns their inits' pids and the sum of the calls' CPU time.
func (b *bench) concurrentCreateStart(rt *runtime, ids []string) ([]int, time.Duration, error) {
	pids := make([]int, len(ids))
	cpus := make([]time.Duration, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for k, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pids[k], cpus[k], errs[k] = b.createStart(rt, b.bigRoots[rt.name], id, b.sleepB)
		}()
	}
	wg.Wait()
	var cpu time.Duration
	for k, err := range errs {
		if err != nil {
			return nil, 0, err
		}
		cpu += cpus[k]
	}
	return pids, cpu, nil
}

// Container ids carry the runtime's name: with no cgroupsPath each runtime
// derives the cgroup from the id, and equal ids would share a cgroup.

// cleanup force-deletes whatever each runtime still has under its roots
// (after an error or an interrupt too) and reaps the inits.
func (b *bench) cleanup() {
	for _, rt := range b.rts {
		for _, root := range []string{rt.root, b.bigRoots[rt.name]} {
			entries, _ := os.ReadDir(root)
			r := *rt
			r.root = root
			for _, e := range entries {
				if e.IsDir() {
					if _, err := r.call(b.tmp, "delete", "--force", e.Name()); err != nil {
						fmt.Fprintf(os.Stderr, "bench: cleanup: %v\n", err)
					}
				}
			}
		}
	}
	time.Sleep(50 * time.Millisecond)
	reapOrphans()
	if err := os.RemoveAll(b.o.workdir); err != nil {
		fmt.Fprintf(os.Stderr, "bench: cleanup: %v\n", err)
	}
}

func (b *bench) report(total time.Duration) {
	names := make([]string, len(b.rts))
	for i, rt := range b.rts {
		names[i] = rt.name
	}
	w := os.Stdout
	fmt.Fprintf(w, "## Times (median of %d rounds; %d-container rows: %d rounds)\n\n", b.o.n, b.o.big, b.o.bigN)
	refs := b.refs()
	b.res.table(w, names, refs, "ms")
	fmt.Fprintf(w, "\n## CPU time (user+sys from wait4: the call plus the children it reaped; less sensitive to a loaded machine than wall time)\n\n")
	b.res.table(w, names, refs, "cpu ms")
	fmt.Fprintf(w, "\n## Peak RSS (/usr/bin/time %%M, median of %d rounds) and a created init's memory (%d rounds)\n\n", b.o.rssN, b.o.n)
	b.res.table(w, names, refs, "MB")
	fmt.Fprintf(w, "\nRatios are medians of per-round ratios (pair by pair), not ratios of medians.\n")
	fmt.Fprintf(w, "Floor (CLONE_NEWNS|NEWPID|NEWNET|NEWIPC|NEWUTS + chroot + exec /bin/true from Go): %s ms median.\n",
		fmtVal(median(b.floor), "ms"))
	fmt.Fprintf(w, "Order: %s, rotated each round: %v. Wall time of the bench: %s.\n",
		strings.Join(names, " "), b.o.rotate, total.Round(time.Second))
}

// refs returns the -vs runtimes that are being measured.
func (b *bench) refs() []string {
	var out []string
	for _, ref := range strings.Split(b.o.vs, ",") {
		for _, rt := range b.rts {
			if rt.name == ref {
				out = append(out, ref)
			}
		}
	}
	return out
}

func (b *bench) writeJSON(path string) error {
	out := map[string]any{"floor_ms": b.floor}
	ms := map[string]any{}
	for _, name := range b.res.order {
		m := b.res.metrics[name]
		ms[name] = map[string]any{"unit": m.unit, "values": m.vals}
	}
	out["metrics"] = ms
	data, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// copyBin copies the binary src to dst and returns dst, with dst's pages
// written back and dropped from the page cache. Every runtime is measured
// from such a copy so that all binaries enter the page cache alike, read
// from disk: how a file was written decides the size of its page-cache
// folios, and the kernel's fault-around maps whole folios, so the same
// bytes give different RSS (hull fresh from the linker: 9.4 MB peak RSS for
// --version; read back from disk after a drop_caches: 7.6 MB; runc 8.3 MB
// either way).
func copyBin(src, dst string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	// Plain reads and writes, as cp(1) without reflinks.
	buf := make([]byte, 128<<10)
	for {
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				out.Close()
				return "", werr
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			out.Close()
			return "", rerr
		}
	}
	// Written back and dropped from the page cache: the first run reads
	// it from disk, as after a reboot, and every runtime starts alike.
	if err := out.Sync(); err != nil {
		out.Close()
		return "", err
	}
	const fadvDontneed = 4 // POSIX_FADV_DONTNEED
	if _, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, out.Fd(), 0, 0, fadvDontneed, 0, 0); e != 0 {
		out.Close()
		return "", fmt.Errorf("fadvise %s: %w", dst, e)
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return dst, nil
}
