package seccomp

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// dockerLike returns a profile shaped like Docker's default one: a long
// allow list with an ERRNO default.
func dockerLike() *specs.LinuxSeccomp {
	names := []string{"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
		"chdir", "chmod", "chown", "clock_getres", "clock_gettime", "clock_nanosleep", "close", "close_range",
		"connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
		"epoll_ctl", "epoll_pwait", "epoll_wait", "eventfd", "eventfd2", "execve", "execveat", "exit",
		"exit_group", "faccessat", "faccessat2", "fadvise64", "fallocate", "fchdir", "fchmod", "fchmodat",
		"fchown", "fchownat", "fcntl", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fstat",
		"fstatfs", "fsync", "ftruncate", "futex", "getcwd", "getdents", "getdents64", "getegid", "geteuid",
		"getgid", "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid",
		"getpriority", "getrandom", "getresgid", "getresuid", "getrlimit", "getrusage", "getsid",
		"getsockname", "getsockopt", "gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch",
		"inotify_init1", "ioctl", "kill", "lchown", "link", "linkat", "listen", "lseek", "lstat", "madvise",
		"mkdir", "mkdirat", "mmap", "mprotect", "mremap", "munmap", "nanosleep", "newfstatat", "open",
		"openat", "openat2", "pipe", "pipe2", "poll", "ppoll", "prctl", "pread64", "prlimit64", "pselect6",
		"pwrite64", "read", "readlink", "readlinkat", "readv", "recvfrom", "recvmsg", "rename", "renameat",
		"renameat2", "rmdir", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sched_getaffinity",
		"sched_yield", "select", "sendfile", "sendmsg", "sendto", "set_robust_list", "set_tid_address",
		"setgid", "setgroups", "setitimer", "setpgid", "setsid", "setsockopt", "setuid", "shutdown",
		"sigaltstack", "socket", "socketpair", "stat", "statfs", "statx", "symlink", "symlinkat", "sysinfo",
		"tgkill", "umask", "uname", "unlink", "unlinkat", "utimensat", "vfork", "wait4", "waitid", "write", "writev"}
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: names, Action: specs.ActAllow},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0, Op: specs.OpEqualTo}, {Index: 0, Value: 8, Op: specs.OpEqualTo},
				{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0x7e020000, Op: specs.OpMaskedEqual}}},
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: uintp(38)},
		},
	}
}

func TestCompileCache(t *testing.T) {
	profile := dockerLike()
	want, err := Compile(profile, "")
	if err != nil {
		t.Fatal(err)
	}
	key, err := cacheKey(profile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// prepare changes the cache before the second Compile
		prepare func(t *testing.T, path string)
		// wantHit: the second Compile returns the cached program, recognised
		// by a marker planted in it.
		wantHit bool
	}{
		{name: "hit", prepare: func(t *testing.T, path string) {}, wantHit: true},
		{name: "missing", prepare: func(t *testing.T, path string) { os.Remove(path) }},
		{name: "corrupt program", prepare: func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[len(b)-1] ^= 0xff // checksum no longer matches
			os.WriteFile(path, b, 0o600)
		}},
		{name: "truncated", prepare: func(t *testing.T, path string) { os.Truncate(path, cacheHeaderSize+3) }},
		{name: "writable by others", prepare: func(t *testing.T, path string) { os.Chmod(path, 0o666) }},
		{name: "symlink", prepare: func(t *testing.T, path string) {
			os.Rename(path, path+".real")
			os.Symlink(path+".real", path)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			first, err := Compile(profile, dir)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Program, want.Program) || first.Flags != want.Flags {
				t.Fatal("cached compile differs from uncached compile")
			}
			path := cachePath(dir, key)
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("cache file %s: %v, mode %v", path, err, st.Mode())
			}
			// Plant a marker: replace the cached program by a different,
			// correctly checksummed one (a single "ret ALLOW").
			marker := []byte{0x06, 0, 0, 0, 0, 0, 0xff, 0x7f}
			writeCache(dir, key, marker)
			tt.prepare(t, path)
			second, err := Compile(profile, dir)
			if err != nil {
				t.Fatal(err)
			}
			gotHit := bytes.Equal(second.Program, marker)
			if gotHit != tt.wantHit {
				t.Fatalf("cache hit = %v, want %v", gotHit, tt.wantHit)
			}
			if !tt.wantHit && !bytes.Equal(second.Program, want.Program) {
				t.Fatal("recompiled program differs")
			}
			if tmp, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(tmp) != 0 {
				t.Fatalf("temporary files left behind: %v", tmp)
			}
		})
	}
}

func TestCacheKey(t *testing.T) {
	base := dockerLike()
	k0, _ := cacheKey(base)
	tests := []struct {
		name     string
		mod      func(s *specs.LinuxSeccomp)
		wantSame bool
	}{
		{name: "flags do not change the program", mod: func(s *specs.LinuxSeccomp) { s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog} }, wantSame: true},
		{name: "listener does not change the program", mod: func(s *specs.LinuxSeccomp) { s.ListenerPath = "/x" }, wantSame: true},
		{name: "default errno", mod: func(s *specs.LinuxSeccomp) { s.DefaultErrnoRet = uintp(1) }},
		{name: "arch", mod: func(s *specs.LinuxSeccomp) { s.Architectures = s.Architectures[:1] }},
		{name: "rule errno", mod: func(s *specs.LinuxSeccomp) { s.Syscalls[3].ErrnoRet = uintp(1) }},
		{name: "rule arg", mod: func(s *specs.LinuxSeccomp) { s.Syscalls[1].Args[2].Value = 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := dockerLike()
			tt.mod(s)
			k, err := cacheKey(s)
			if err != nil {
				t.Fatal(err)
			}
			if (k == k0) != tt.wantSame {
				t.Fatalf("key equal = %v, want %v", k == k0, tt.wantSame)
			}
		})
	}
}

// TestCachedFilterLoads checks that a program read back from the cache is
// one the kernel accepts and enforces.
func TestCachedFilterLoads(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	profile := allowAllBut(specs.LinuxSyscall{Names: []string{"getpgid"}, Action: specs.ActErrno, ErrnoRet: uintp(18)})
	if _, err := Compile(profile, dir); err != nil {
		t.Fatal(err)
	}
	key, _ := cacheKey(profile)
	if _, ok := readCache(dir, key); !ok {
		t.Fatal("program not cached")
	}
	out := runHelperProcess(t, helperRequest{Profile: profile, CacheDir: dir, Calls: []sysCall{{Nr: unix.SYS_GETPGID}}})
	if out.err != nil {
		t.Fatalf("helper: %v: %s", out.err, out.stderr)
	}
	if out.results[0].Errno != 18 {
		t.Fatalf("getpgid errno = %v, want EXDEV from the cached filter", out.results[0].Errno)
	}
}

func BenchmarkCompile(b *testing.B) {
	profile := dockerLike()
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cached=%v", cached), func(b *testing.B) {
			dir := ""
			if cached {
				dir = b.TempDir()
				if _, err := Compile(profile, dir); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Compile(profile, dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
