// Command memmap shows where a process's resident memory is: it runs a
// command under ptrace with PTRACE_O_TRACEEXIT, and when the command's
// first thread reaches do_exit (its memory still mapped) it reads
// /proc/PID/status (VmHWM is the peak RSS /usr/bin/time reports),
// /proc/PID/smaps (resident KB per mapping) and /proc/PID/pagemap (which
// pages of the executable are resident). With -sym, the resident pages of
// the executable are attributed to Go packages through the symbol table of
// an unstripped build with the same layout (the same build without -s -w:
// stripping removes only unloaded sections). With -pid it reads a live
// process instead (a created container init, say).
//
//	memmap [-sym hull-unstripped] [-top 30] -- hull --version
//	memmap -pid 1234 -sym hull-unstripped
//
// A measuring tool: resident text says which pages were faulted in, not
// which code ran (the kernel maps whole page-cache folios per fault).
package main

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	sym := flag.String("sym", "", "unstripped ELF with the same layout as the executable, to name packages")
	pid := flag.Int("pid", 0, "read this live process instead of running a command")
	top := flag.Int("top", 25, "packages to list")
	flag.BoolVar(&folios, "folios", false, "histogram of the page-cache folio sizes behind the executable's resident pages (/proc/kpageflags)")
	flag.BoolVar(&bitmap, "bitmap", false, "print which 64 KB windows of the executable are resident (# all 16 pages, . none, digit: pages/2)")
	flag.Parse()
	var (
		p   int
		err error
	)
	if *pid != 0 {
		p = *pid
		err = report(p, *sym, *top)
	} else {
		if flag.NArg() == 0 {
			fmt.Fprintln(os.Stderr, "usage: memmap [-sym ELF] [-top N] -- command [args...] | memmap -pid PID [-sym ELF]")
			os.Exit(2)
		}
		err = traceExit(flag.Args(), func(p int) error { return report(p, *sym, *top) })
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "memmap: %v\n", err)
		os.Exit(1)
	}
}

// traceExit runs argv traced and calls at with the pid when its first
// thread stops at PTRACE_EVENT_EXIT. Only that thread is traced: the
// command's other threads and children run free.
func traceExit(argv []string, at func(int) error) error {
	runtime.LockOSThread() // ptrace requests come from the tracer thread
	defer runtime.UnlockOSThread()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil { // the execve stop
		return err
	}
	const traceExitOpt = 0x40 // PTRACE_O_TRACEEXIT
	const eventExit = 6       // PTRACE_EVENT_EXIT
	if err := syscall.PtraceSetOptions(pid, traceExitOpt); err != nil {
		return fmt.Errorf("ptrace options: %w", err)
	}
	sig := 0
	var reported error
	done := false
	for {
		if err := syscall.PtraceCont(pid, sig); err != nil {
			return fmt.Errorf("ptrace cont: %w", err)
		}
		if _, err := syscall.Wait4(pid, &ws, syscall.WALL, nil); err != nil {
			return err
		}
		switch {
		case ws.Exited() || ws.Signaled():
			if !done {
				return fmt.Errorf("%s ended before its exit stop", argv[0])
			}
			if ws.Exited() && ws.ExitStatus() != 0 {
				fmt.Fprintf(os.Stderr, "memmap: %s exited %d\n", argv[0], ws.ExitStatus())
			}
			return reported
		case ws.Stopped() && ws.StopSignal() == syscall.SIGTRAP && ws.TrapCause() == eventExit:
			reported, done = at(pid), true
			sig = 0
		case ws.Stopped():
			sig = int(ws.StopSignal())
			if sig == int(syscall.SIGTRAP) {
				sig = 0
			}
		}
	}
}

type mapping struct {
	start, end uint64
	perm       string
	off        uint64
	path       string
	rssKB      int64
}

func report(pid int, sym string, top int) error {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(status), "\n") {
		for _, k := range []string{"VmHWM:", "VmRSS:", "RssAnon:", "RssFile:"} {
			if strings.HasPrefix(l, k) {
				fmt.Println(strings.Join(strings.Fields(l), " "))
			}
		}
	}
	maps, err := readSmaps(pid)
	if err != nil {
		return err
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	fmt.Println("\nresident KB by mapping:")
	var anon int64
	for _, m := range maps {
		name := m.path
		if name == exe {
			name = "exe"
		} else if name == "" {
			anon += m.rssKB
			if m.rssKB > 0 {
				fmt.Printf("  %6d KB  %s anonymous %x-%x (%d KB)\n", m.rssKB, m.perm, m.start, m.end, (m.end-m.start)>>10)
			}
			continue
		}
		fmt.Printf("  %6d KB  %s %s %x-%x (%d KB)\n", m.rssKB, m.perm, name, m.start, m.end, (m.end-m.start)>>10)
	}
	fmt.Printf("  %6d KB  anonymous in all\n", anon)
	if folios {
		if err := printFolios(pid, maps, exe); err != nil {
			return err
		}
	}
	if bitmap {
		if err := printBitmap(pid, maps, exe); err != nil {
			return err
		}
	}
	if sym == "" {
		return nil
	}
	return attribute(pid, maps, exe, sym, top)
}

func readSmaps(pid int) ([]mapping, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 5 && strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":") {
			var m mapping
			a, b, _ := strings.Cut(fs[0], "-")
			m.start, _ = strconv.ParseUint(a, 16, 64)
			m.end, _ = strconv.ParseUint(b, 16, 64)
			m.perm = fs[1]
			m.off, _ = strconv.ParseUint(fs[2], 16, 64)
			if len(fs) >= 6 {
				m.path = fs[5]
			}
			out = append(out, m)
		} else if len(fs) >= 2 && fs[0] == "Rss:" && len(out) > 0 {
			out[len(out)-1].rssKB, _ = strconv.ParseInt(fs[1], 10, 64)
		}
	}
	return out, sc.Err()
}

// attribute reads the present bit of every page of the executable's
// mappings and charges each resident page to the packages of the symbols
// on it, in proportion to the bytes they occupy there.
func attribute(pid int, maps []mapping, exe, sym string, top int) error {
	syms, err := symbols(sym)
	if err != nil {
		return err
	}
	pm, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return err
	}
	defer pm.Close()
	const page = 4096
	charge := map[string]float64{}
	buf := make([]byte, 8)
	for _, m := range maps {
		if m.path != exe {
			continue
		}
		for a := m.start; a < m.end; a += page {
			if _, err := pm.ReadAt(buf, int64(a/page*8)); err != nil {
				return fmt.Errorf("pagemap: %w", err)
			}
			if binary.LittleEndian.Uint64(buf)&(1<<63) == 0 {
				continue
			}
			// symbols overlapping [a, a+page)
			i := sort.Search(len(syms), func(i int) bool { return syms[i].end > a })
			covered := uint64(0)
			for ; i < len(syms) && syms[i].start < a+page; i++ {
				lo, hi := max(syms[i].start, a), min(syms[i].end, a+page)
				if hi > lo {
					charge[m.perm[:3]+" "+syms[i].pkg] += float64(hi-lo) / 1024
					covered += hi - lo
				}
			}
			if covered < page {
				charge[m.perm[:3]+" "+section(sym, a)] += float64(page-covered) / 1024
			}
		}
	}
	type kv struct {
		k string
		v float64
	}
	var rows []kv
	var total float64
	for k, v := range charge {
		rows = append(rows, kv{k, v})
		total += v
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].v > rows[j].v })
	fmt.Printf("\nresident KB of the executable by package (%.0f KB):\n", total)
	for i, r := range rows {
		if i == top {
			break
		}
		fmt.Printf("  %7.1f  %s\n", r.v, r.k)
	}
	return nil
}

type symbol struct {
	start, end uint64
	pkg        string
}

var sections []*elf.Section

// section names what is at a (pclntab, rodata without symbols, ...).
func section(file string, a uint64) string {
	for _, s := range sections {
		if a >= s.Addr && a < s.Addr+s.Size {
			return s.Name
		}
	}
	return "?"
}

func symbols(file string) ([]symbol, error) {
	f, err := elf.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sections = f.Sections
	ss, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: %w (want an unstripped build)", file, err)
	}
	var out []symbol
	for _, s := range ss {
		if s.Size == 0 || s.Value == 0 {
			continue
		}
		out = append(out, symbol{s.Value, s.Value + s.Size, pkgOf(s.Name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out, nil
}

// pkgOf groups a Go symbol by module (its first three path elements for a
// domain-named import path, else the standard package); C symbols are "C".
func pkgOf(name string) string {
	if strings.HasPrefix(name, "go:") || strings.HasPrefix(name, "type:") {
		n, _, _ := strings.Cut(name, ".")
		return n
	}
	slash := strings.LastIndex(name, "/")
	dot := strings.Index(name[slash+1:], ".")
	if dot < 0 {
		return "C"
	}
	p := name[:slash+1+dot]
	if strings.ContainsAny(p, "( *[") {
		return "C"
	}
	parts := strings.Split(p, "/")
	if strings.Contains(parts[0], ".") && len(parts) > 3 {
		if parts[0] == "github.com" && parts[1] == "hullrt" {
			return filepath.Join(parts[:min(len(parts), 4)]...)
		}
		return filepath.Join(parts[:3]...)
	}
	return p
}

var bitmap bool

// printBitmap prints one character per 64 KB window (fault_around_bytes'
// default) of each executable mapping: how many of its pages are resident.
func printBitmap(pid int, maps []mapping, exe string) error {
	pm, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return err
	}
	defer pm.Close()
	for _, m := range maps {
		if m.path != exe || m.end-m.start < 64<<10 {
			continue
		}
		n := (m.end - m.start) / 4096
		data := make([]byte, n*8)
		if _, err := pm.ReadAt(data, int64(m.start/4096*8)); err != nil {
			return fmt.Errorf("pagemap: %w", err)
		}
		var line strings.Builder
		for w := uint64(0); w < n; w += 16 {
			c := 0
			for i := w; i < min(w+16, n); i++ {
				if binary.LittleEndian.Uint64(data[i*8:])&(1<<63) != 0 {
					c++
				}
			}
			switch {
			case c == int(min(16, n-w)):
				line.WriteByte('#')
			case c == 0:
				line.WriteByte('.')
			default:
				line.WriteByte(byte('0' + min(c/2, 9)))
			}
		}
		fmt.Printf("\n%s %x-%x:\n", m.perm, m.start, m.end)
		s := line.String()
		for len(s) > 0 {
			k := min(len(s), 96)
			fmt.Println("  " + s[:k])
			s = s[k:]
		}
	}
	return nil
}

var folios bool

// printFolios counts the executable's resident pages by the size of the
// page-cache folio they belong to: the kernel may map a whole large folio
// on one fault, so folio sizes decide how much a touch costs.
func printFolios(pid int, maps []mapping, exe string) error {
	pm, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return err
	}
	defer pm.Close()
	kf, err := os.Open("/proc/kpageflags")
	if err != nil {
		return err
	}
	defer kf.Close()
	const head, tail = 1 << 15, 1 << 16 // KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL
	hist := map[int]int{}               // folio pages -> resident pages in such folios
	for _, m := range maps {
		if m.path != exe {
			continue
		}
		n := (m.end - m.start) / 4096
		data := make([]byte, n*8)
		if _, err := pm.ReadAt(data, int64(m.start/4096*8)); err != nil {
			return fmt.Errorf("pagemap: %w", err)
		}
		flags := func(pfn uint64) uint64 {
			b := make([]byte, 8)
			if _, err := kf.ReadAt(b, int64(pfn*8)); err != nil {
				return 0
			}
			return binary.LittleEndian.Uint64(b)
		}
		for i := uint64(0); i < n; i++ {
			e := binary.LittleEndian.Uint64(data[i*8:])
			if e&(1<<63) == 0 {
				continue
			}
			pfn := e & (1<<55 - 1)
			f := flags(pfn)
			size := 1
			if f&(head|tail) != 0 {
				// walk back to the head, then forward to the end
				h := pfn
				for flags(h)&head == 0 && pfn-h < 512 {
					h--
				}
				t := h + 1
				for flags(t)&tail != 0 && t-h < 512 {
					t++
				}
				size = int(t - h)
			}
			hist[size]++
		}
	}
	var sizes []int
	for s := range hist {
		sizes = append(sizes, s)
	}
	sort.Ints(sizes)
	fmt.Println("\nresident pages of the executable by folio size:")
	for _, s := range sizes {
		fmt.Printf("  %4d KB folios: %5d pages (%d KB)\n", s*4, hist[s], hist[s]*4)
	}
	return nil
}
