// The part of `hull init` that runs before the Go runtime starts: setns(2)
// into a user, mount or time namespace needs a single-threaded caller, and
// Go has started threads by the time main runs.
//
// The contract with Go is written down in libct/sync.go ("The bootstrap"
// and "The constructor's report"). This file reads the fields it needs
// from _HULL_INIT and always writes exactly one report on the sync socket.
// In a process without _HULL_INIT (every hull command but init) it does
// nothing.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

// The steps, as sync.go's bootStep.
enum step {
	STEP_OK, STEP_PARSE, STEP_DUMPABLE, STEP_JOIN, STEP_FORK, STEP_ROOT, STEP_CLOSE_FDS, STEP_JOIN_PIDFD
};

// Bits of the "flags" field, as sync.go's bootFlag.
#define FLAG_DUMPABLE 0x2

#define REPORT_MAGIC 0x4c4c5548u

// What "clone" may ask for: new namespaces, never a new pid namespace
// (one is being joined) or anything else.
#define CLONE_FLAGS_ALLOWED                                                   \
	(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | \
	 CLONE_NEWCGROUP | CLONE_NEWTIME)

// The namespaces, in the order they are joined (sync.go's nsOrder): the
// user namespace first, for the capabilities over the others it owns;
// the pid namespace last, because only the children of the caller move.
static const struct {
	const char *name;
	int flag;
} ns_table[] = {
	{ "ns_user", CLONE_NEWUSER }, { "ns_mnt", CLONE_NEWNS },
	{ "ns_net", CLONE_NEWNET },   { "ns_ipc", CLONE_NEWIPC },
	{ "ns_uts", CLONE_NEWUTS },   { "ns_cgroup", CLONE_NEWCGROUP },
	{ "ns_time", CLONE_NEWTIME }, { "ns_pid", CLONE_NEWPID },
};
#define NS_COUNT (sizeof(ns_table) / sizeof(ns_table[0]))
#define NS_PID (NS_COUNT - 1)

// The fields this file reads; every other name is Go's and skipped.
struct boot {
	long long sync, fds, flags, clone, pidfd, pidfd_ns, ns[NS_COUNT];
};

static long long *field(struct boot *b, const char *name, size_t len)
{
	if (len == 4 && memcmp(name, "sync", 4) == 0)
		return &b->sync;
	if (len == 3 && memcmp(name, "fds", 3) == 0)
		return &b->fds;
	if (len == 5 && memcmp(name, "flags", 5) == 0)
		return &b->flags;
	if (len == 5 && memcmp(name, "clone", 5) == 0)
		return &b->clone;
	if (len == 5 && memcmp(name, "pidfd", 5) == 0)
		return &b->pidfd;
	if (len == 8 && memcmp(name, "pidfd_ns", 8) == 0)
		return &b->pidfd_ns;
	for (size_t i = 0; i < NS_COUNT; i++)
		if (strlen(ns_table[i].name) == len && memcmp(name, ns_table[i].name, len) == 0)
			return &b->ns[i];
	return NULL;
}

// parse reads "name=value name=value ...": a value of a field we read is
// 1 to 18 decimal digits; anything else is an error.
static int parse(const char *s, struct boot *b)
{
	while (*s != '\0') {
		size_t len = strcspn(s, " ");
		const char *eq = memchr(s, '=', len);
		if (eq == NULL)
			return -1;
		long long *dst = field(b, s, (size_t)(eq - s));
		if (dst != NULL) {
			const char *v = eq + 1, *end = s + len;
			if (v == end || end - v > 18)
				return -1;
			long long n = 0;
			for (; v < end; v++) {
				if (*v < '0' || *v > '9')
					return -1;
				n = n * 10 + (*v - '0');
			}
			*dst = n;
		}
		s += len;
		if (*s == ' ')
			s++;
	}
	return 0;
}

// hull_boot_reported is 1 once the report is written: Go's Init checks
// it, so a binary built without this constructor fails loudly.
int hull_boot_reported;

static void report(int fd, pid_t pid, enum step step, size_t ns, int err)
{
	struct {
		uint32_t magic;
		int32_t pid, err;
		uint16_t step, ns;
	} r = { REPORT_MAGIC, pid, err, step, (uint16_t)ns };
	const char *p = (const char *)&r;
	size_t left = sizeof(r);
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; // the parent sees EOF and reports our exit
		p += n;
		left -= (size_t)n;
	}
	hull_boot_reported = 1;
}

static void fail(int fd, enum step step, size_t ns)
{
	report(fd, 0, step, ns, errno);
	_exit(1);
}

// close_fds_from closes every fd from first on: close_range(2) (Linux
// 5.9), or one by one up to the fd limit.
static int close_fds_from(unsigned int first)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, first, ~0U, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
#endif
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0)
		max = 1 << 20;
	for (long fd = first; fd < max; fd++)
		close((int)fd);
	return 0;
}

// become_root makes us uid and gid 0 of the user namespace we joined:
// hull's host ids are usually unmapped there (files it creates would fail
// with EOVERFLOW), as runc does. The capabilities stay (leaving no root).
static int become_root(void)
{
	if (syscall(SYS_setresgid, 0, 0, 0) < 0)
		return -1;
	return (int)syscall(SYS_setresuid, 0, 0, 0);
}

// clone_parent forks a sibling, in new namespaces (flags): the new
// process is the child of our parent, which reaps it like any other.
static pid_t clone_parent(unsigned long flags)
{
	flags |= CLONE_PARENT | SIGCHLD;
#if defined(__s390__) || defined(__s390x__)
	return (pid_t)syscall(SYS_clone, 0, flags);
#else
	return (pid_t)syscall(SYS_clone, flags, 0, 0, 0, 0);
#endif
}

__attribute__((constructor)) static void hull_nsenter(void)
{
	const char *env = getenv("_HULL_INIT");
	if (env == NULL)
		return;
	struct boot b = { 0 };
	if (parse(env, &b) < 0 || b.sync < 3 || b.fds < 1 || b.sync >= 3 + b.fds || b.fds > 0x7ffffff0) {
		static const char msg[] = "hull init: malformed _HULL_INIT\n";
		if (b.sync >= 3 && b.sync <= 0x7fffffff) {
			errno = EINVAL;
			fail((int)b.sync, STEP_PARSE, 0);
		}
		if (write(2, msg, sizeof(msg) - 1) < 0) {
		}
		_exit(1);
	}
	int sync = (int)b.sync;

	// Every fd above the ones the parent placed was inherited by hull
	// from whoever started it, never passed on purpose: close it before
	// anything resolves a path. Marking it close-on-exec is not enough,
	// execve resolves args[0] (/proc/self/fd/N/...) before it closes
	// them (CVE-2024-21626).
	if (close_fds_from((unsigned int)(3 + b.fds)) < 0)
		fail(sync, STEP_CLOSE_FDS, 0);

	// Then, still in the host's pid namespace: not dumpable, so that no
	// process of a container we join can ptrace or open
	// /proc/<pid>/{fd,exe,mem,root} of a process that has all of hull's
	// privileges (CVE-2016-9962). Not while a new user namespace waits
	// for its maps (a process outside opens /proc/<pid>); Go's Init does
	// it once they are written.
	if (!(b.flags & FLAG_DUMPABLE) && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail(sync, STEP_DUMPABLE, 0);
	int join_pid = b.ns[NS_PID] != 0;
	if (b.pidfd != 0) {
		// All of the container's namespaces in one call, through a pidfd
		// of its init (Linux 5.8): no /proc/<pid>/ns path whose pid could
		// be reused meanwhile, and the kernel joins the user namespace
		// first. Only the namespaces the container has are asked for.
		long long allowed = CLONE_FLAGS_ALLOWED | CLONE_NEWPID;
		if (b.pidfd < 3 || b.pidfd >= 3 + b.fds || b.pidfd_ns == 0 || (b.pidfd_ns & ~allowed) != 0) {
			errno = EINVAL;
			fail(sync, STEP_JOIN_PIDFD, 0);
		}
		if (setns((int)b.pidfd, (int)b.pidfd_ns) < 0)
			fail(sync, STEP_JOIN_PIDFD, 0);
		close((int)b.pidfd);
		if ((b.pidfd_ns & CLONE_NEWUSER) && become_root() < 0)
			fail(sync, STEP_ROOT, 0);
		join_pid |= (b.pidfd_ns & CLONE_NEWPID) != 0;
	}
	for (size_t i = 0; i < NS_COUNT; i++) {
		if (b.ns[i] == 0)
			continue;
		if (b.ns[i] < 3 || b.ns[i] > 0x7fffffff) {
			errno = EBADF;
			fail(sync, STEP_JOIN, i);
		}
		if (setns((int)b.ns[i], ns_table[i].flag) < 0)
			fail(sync, STEP_JOIN, i);
		close((int)b.ns[i]);
		if (ns_table[i].flag == CLONE_NEWUSER && become_root() < 0)
			fail(sync, STEP_ROOT, 0);
	}
	if (join_pid) {
		// setns(CLONE_NEWPID) moved only our future children: clone the
		// one that goes on, report its pid and leave. It enters the pid
		// namespace already in the container's mount namespace (joined
		// above), or in a new one of its own, non-dumpable
		// (libct/userns_linux.go says what that keeps out).
		if ((b.clone & ~(long long)CLONE_FLAGS_ALLOWED) != 0) {
			errno = EINVAL;
			fail(sync, STEP_FORK, 0);
		}
		pid_t pid = clone_parent((unsigned long)b.clone);
		if (pid < 0)
			fail(sync, STEP_FORK, 0);
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
		return;
	}
	report(sync, 0, STEP_OK, 0, 0);
}
