// The part of `hull init` that runs before the Go runtime starts: setns(2)
// into a user, mount or time namespace needs a single-threaded caller, and
// Go has started threads by the time main runs.
//
// The contract with Go is written down in libct/sync.go ("The bootstrap"
// and "The constructor's report"). This file reads the fields it needs
// from _HULL_INIT and always writes exactly one report on the sync socket;
// with FLAG_PROGRAM the process that goes on then runs the final program
// in C (final.c). In a process without _HULL_INIT (every hull command but
// init) it does nothing.
#include "nsenter.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

// The steps, as sync.go's bootStep.
enum step { STEP_OK, STEP_PARSE, STEP_DUMPABLE, STEP_JOIN, STEP_FORK, STEP_ROOT, STEP_CLOSE_FDS, STEP_JOIN_PIDFD, STEP_GATE, STEP_CGROUP };

#define REPORT_MAGIC 0x4c4c5548u
#define GATE_BYTE 'g'

// What "clone" may ask for: new namespaces, never a new pid namespace
// (one is being joined) or anything else.
#define CLONE_FLAGS_ALLOWED (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME)

// The fields this file reads; every other name is Go's and skipped. The
// namespaces come in the order they are joined (sync.go's nsOrder): the
// user namespace first, for the capabilities over the others it owns;
// the pid namespace last, because only the children of the caller move.
#define F(n) { #n, offsetof(struct boot, n) }
#define NS(n, i) { "ns_" #n, offsetof(struct boot, ns[i]) }
static const struct { const char *name; size_t off; } fields[] = {
	F(sync), F(fds), F(preserve), F(flags), F(clone), F(pidfd), F(pidfd_ns), F(fifo), F(errfifo), F(console),
	F(usernswait), F(cgtasks), F(cgtasks_n), NS(user, 0), NS(mnt, 1), NS(net, 2), NS(ipc, 3), NS(uts, 4), NS(cgroup, 5), NS(time, 6), NS(pid, 7),
};
static const int ns_flags[NS_COUNT] = { CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWIPC,
					CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_NEWTIME, CLONE_NEWPID };
#define NS_PID (NS_COUNT - 1)

// parse reads "name=value name=value ...": a value of a field we read is
// 1 to 18 decimal digits; anything else is an error.
static int parse(const char *s, struct boot *b)
{
	for (size_t len; *s != '\0'; s += len + (s[len] == ' ')) {
		const char *eq = memchr(s, '=', len = strcspn(s, " "));
		if (eq == NULL)
			return -1;
		for (size_t i = 0, vl = len - (size_t)(eq + 1 - s); i < sizeof(fields) / sizeof(fields[0]); i++)
			if (strlen(fields[i].name) == (size_t)(eq - s) && memcmp(s, fields[i].name, (size_t)(eq - s)) == 0) {
				if (vl == 0 || vl > 18 || strspn(eq + 1, "0123456789") != vl)
					return -1;
				*(long long *)((char *)b + fields[i].off) = atoll(eq + 1);
			}
	}
	return 0;
}

// hull_boot_reported is 1 once the report is written: Go's Init checks
// it, so a binary built without this constructor fails loudly.
int hull_boot_reported;

int io_full(int fd, void *buf, size_t len, int wr)
{
	for (char *p = buf; len > 0;) {
		ssize_t n = wr ? write(fd, p, len) : read(fd, p, len);
		if (n <= 0 && (n == 0 || errno != EINTR))
			return -1; // the parent sees EOF and reports our exit
		if (n > 0)
			p += n, len -= (size_t)n;
	}
	return 0;
}

static void report(int fd, pid_t pid, enum step step, size_t ns, int err)
{
	struct { uint32_t magic; int32_t pid, err; uint16_t step, ns; } r = { REPORT_MAGIC, pid, err, step, (uint16_t)ns };
	if (io_full(fd, &r, sizeof(r), 1) == 0)
		hull_boot_reported = 1;
}

// die says what failed on stderr and exits 255, as Go's Init does.
static void __attribute__((noreturn)) die(const char *what)
{
	dprintf(2, "hull init: %s: %s\n", what, strerror(errno));
	_exit(255);
}

// fail reports that step failed with err and exits.
static void __attribute__((noreturn)) fail(int fd, enum step step, size_t ns, int err)
{
	report(fd, 0, step, ns, err);
	_exit(1);
}

// close_fds closes every fd from lo to hi: close_range(2) (Linux 5.9),
// or one by one up to the fd limit.
int close_fds(unsigned int lo, unsigned int hi)
{
	if (lo > hi || syscall(SYS_close_range, lo, hi, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = lo; fd <= (long)hi && fd < (max < 0 ? 1 << 20 : max); fd++)
		close((int)fd);
	return 0;
}

// become_root makes us uid and gid 0 of the user namespace we joined:
// hull's host ids are usually unmapped there (files it creates would fail
// with EOVERFLOW), as runc does. The capabilities stay (leaving no root).
static int become_root(void)
{
	return syscall(SYS_setresgid, 0, 0, 0) < 0 ? -1 : (int)syscall(SYS_setresuid, 0, 0, 0);
}

pid_t raw_clone(unsigned long flags)
{
#if defined(__s390__) || defined(__s390x__)
	return (pid_t)syscall(SYS_clone, 0, flags);
#else
	return (pid_t)syscall(SYS_clone, flags, 0, 0, 0, 0);
#endif
}

// program runs the final program (final.c) in the process that goes on,
// after what Go's Init does first: every inherited fd close-on-exec (the
// program passes the preserved ones at execve), the id maps awaited and
// uid and gid 0 taken in a new user namespace, its ipc namespace
// (sync.go's bootNewIPC), not dumpable, the parent-death signal; for a
// new container, the setup helper (which returns, to Go).
static void program(const struct boot *b)
{
	if (syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) < 0)
		for (int fd = 3; fd < 1 << 16; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	char c;
	if (b->usernswait != 0 && read((int)b->usernswait, &c, 1) != 1)
		die("user namespace: wait for the id maps");
	if (b->usernswait != 0 && become_root() < 0)
		die("user namespace: become uid and gid 0");
	if ((b->flags & FLAG_NEWIPC) && unshare(CLONE_NEWIPC) < 0)
		die("user namespace: unshare the ipc namespace");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die("set not dumpable");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		die("set parent-death signal");
	int r = b->fifo != 0 ? hull_setup_helper(b) : 0; // a new container's init
	if (r < 0)
		die("fork the setup helper");
	if (r == 0)
		hull_final(b);
}

__attribute__((constructor)) static void hull_nsenter(void)
{
	const char *env = getenv("_HULL_INIT");
	if (env == NULL)
		return;
	struct boot b = { 0 };
	if (parse(env, &b) < 0 || b.sync < 3 || b.fds < 1 || b.sync >= 3 + b.fds || b.fds > 0x7ffffff0) {
		if (b.sync >= 3 && b.sync <= 0x7fffffff)
			fail((int)b.sync, STEP_PARSE, 0, EINVAL);
		die("malformed _HULL_INIT");
	}
	int sync = (int)b.sync;
	// The other fds named must be among those placed, none preserved.
	const long long fd_fields[] = { b.fifo, b.errfifo, b.console, b.usernswait };
	for (size_t i = 0; i < sizeof(fd_fields) / sizeof(fd_fields[0]); i++)
		if (fd_fields[i] != 0 && (fd_fields[i] < 3 + b.preserve || fd_fields[i] >= 3 + b.fds))
			fail(sync, STEP_PARSE, 0, EBADF);

	// Every fd above the ones the parent placed was inherited by hull
	// from whoever started it, never passed on purpose: close it before
	// anything resolves a path. Marking it close-on-exec is not enough,
	// execve resolves args[0] (/proc/self/fd/N/...) before it closes
	// them (CVE-2024-21626).
	if (close_fds((unsigned int)(3 + b.fds), ~0U) < 0)
		fail(sync, STEP_CLOSE_FDS, 0, errno);

	// Then, still in the host's pid namespace: not dumpable, so that no
	// process of a container we join can ptrace or open
	// /proc/<pid>/{fd,exe,mem,root} of a process that has all of hull's
	// privileges (CVE-2016-9962). Not while a new user namespace waits
	// for its maps (a process outside opens /proc/<pid>); Go's Init does
	// it once they are written.
	if (!(b.flags & FLAG_DUMPABLE) && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail(sync, STEP_DUMPABLE, 0, errno);
	int join_pid = b.ns[NS_PID] != 0;
	if (b.pidfd != 0) {
		// All of the container's namespaces in one call, through a pidfd
		// of its init (Linux 5.8): no /proc/<pid>/ns path whose pid could
		// be reused meanwhile, and the kernel joins the user namespace
		// first. Only the namespaces the container has are asked for.
		long long allowed = CLONE_FLAGS_ALLOWED | CLONE_NEWPID;
		if (b.pidfd < 3 || b.pidfd >= 3 + b.fds || b.pidfd_ns == 0 || (b.pidfd_ns & ~allowed) != 0)
			fail(sync, STEP_JOIN_PIDFD, 0, EINVAL);
		if (setns((int)b.pidfd, (int)b.pidfd_ns) < 0)
			fail(sync, STEP_JOIN_PIDFD, 0, errno);
		close((int)b.pidfd);
		if ((b.pidfd_ns & CLONE_NEWUSER) && become_root() < 0)
			fail(sync, STEP_ROOT, 0, errno);
		join_pid |= (b.pidfd_ns & CLONE_NEWPID) != 0;
	}
	for (size_t i = 0; i < NS_COUNT; i++) {
		if (b.ns[i] == 0)
			continue;
		if (b.ns[i] < 3 || b.ns[i] > 0x7fffffff || setns((int)b.ns[i], ns_flags[i]) < 0)
			fail(sync, STEP_JOIN, i, b.ns[i] < 3 || b.ns[i] > 0x7fffffff ? EBADF : errno);
		close((int)b.ns[i]);
		if (ns_flags[i] == CLONE_NEWUSER && become_root() < 0)
			fail(sync, STEP_ROOT, 0, errno);
	}
	// cgtasks (exec): the "tasks" files of the container's cgroup v1
	// directories, opened by the parent. "0" moves our only thread (we
	// have one: no Go runtime yet), a move for which the kernel skips
	// the global lock whose write side waits for an RCU grace period
	// (cgroups.ExecTarget.SelfJoin). A failure is reported: nothing goes
	// on outside the cgroup.
	if (b.cgtasks_n < 0 || b.cgtasks_n > b.fds || (b.cgtasks_n > 0 && (b.cgtasks < 3 + b.preserve || b.cgtasks + b.cgtasks_n > 3 + b.fds)))
		fail(sync, STEP_PARSE, 0, EBADF);
	for (long long i = 0; i < b.cgtasks_n; i++) {
		if (write((int)(b.cgtasks + i), "0", 1) != 1)
			fail(sync, STEP_CGROUP, (size_t)i, errno);
		close((int)(b.cgtasks + i));
	}
	// FLAG_GATE (exec): the parent puts us meanwhile where cgtasks does
	// not (a hybrid host's unified hierarchy when the start in it failed,
	// a rootless or systemd-moved cgroup) while we join the namespaces; nothing goes on -- no fork, no report, no program --
	// before its byte says that is done: the process that goes on,
	// forked below, inherits the cgroups, so no step of the final program
	// and no container code ever runs outside them. EOF: the parent is
	// gone (or gave up and kills us).
	if (b.flags & FLAG_GATE) {
		char g = 0;
		if (io_full(sync, &g, 1, 0) < 0)
			_exit(1);
		if (g != GATE_BYTE)
			fail(sync, STEP_GATE, 0, EPROTO);
	}
	if (join_pid) {
		// setns(CLONE_NEWPID) moved only our future children: clone the
		// one that goes on, report its pid and leave. It enters the pid
		// namespace already in the container's mount namespace (joined
		// above), or in a new one of its own, non-dumpable
		// (libct/userns_linux.go says what that keeps out).
		if ((b.clone & ~(long long)CLONE_FLAGS_ALLOWED) != 0)
			fail(sync, STEP_FORK, 0, EINVAL);
		// CLONE_PARENT: our parent's child, which it reaps.
		pid_t pid = raw_clone((unsigned long)b.clone | CLONE_PARENT | SIGCHLD);
		if (pid < 0)
			fail(sync, STEP_FORK, 0, errno);
		if (pid > 0) {
			report(sync, pid, STEP_OK, 0, 0);
			_exit(0);
		}
		hull_boot_reported = 1; // by the process that forked us
		// A session of its own, as the process the parent started has
		// (Setsid): a forked child is not a session leader, and a
		// terminal exec needs one to take the pty as its controlling
		// terminal (TIOCSCTTY fails with EPERM otherwise). It cannot
		// fail for a new process; if it did, the report is already
		// written, so the parent sees the exit.
		if (setsid() < 0)
			_exit(1);
	} else {
		report(sync, 0, STEP_OK, 0, 0);
	}
	if (b.flags & FLAG_PROGRAM)
		program(&b);
}
