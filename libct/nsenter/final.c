// The final stage of `hull init` in C: the program of typed steps that
// libct's finalProgram builds, in the wire format of libct/doc.go ("The
// final-stage program in C"), checked whole against the table below, then
// run strictly in order up to execve. Each step does what Go's executor
// does (libct/final_linux.go, setup_linux.go); a test runs the same
// programs through both. A failed step ends the process: before ready
// with a report (step, errno, detail) that the parent turns into the Go
// executor's words, after it with a line on err.fifo (init) or stderr.
#include "nsenter.h"
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <ctype.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#define SYS(...) (syscall(__VA_ARGS__) < 0 ? -1 : 0)
#define TRY(d, call) if ((*detail = (d), (call)) < 0) return -1 // the call fails: at detail d

int hull_role;
const char *hull_hook_data;

// The steps, as final_linux.go's opCode (the values are the wire's).
enum op {
	OP_WRITE_PROC = 1, OP_SCHEDULER, OP_IO_PRIORITY, OP_CPU_AFFINITY, OP_APPARMOR, OP_SELINUX,
	OP_NO_NEW_PRIVS, OP_SECCOMP, OP_DROP_BOUNDING, OP_SETGROUPS, OP_SETRESGID, OP_KEEP_CAPS,
	OP_SETRESUID, OP_CAPSET, OP_AMBIENT, OP_UMASK, OP_DEFAULT_HOME, OP_CHDIR, OP_CLOSE_FDS,
	OP_RESOLVE, OP_READY, OP_LANDLOCK, OP_RLIMIT, OP_EXECVE, OP_MEMORY_POLICY, OP_CONSOLE,
	OP_UNSHARE, OP_KEYRING, OP_PERSONALITY, OP_SETUP, OP_COUNT
};

// The operands of each step, min and max (finalwire_linux.go's shapes):
// ids, strings, payload bytes. A step not listed takes numbers only.
#define S(i0, i1, s0, s1, l0, l1) { { i0, i1 }, { s0, s1 }, { l0, l1 } }
static const struct shape { uint16_t ids[2], strs[2]; uint32_t len[2]; } shapes[OP_COUNT] = {
	[OP_WRITE_PROC] = S(0, 0, 2, 2, 0, 0), [OP_SCHEDULER] = S(0, 0, 0, 0, 56, 56), [OP_CPU_AFFINITY] = S(0, 0, 0, 0, 0, 128),
	[OP_APPARMOR] = S(0, 0, 2, 2, 0, 0), [OP_SELINUX] = S(0, 0, 2, 2, 0, 0), [OP_SECCOMP] = S(0, 0, 0, 0, 8, 32768),
	[OP_SETGROUPS] = S(0, 0, 0, 0, 0, 262144), [OP_CAPSET] = S(2, 2, 0, 0, 0, 0), [OP_CHDIR] = S(0, 0, 1, 1, 0, 0),
	[OP_READY] = S(0, 0, 0, 1, 0, 0), [OP_LANDLOCK] = S(4, 65535, 0, 65535, 0, 0), [OP_RLIMIT] = S(2, 2, 1, 1, 0, 0),
	[OP_EXECVE] = S(0, 0, 1, 65535, 0, 0), [OP_MEMORY_POLICY] = S(0, 0, 0, 0, 0, 1024), [OP_CONSOLE] = S(0, 2, 0, 0, 0, 0),
	[OP_KEYRING] = S(0, 0, 1, 1, 0, 0),
};

// A step: its fixed part on the wire, then its ids, payload and strings.
struct rec { uint16_t op, nids, nstrs, zero; uint32_t len, zero2; uint64_t num, num2; };
static struct step { const struct rec *r; const uint64_t *ids; const unsigned char *data; char **strs; } prog[256];
static const struct boot *bt;
static unsigned int cur, ready;
static char **argv, **envp, *exe, what[512]; // what: what the step did, for its message after ready
static size_t nenv;

enum { REPORT_READY = 1, REPORT_LISTENER, REPORT_FAILED, REPORT_REFUSED, REPORT_HELPER };

static void report(uint16_t kind, int err, int value)
{
	struct { uint32_t magic; uint16_t kind, step; int32_t err, value; } r = { 0x31524648u /* HFR1 */, kind, (uint16_t)cur, err, value };
	if (io_full((int)bt->sync, &r, sizeof(r), 1) < 0)
		_exit(255); // the parent is gone
}

// parse checks the n steps in buf against the table and fills prog; it
// returns -1, or the offset where the program breaks the wire format.
static long parse(unsigned char *buf, size_t total, unsigned int n)
{
	size_t off = 16, nstr = 0;
	char **sv = malloc(sizeof(char *) * (total / 8 + 1)); // a string takes 8 bytes or more
	for (unsigned int i = 0; i < n; i++) {
		const struct rec *r = (const struct rec *)(buf + off);
		if (sv == NULL || total - off < sizeof(*r) || r->op == 0 || r->op >= OP_COUNT || r->zero || r->zero2)
			return (long)off;
		const struct shape *sh = &shapes[r->op];
		if (r->nids < sh->ids[0] || r->nids > sh->ids[1] || r->nstrs < sh->strs[0] || r->nstrs > sh->strs[1] ||
		    r->len < sh->len[0] || r->len > sh->len[1] || r->len % 8 != 0 || (r->op == OP_EXECVE) != (i == n - 1) ||
		    (r->op == OP_EXECVE && (r->num < 1 || r->num > r->nstrs)))
			return (long)off;
		off += sizeof(*r);
		if ((total - off) / 8 < r->nids || total - off - 8 * (size_t)r->nids < r->len)
			return (long)off;
		prog[i] = (struct step){ r, (const uint64_t *)(buf + off), buf + off + 8 * (size_t)r->nids, sv + nstr };
		off += 8 * (size_t)r->nids + r->len;
		for (unsigned int k = 0; k < r->nstrs; k++) { // u32 length, the bytes, NUL, padding to 8
			uint32_t len;
			char *s = (char *)buf + off + 4;
			if (total - off < 4 || (memcpy(&len, buf + off, 4), len >= total - off - 4) || s[len] || memchr(s, 0, len))
				return (long)off;
			sv[nstr++] = s;
			if ((off = (off + 4 + len + 1 + 7) & ~(size_t)7) > total)
				return (long)off;
		}
	}
	return off == total ? -1 : (long)off;
}

// proc_write writes data to /proc/<rel> through a verified procfs handle
// (procfs_linux.go): /proc and the file on procfs, the open beneath /proc
// without magic links or mount crossings (CVE-2019-16884, CVE-2025-52881).
static int proc_write(const char *rel, const char *data, int *detail)
{
	struct statfs sfs;
	struct open_how how = { .flags = O_WRONLY | O_CLOEXEC | O_NOCTTY,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV };
	int root = open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), fd;
	TRY(1, root < 0 || fstatfs(root, &sfs) < 0 ? -1 : sfs.f_type != PROC_SUPER_MAGIC ? (errno = EXDEV, -1) : 0);
	TRY(0, fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof(how)));
	TRY(1, fstatfs(fd, &sfs) < 0 ? -1 : sfs.f_type != PROC_SUPER_MAGIC ? (errno = EXDEV, -1) : 0);
	TRY(0, write(fd, data, strlen(data)));
	return close(fd), close(root), 0;
}

// set_caps is capset(2) of the three sets, each limited to what the
// process holds (capabilities.SetCaps).
static int set_caps(uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct { uint32_t version; int pid; } h = { 0x20080522 /* v3 */, 0 };
	struct { uint32_t eff, perm, inh; } d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	uint64_t have = d[0].perm | (uint64_t)d[1].perm << 32, hinh = d[0].inh | (uint64_t)d[1].inh << 32;
	eff &= have, perm &= have, inh &= have | hinh;
	for (int k = 0; k < 2; k++)
		d[k].eff = (uint32_t)(eff >> 32 * k), d[k].perm = (uint32_t)(perm >> 32 * k), d[k].inh = (uint32_t)(inh >> 32 * k);
	return SYS(SYS_capset, &h, d);
}

// default_home adds HOME=<uid's home> from /etc/passwd (opened without
// following a final symlink, read only if a small regular file; "/"
// otherwise) unless env has one (withDefaultHome).
static void default_home(uint32_t uid)
{
	char *rest = NULL, want[16], *f[6], *home = "/";
	struct stat st;
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(envp[i], "HOME=", 5) == 0)
			return;
	snprintf(want, sizeof(want), "%u", uid);
	int fd = open("/etc/passwd", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= 1 << 20 &&
	    (rest = calloc(1, (size_t)st.st_size + 1)) != NULL && read(fd, rest, (size_t)st.st_size) < 0)
		rest[0] = '\0';
	for (char *line, *p; (p = line = strsep(&rest, "\n")) != NULL;) { // name:pw:uid:gid:gecos:home:...
		int k = 0;
		while (k < 6 && (f[k] = strsep(&p, ":")) != NULL)
			k++;
		if (k == 6 && strcmp(f[2], want) == 0 && *f[5] != '\0') {
			home = f[5];
			break;
		}
	}
	close(fd);
	if ((envp[nenv] = malloc(strlen(home) + 6)) != NULL)
		sprintf(envp[nenv++], "HOME=%s", home);
}

static int check_exec(const char *p)
{
	struct stat st;
	return stat(p, &st) < 0 ? -1 : S_ISDIR(st.st_mode) ? (errno = EISDIR, -1) : access(p, X_OK);
}

// resolve finds args[0] with the PATH of the process's env (lookPath).
static int resolve(int *detail)
{
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char p[4096];
	if (strchr(argv[0], '/') != NULL)
		return check_exec(exe = argv[0]);
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	for (const char *d = path, *end = path + strlen(path); d <= end; d += strcspn(d, ":") + 1) {
		int dl = (int)strcspn(d, ":");
		snprintf(p, sizeof(p), "%.*s%s%s", dl, d, dl > 0 && d[dl - 1] != '/' ? "/" : "", argv[0]);
		if (check_exec(p) == 0)
			return (exe = strdup(p)) == NULL ? -1 : 0;
	}
	*detail = 1;
	return errno = ENOENT, -1;
}

// close_extra closes every fd from first on but the sync socket and the
// exec FIFOs (placed in that order), which must not be directories.
static int close_extra(unsigned int first, int *detail)
{
	const long long keep[] = { bt->sync, bt->fifo, bt->errfifo };
	unsigned int lo = first;
	struct stat st;
	for (int i = 0; i < 3; i++) {
		if (keep[i] == 0)
			continue;
		*detail = (int)keep[i];
		if (keep[i] < lo || (fstat((int)keep[i], &st) == 0 && S_ISDIR(st.st_mode)))
			return errno = keep[i] < lo ? EINVAL : EISDIR, -1;
		TRY((int)lo, close_fds(lo, (unsigned int)keep[i] - 1));
		lo = (unsigned int)keep[i] + 1;
	}
	return close_fds(lo, ~0U);
}

// spawn forks a process that goes on in Go as role (nsenter.go's Role),
// sharing init's fd table and filesystem info when flags say so. It
// returns the helper's pid, or 0 in the helper.
static pid_t spawn(unsigned long flags, int role)
{
	pid_t self = getpid(), pid = raw_clone(flags | SIGCHLD);
	if (pid == 0 && (hull_role = role, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != self))
		_exit(255);
	return pid;
}

// wait_helper waits for a helper: 0 once it exited 0; one that exits 255
// has said why (to the parent, or on err.fifo): init exits too.
static int wait_helper(pid_t pid, int *detail)
{
	int st = -1;
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (st != 0 && WIFEXITED(st) && WEXITSTATUS(st) == 255)
		_exit(255);
	return st == 0 ? 0 : (*detail = st, errno = ECHILD, -1);
}

// The setup helper, forked before the program arrives (hull_setup_helper)
// so that its Go start overlaps the parent's cgroup placement; it reads
// its config from the socket once the setup step opens the gate, after
// init has read the program.
static pid_t setup_pid;
int hull_setup_gate[2];

int hull_setup_helper(const struct boot *b)
{
	bt = b;
	if (pipe2(hull_setup_gate, O_CLOEXEC) < 0 || (setup_pid = spawn(CLONE_FILES | CLONE_FS, ROLE_SETUP)) < 0)
		return -1;
	if (setup_pid == 0) // the parent learns its pid (SCM_CREDENTIALS) and places it
		report(REPORT_HELPER, 0, 0);
	return setup_pid == 0;
}

// do_ready tells the parent; init then waits for start on the exec FIFO
// (waitExecFifo) and runs the startContainer hooks in a helper.
static int do_ready(const struct step *s, int *detail)
{
	char c;
	if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
		return -1;
	report(REPORT_READY, 0, 0);
	close((int)bt->sync);
	ready = 1;
	strcpy(what, "read exec fifo");
	for (struct pollfd p = { (int)bt->fifo, POLLIN, 0 }; bt->fifo != 0;) {
		ssize_t n = poll(&p, 1, -1) < 0 ? -1 : read((int)bt->fifo, &c, 1);
		if (n == 0)
			return errno = EPIPE, -1; // the FIFO was closed without a start
		if (n == 1)
			break;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
	}
	if (bt->fifo == 0 || s->r->nstrs == 0)
		return 0;
	hull_hook_data = s->strs[0];
	strcpy(what, "startContainer hooks");
	pid_t pid = spawn(0, ROLE_HOOKS);
	return pid == 0 ? 1 : wait_helper(pid, detail);
}

// landlock (landlock.Apply): num, num2 the handled rights; ids
// [disableBestEffort, rights a rule on a file keeps, paths, ports, per
// path: access, rule, index; per port: access, port, rule, index]; the
// paths, opened as the process would, after pivot_root.
static int landlock(const struct step *s, int *detail)
{
	const uint64_t *id = s->ids, np = id[2], nn = id[3], attr[2] = { s->r->num, s->r->num2 };
	struct stat st;
	int rs;
	if (np > 65535 || nn > 65535 || s->r->nids != 4 + 3 * np + 4 * nn || s->r->nstrs != np) // bounded first: no wrap
		return errno = EINVAL, -1;
	if (attr[0] == 0 && attr[1] == 0)
		return 0; // nothing this kernel can enforce
	if ((rs = (int)syscall(SYS_landlock_create_ruleset, attr, attr[1] ? 16 : 8, 0)) < 0 && !id[0])
		return dprintf(2, "hull: warning: process.landlock not enforced: %s (is it refused by linux.seccomp?)\n", strerror(errno)), 0;
	TRY(-1, (strcpy(what, "landlock_create_ruleset"), rs));
	for (uint64_t k = 0; k < np; k++) {
		const uint64_t *r = id + 4 + 3 * k;
		struct __attribute__((packed)) { uint64_t access; int32_t fd; } pb = { r[0], open(s->strs[k], O_PATH | O_CLOEXEC) };
		snprintf(what, sizeof(what), "process.landlock.rules.pathBeneath[%d].paths[%d] \"%s\"", (int)r[1], (int)r[2], s->strs[k]);
		if (pb.fd < 0 && errno == ENOENT && !id[0]) {
			dprintf(2, "hull: warning: %s skipped: %c%s\n", what, tolower(*strerror(errno)), strerror(errno) + 1);
			continue;
		}
		TRY((int)k, pb.fd < 0 || fstat(pb.fd, &st) < 0 ? -1 : 0);
		pb.access &= S_ISDIR(st.st_mode) ? ~0ULL : id[1];
		TRY((int)k, pb.access ? SYS(SYS_landlock_add_rule, rs, 1 /* PATH_BENEATH */, &pb, 0) : 0);
		close(pb.fd);
	}
	strcpy(what, "landlock_add_rule");
	for (uint64_t k = 0; k < nn; k++) // {access, port} starts the entry
		TRY((int)(np + k), SYS(SYS_landlock_add_rule, rs, 2 /* NET_PORT */, id + 4 + 3 * np + 4 * k, 0));
	strcpy(what, "landlock_restrict_self");
	if (SYS(SYS_landlock_restrict_self, rs, 0) < 0) { // without CAP_SYS_ADMIN it wants no_new_privs
		TRY(-1, errno == EPERM ? prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) : -1);
		TRY(-1, SYS(SYS_landlock_restrict_self, rs, 0));
	}
	return close(rs), 0;
}

// console: num 0 makes a pty (console_linux.go: the slave opened from the
// master with TIOCGPTPEER, CVE-2025-52565; owned by num2; ids the size),
// sends the master over the console socket and makes the slave stdio.
// Then, either way, stdin becomes the controlling terminal.
static int console(const struct step *s, int *detail)
{
	int m, sl, ptn, unlock = 0, sock = (int)bt->console;
	struct stat st;
	char name[32], cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { name, 0 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (s->r->num == 0 && s->r->nids != 2)
		return errno = EINVAL, -1; // the size: rows, columns
	if (s->r->num == 0) {
		struct winsize ws = { (unsigned short)s->ids[0], (unsigned short)s->ids[1], 0, 0 };
		TRY(7, sock < 3 ? (errno = EBADF, -1) : 0);
		TRY(0, m = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
		TRY(1, fstat(m, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(5, 2) ? (errno = ENODEV, -1) : 0);
		TRY(2, ioctl(m, TIOCSPTLCK, &unlock));
		TRY(3, ioctl(m, TIOCGPTN, &ptn));
		TRY(4, sl = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
		TRY(5, ws.ws_row || ws.ws_col ? ioctl(m, TIOCSWINSZ, &ws) : 0);
		TRY(6, fchown(sl, (uid_t)s->r->num2, (gid_t)-1));
		iov.iov_len = (size_t)snprintf(name, sizeof(name), "/dev/pts/%d", ptn);
		c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS, c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &m, sizeof(int));
		TRY(7, sendmsg(sock, &msg, 0));
		for (int fd = 0; fd < 3; fd++)
			TRY(8, dup3(sl, fd, 0));
		close(sl), close(m), close(sock);
	}
	TRY(10, ioctl(0, TIOCSCTTY, 0)); // a session leader (the constructor's setsid after its fork)
	return 0;
}

// run_step runs one step: 0 done, -1 failed (errno, *detail), 1 in a
// helper that goes on in Go.
static int run_step(const struct step *s, int *detail)
{
	const uint64_t num = s->r->num, num2 = s->r->num2;
	unsigned char buf[4096];
	int fd;
	switch (s->r->op) {
	case OP_WRITE_PROC: // the parent names the LSMs' attr files
	case OP_APPARMOR:
	case OP_SELINUX: return proc_write(s->strs[0], s->strs[1], detail);
	case OP_SCHEDULER: // sched_attr.size, its first field, within the 56 bytes sent
		return *(const uint32_t *)s->data > s->r->len ? (errno = EINVAL, -1) : SYS(SYS_sched_setattr, 0, s->data, 0);
	case OP_IO_PRIORITY: return SYS(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (int)num);
	case OP_CPU_AFFINITY: // no mask: all of 8192 CPUs, which the kernel clamps to the cpuset
		memset(buf, 0xff, 1024);
		return SYS(SYS_sched_setaffinity, 0, s->r->len ? s->r->len : 1024, s->r->len ? s->data : buf);
	case OP_NO_NEW_PRIVS: return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	case OP_SECCOMP: { // one thread: no TSYNC; a NOTIFY listener goes to the parent
		struct sock_fprog fp = { (unsigned short)(s->r->len / 8), (struct sock_filter *)s->data };
		strcpy(what, "load seccomp filter: seccomp(SECCOMP_SET_MODE_FILTER)");
		if ((fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned int)num, &fp)) < 0)
			return -1;
		if (num & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
			report(REPORT_LISTENER, 0, fd);
			if (io_full((int)bt->sync, buf, 1, 0) < 0)
				_exit(255); // the parent gave up: it kills us
			close(fd);
		}
		return 0;
	}
	case OP_DROP_BOUNDING: // every capability up to num2 not in num
		for (uint64_t n = 0; n <= num2 && n < 64; n++) {
			int in = num >> n & 1 ? 0 : (*detail = (int)n, prctl(PR_CAPBSET_READ, n, 0, 0, 0));
			if (in < 0 || (in == 1 && prctl(PR_CAPBSET_DROP, n, 0, 0, 0) < 0))
				return -1;
		}
		return 0;
	case OP_SETGROUPS: // num gids (u32) in the payload; none is fine where setgroups is denied
		return num > s->r->len / 4 ? (errno = EINVAL, -1) : SYS(SYS_setgroups, num, s->data) < 0 && !(errno == EPERM && num == 0) ? -1 : 0;
	case OP_SETRESGID: return SYS(SYS_setresgid, num, num, num);
	case OP_KEEP_CAPS: return prctl(PR_SET_KEEPCAPS, num, 0, 0, 0);
	case OP_SETRESUID: return SYS(SYS_setresuid, num, num, num);
	case OP_CAPSET: return set_caps(num, s->ids[0], s->ids[1]);
	case OP_AMBIENT: // EINVAL: no ambient set (before Linux 4.3)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
			return errno == EINVAL && num == 0 ? 0 : -1;
		for (uint64_t n = 0; n <= num2 && n < 64; n++)
			if (num >> n & 1)
				TRY((int)n, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0));
		return 0;
	case OP_UMASK: return umask((mode_t)num), 0;
	case OP_DEFAULT_HOME: return default_home((uint32_t)num), 0;
	case OP_CHDIR: // inside the root, or getcwd answers "(unreachable)..." (CVE-2024-21626)
		TRY(0, chdir(s->strs[0]));
		TRY(1, SYS(SYS_getcwd, buf, sizeof(buf)));
		return buf[0] == '/' ? 0 : (errno = ENOENT, -1);
	case OP_CLOSE_FDS: return close_extra(3 + (unsigned int)num, detail);
	case OP_RESOLVE: return resolve(detail);
	case OP_READY: return do_ready(s, detail);
	case OP_LANDLOCK: return landlock(s, detail);
	case OP_RLIMIT: // strs: its name
		snprintf(what, sizeof(what), "setrlimit %s", s->strs[0]);
		return SYS(SYS_prlimit64, 0, num, s->ids, NULL);
	case OP_EXECVE: // the preserved fds lose close-on-exec only now
		for (fd = 3; fd < 3 + bt->preserve; fd++)
			TRY(fd, fcntl(fd, F_SETFD, 0));
		snprintf(what, sizeof(what), "exec %s", exe);
		return *detail = 0, execve(exe, argv, envp);
	case OP_MEMORY_POLICY: // maxnode: bits of the mask sent, plus the one the kernel drops (get_nodes: --maxnode)
		return s->r->len && num2 > 8 * (uint64_t)s->r->len + 1 ? (errno = EINVAL, -1) : SYS(SYS_set_mempolicy, num, s->r->len ? s->data : NULL, num2);
	case OP_CONSOLE: return console(s, detail);
	case OP_UNSHARE: return unshare((int)num);
	case OP_KEYRING: // KEYCTL_JOIN_SESSION_KEYRING; ENOSYS, EACCES: keyrings off, or confined
		return SYS(SYS_keyctl, 1, s->strs[0]) < 0 && errno != ENOSYS && errno != EACCES ? -1 : 0;
	case OP_PERSONALITY: return SYS(SYS_personality, num);
	case OP_SETUP:
		TRY(0, write(hull_setup_gate[1], "g", 1));
		return wait_helper(setup_pid, detail);
	}
	return errno = EINVAL, -1;
}

// fail ends the process at step cur: a report before ready; after it, a
// line that start prints (err.fifo) or the exec'd process's stderr gets,
// as Go's Init writes them (only these steps come after ready).
static void __attribute__((noreturn)) fail(int err, int detail)
{
	static const char *stages[OP_COUNT] = { [OP_SECCOMP] = "seccomp", [OP_LANDLOCK] = "landlock",
		[OP_RLIMIT] = "rlimits", [OP_EXECVE] = "exec", [OP_READY] = "wait for start" };
	const int op = prog[cur].r->op;
	const char *e = strerror(err);
	if (!ready)
		report(REPORT_FAILED, err, detail);
	else // Go's words: lowercase errno text
		dprintf(bt->errfifo ? (int)bt->errfifo : 2, "%s%s: %s%s%c%s%s", bt->errfifo ? "" : "hull init: ",
			stages[op] ? stages[op] : "init", what, *what ? ": " : "", tolower(*e), e + 1, bt->errfifo ? "" : "\n");
	_exit(255);
}

void hull_final(const struct boot *b)
{
	struct { uint32_t magic, n, total, zero; } h;
	unsigned char *buf = NULL;
	long bad = 0;
	bt = b;
	if (io_full((int)b->sync, &h, sizeof(h), 0) < 0)
		_exit(255); // the parent is gone
	if (h.magic == 0x31504648u /* HFP1 */ && h.n >= 1 && h.n <= 256 && h.total >= sizeof(h) && h.total <= 4 << 20 &&
	    h.zero == 0 && (buf = malloc(h.total)) != NULL) {
		memcpy(buf, &h, sizeof(h));
		if (io_full((int)b->sync, buf + sizeof(h), h.total - sizeof(h), 0) < 0)
			_exit(255);
		bad = parse(buf, h.total, h.n);
	}
	const struct step *x = &prog[h.n - 1]; // execve's strings: args, then env (with room for HOME)
	if (buf == NULL || bad >= 0 || (nenv = x->r->nstrs - x->r->num, argv = calloc(x->r->num + 1, sizeof(char *))) == NULL ||
	    (envp = calloc(nenv + 2, sizeof(char *))) == NULL) {
		report(REPORT_REFUSED, EINVAL, (int)bad);
		_exit(255);
	}
	memcpy(argv, x->strs, x->r->num * sizeof(char *));
	memcpy(envp, x->strs + x->r->num, nenv * sizeof(char *));
	for (cur = 0; cur < h.n; cur++) {
		int detail = 0, r = (errno = 0, what[0] = '\0', run_step(&prog[cur], &detail));
		if (r > 0)
			return; // a helper: on to Go
		if (r < 0)
			fail(errno, detail);
	}
	_exit(255); // not reached: execve is the last step
}
