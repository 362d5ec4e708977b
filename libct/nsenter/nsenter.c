// The one piece of hull that must run before the Go runtime starts:
// setns(2) into an existing user or mount (or time) namespace requires a
// single-threaded caller, and Go has started threads by the time main runs.
//
// When the environment holds _HULL_NSENTER, a list of "type:path" pairs
// separated by commas, this constructor opens every path first (so that
// joining a mount namespace cannot change what a later path means), then
// joins the user namespace first and the others in the given order, and
// removes the variable. On any failure it prints one line naming the
// namespace and exits 1; the parent reports the child's exit.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_NS 8

static int ns_flag(const char *type)
{
	static const struct { const char *name; int flag; } t[] = {
		{ "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS },
		{ "net", CLONE_NEWNET },   { "ipc", CLONE_NEWIPC },
		{ "uts", CLONE_NEWUTS },   { "cgroup", CLONE_NEWCGROUP },
#ifdef CLONE_NEWTIME
		{ "time", CLONE_NEWTIME },
#else
		{ "time", 0x00000080 },
#endif
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(type, t[i].name) == 0)
			return t[i].flag;
	return -1;
}

// fail reports on the sync socket (_HULL_SYNCFD), as a message of
// libct's protocol, so that the parent's error names the cause; stderr
// only when there is no socket. Nothing here needs JSON escaping: the
// namespace type is one of ns_flag's names, strerror's text is plain.
static void fail(const char *what, const char *ns)
{
	const char *err = strerror(errno);
	const char *fdenv = getenv("_HULL_SYNCFD");
	int fd = fdenv != NULL ? atoi(fdenv) : -1;
	if (ns_flag(ns) < 0)
		ns = "a";
	if (fd < 3 || dprintf(fd, "{\"type\":\"error\",\"stage\":\"nsenter\",\"error\":\"%s %s namespace: %s\"}\n", what, ns, err) < 0)
		fprintf(stderr, "nsenter: %s %s namespace: %s\n", what, ns, err);
	exit(1);
}

__attribute__((constructor)) static void hull_nsenter(void)
{
	const char *env = getenv("_HULL_NSENTER");
	if (env == NULL || *env == '\0')
		return;
	// Joining a running container: from here on its processes can see
	// us. Not dumpable before the first setns, so that none of them can
	// ptrace or open /proc/<pid>/{fd,exe,mem} of a process that still has
	// all of hull's privileges (runc's CVE-2016-9962). Not while a new
	// user namespace waits for its maps (newuidmap needs /proc/<pid>).
	if (getenv("_HULL_USERNSFD") == NULL)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	char *list = strdup(env);
	if (list == NULL)
		fail("copy list for", "every");
	int fds[MAX_NS], flags[MAX_NS], n = 0;
	char *types[MAX_NS];
	for (char *save = NULL, *e = strtok_r(list, ",", &save); e != NULL;
	     e = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(e, ':');
		if (colon == NULL || n == MAX_NS) {
			errno = EINVAL;
			fail("parse", e);
		}
		*colon = '\0';
		types[n] = e;
		flags[n] = ns_flag(e);
		if (flags[n] < 0) {
			errno = EINVAL;
			fail("unknown", e);
		}
		fds[n] = open(colon + 1, O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0)
			fail("open", e);
		n++;
	}
	// The user namespace first: joining it grants the capabilities that
	// joining the others needs when they belong to it.
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < n; i++) {
			if ((pass == 0) != (flags[i] == CLONE_NEWUSER))
				continue;
			if (setns(fds[i], flags[i]) < 0)
				fail("join", types[i]);
			close(fds[i]);
		}
	free(list);
	unsetenv("_HULL_NSENTER");
}
