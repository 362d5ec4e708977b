// Package libct is hull's container library: the runtime spec's state
// machine (create, start, state, kill, delete), the container's init
// process, and the protocol between them. The CLI at the repository root
// only parses flags and calls it.
//
// # Starting a process: one launcher
//
// Create (a new container's init) and Exec (a process joining a running
// container) both start `/proc/self/exe init` through launch.start
// (process_linux.go), in three steps, and kill and reap the child inside
// if any of them fails:
//
//  1. command: hull's sealed binary (selfExe), the sync socketpair, the
//     fds the child needs and the bootstrap that numbers them (sync.go).
//     What differs between the two is a launchKind (launch_linux.go):
//     initLaunch gives new namespaces as clone flags (exec.Cmd's
//     SysProcAttr, or the constructor's clone when a pid namespace is
//     joined; uid/gid maps written by the parent, or by
//     newuidmap/newgidmap once the child exists), the exec FIFO and the
//     idmapped mount sources; execLaunch joins every namespace of the
//     container's init.
//  2. spawn and cgroup: the child's C constructor (libct/nsenter,
//     nsenter.c) closes every fd hull was not asked to pass, makes the
//     child non-dumpable, joins namespaces and reports first; then the
//     child is moved into its cgroup
//     (a new one, with the container's resources, for init; the existing
//     one, or exec --cgroup's sub-cgroup, for exec), unless it was
//     started there (CLONE_INTO_CGROUP, pure cgroup v2), and into its
//     resctrl group; the network devices move into init's namespace.
//     Exec's child is placed before it reports instead, while its
//     constructor joins the namespaces, and mostly by itself: it writes
//     "0" to the "tasks" file of each cgroup v1 directory (fds the parent
//     opened) and starts in a hybrid host's unified one
//     (CLONE_INTO_CGROUP), so that no move by pid waits for the RCU grace
//     period of the kernel's global cgroup lock (cgroups.ExecTarget.
//     SelfJoin: an exec 23 -> 10 ms on an idle host); the parent moves
//     what is left, then writes the gate byte (sync.go, bootGate), before
//     which the constructor neither forks the process that goes on nor
//     reports: that process inherits the cgroups, and never runs a step
//     outside them (TestExecCgroupFromTheStart). Its resctrl group is
//     joined after the report, before the program is sent.
//  3. protocol: the parent sends the final program (below) and, for a
//     new container, the config over the socket, runs the prestart and
//     createRuntime hooks when the child asks, and returns once the child
//     is ready. Every error from the child carries the stage it failed
//     in. The program is built before the child exists (finalProgram): a
//     process config that cannot be applied fails before anything is
//     started.
//
// Namespaces given by path are opened by the parent and handed over as
// fds. Exec joins all of init's through a pidfd of init opened once
// (setns(pidfd, CLONE_NEW*...), Linux 5.8: one call, no /proc/<pid>/ns
// path whose pid could be reused meanwhile), or, on older kernels, through
// fds of /proc/<init>/ns/*; either way init's start time is checked after
// the open. They are joined without runc's
// 1,200-line nsexec.c:
//
//   - user, mnt, time: setns needs a single-threaded caller, so the C
//     constructor joins them in the child before the Go runtime starts;
//     net, ipc, uts and cgroup go there too so that every join happens in
//     one place, user namespace first.
//   - pid: setns(CLONE_NEWPID) only changes where the caller's children
//     go, so the constructor joins it last, after the mount namespace,
//     and clones the process that goes on (CLONE_PARENT, its pid in the
//     report; for a new container, with the namespaces it creates as
//     clone flags, a new user namespace's maps written by the parent once
//     it exists). An exec'd process enters the container's pid namespace
//     never with the host's root, and the constructor is non-dumpable
//     before its first setns (CVE-2016-9962; see userns_linux.go for what
//     that does and does not keep out). A joined user namespace makes it
//     uid and gid 0 there, as runc does.
//   - new cgroup and time namespaces are unshared by init itself: the
//     cgroup one once init is in its cgroup (so that is the namespace's
//     root), the time one so that the offsets are written before execve
//     moves the process into it.
//
// # The final stage
//
// Once the container is set up (or, for exec, the namespaces joined),
// the child runs the final-stage program (final_linux.go): an ordered
// list of typed steps -- the CPU affinity, init's own namespaces and its
// setup, the console, procfs writes, the memory policy, scheduling, LSM
// exec labels, no_new_privs, seccomp, the capability sets and
// credentials, umask, HOME, cwd, closing fds, resolving args[0], ready,
// landlock, rlimits, execve -- that finalProgram builds in the parent
// from the process config alone, checkProgram holds to the ordering rules
// (affinity first, init's namespaces then its setup before the rest,
// privileged steps before the drop, bounding set before setuid,
// no_new_privs before seccomp, seccomp last with no_new_privs, rlimits
// and execve last, ...), and an executor runs strictly in order.
//
// The CPU affinity: as runc 1.3.1, every process gets every CPU of its
// cpuset (an all-ones mask of 8192 CPUs, which sched_setaffinity clamps
// to the cpuset; Linux 6.2+ no longer resets the mask of a task moved into
// a cpuset, so the mask of whoever started hull, a systemd unit's
// CPUAffinity= or taskset, would stick), or execCPUAffinity.final when the
// process names one; execCPUAffinity.initial is set by the parent on the
// child before it joins the cgroup. The step comes first, right after the
// cgroup placement, and before the scheduler (SCHED_DEADLINE refuses a
// task not allowed its whole root domain).
//
// There are two executors of the same program, which a test holds to the
// same results (TestExecutorsAgree: reports, exit status, stderr and the
// state the process gets):
//
//   - C, in the nsenter constructor (nsenter/final.c; bootProgram), used
//     by hull: no Go runtime starts in an exec'd process, and a created
//     init holds no Go heap (see "A light init").
//   - Go, in Init (runProgram through finalSys, the syscall seam the
//     unit tests replace), when the parent sets finalInC false: the
//     reference, and the tests' executor.
//
// # The final-stage program in C
//
// The parent sends the program on the sync socket after the
// constructor's report and the cgroup placement, in its wire form
// (finalwire_linux.go), native byte order:
//
//   - a header: magic "HFP1", step count (1 to 256), total length in
//     bytes including the header (at most 4 MiB), a zero u32;
//   - one record per step, each starting 8-aligned: u16 op (the opCode
//     values, therefore frozen), u16 number of ids, u16 number of
//     strings, u16 zero, u32 payload length (a multiple of 8), u32 zero,
//     u64 num, u64 num2; then the ids (u64 each), the payload, and the
//     strings, each a u32 length, the bytes (no NUL inside), a NUL, and
//     zeros up to the next multiple of 8.
//
// What each op takes (shapes in finalwire_linux.go, the same table in
// final.c; a step that does not fit it is refused):
//
//	| op           | num, num2                | ids                 | payload           | strings            |
//	|--------------|--------------------------|---------------------|-------------------|--------------------|
//	| writeProc    |                          |                     |                   | /proc path, data   |
//	| scheduler    |                          |                     | struct sched_attr |                    |
//	| ioPriority   | ioprio                   |                     |                   |                    |
//	| cpuAffinity  |                          |                     | mask (none: all)  |                    |
//	| apparmor     |                          |                     |                   | attr file, "exec P"|
//	| selinux      |                          |                     |                   | attr file, label   |
//	| seccomp      | seccomp(2) flags         |                     | BPF program       |                    |
//	| dropBounding | keep, last cap           |                     |                   |                    |
//	| setgroups    | count                    |                     | u32 gids          |                    |
//	| setresgid/uid, keepCaps, umask, defaultHome (uid), closeFds (preserved), personality, unshare (flags): num |
//	| capset       | effective                | permitted, inherit. |                   |                    |
//	| ambient      | ambient, last cap        |                     |                   |                    |
//	| chdir        |                          |                     |                   | cwd                |
//	| ready        |                          |                     |                   | startContainer hooks (JSON startHooks), or none |
//	| landlock     | handled fs, handled net  | see final.c         |                   | paths              |
//	| rlimit       | resource                 | soft, hard          |                   | its name           |
//	| execve       | number of args           |                     |                   | args, then env     |
//	| memoryPolicy | mode|flags, maxnode      |                     | nodemask          |                    |
//	| console      | 0: make the pty, 1: ctty | rows, cols          |                   |                    |
//	| keyring      |                          |                     |                   | name               |
//	| noNewPrivs, resolve, setup: nothing                                                                     |
//
// The constructor reads the whole program and checks it against that
// table before it runs anything; a malformed one is refused with a report
// naming the byte where it breaks. It then runs the steps strictly in
// order, never reordering or skipping one, and writes fixed-size reports
// (16 bytes: magic "HFR1", u16 kind, u16 step, i32 errno, i32 value):
// ready; a NOTIFY filter's listener (value: its fd, which the parent
// takes with pidfd_getfd and hands to the seccomp agent, then answers one
// byte); the step that failed (errno, and in value what failed inside it:
// final.c's detail codes), after which it exits 255; or a refused
// program. The parent, which holds the program, turns a failure into the
// Go executor's words (describe). After ready the parent is gone: a
// failure is written, in the same words, on err.fifo (init: start prints
// it) or stderr (exec), and the process exits 255.
//
// What C does the same way as Go: procfs writes and LSM attributes
// through a verified procfs handle (fstatfs PROC_SUPER_MAGIC, openat2
// RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV; the parent
// names the AppArmor attr file of the running kernel); /etc/passwd for
// HOME opened O_NOFOLLOW|O_NONBLOCK and read only when a small regular
// file; the cwd checked with getcwd; args[0] resolved with the PATH of
// the process's env; every fd closed but the sync socket and the exec
// FIFOs, which may not be directories; the preserved fds passed only at
// execve. Before the program, the constructor does what Init does first:
// every inherited fd close-on-exec, the id maps awaited and uid and gid 0
// taken in a new user namespace (and its ipc namespace unshared), not
// dumpable, the parent-death signal.
//
// # A light init
//
// The init of a created container waits for `start`; it used to be the
// whole Go `hull init` (6.8 MB RSS here, a Go heap and the binary's text
// faulted in), it is now the C constructor's process, which never started
// the Go runtime: 0.5 MB VmRSS and Pss while created (crun 2.2 MB VmRSS,
// runc 9.6 MB).
//
// The setup that needs Go (rootfs, mounts, the createContainer hooks,
// pivot_root, console, hostname, sysctls: setupContainer) is done by a
// helper: right after its report (once it is root of a new user
// namespace and in its ipc namespace), the C init forks it with
// clone(CLONE_FILES|CLONE_FS) -- no CLONE_VM, no execve -- so that it
// shares init's fd table (the console's stdio, /dev/null reopened) and
// its root and cwd (pivot_root, or chroot for --no-pivot). The helper
// writes a report whose credentials (SO_PASSCRED, SCM_CREDENTIALS) tell
// the parent its pid, returns from the constructor into Go
// (nsenter.Role) and starts its runtime while the parent puts init, then
// it, into the cgroup (forked after the placement, its Go start added
// 3 ms to create). It waits on a pipe until init, having read its
// program, reaches the setup step; then it reads its config on the
// socket, unshares a cgroup namespace of its own if the container has
// one (same root: the container's cgroup, for the cgroupfs mounts), talks
// to the parent in JSON (hooks, its errors) and exits; init waits for it.
// The C init runs the rest: its own cgroup and time namespaces (before
// the setup step: nothing has entered the time namespace), what is per
// process (the controlling terminal, the session keyring, the
// personality), the credentials, ready, the FIFO wait, and the
// startContainer hooks, run by a second forked Go helper only when there
// are some.
//
// Why not the other way, Go's init re-executing hull's sealed binary for
// a C-only final stage: execve makes the process dumpable again until the
// constructor runs, with every privilege and in the container's pid
// namespace, where a process holding CAP_SYS_PTRACE could attach; and it
// pays a second execve. The fork keeps one process image, non-dumpable
// from the constructor's first step: the helpers inherit that, are in
// the container's cgroup and namespaces, die with init
// (PR_SET_PDEATHSIG), and leave nothing behind (the C init closes every
// fd a helper left before ready). Measured against Go's init of the same
// tree (bench, 60 rounds, pairwise medians): created init VmRSS 6.8 ->
// 0.5 MB; create 1.05x, run 0.99x, lifecycle 1.01x, start 0.88x; CPU of
// each 0.93x-1.0x.
//
// # The exec FIFO
//
// Init holds the read end of exec.fifo and polls it; start opens the write
// end with O_NONBLOCK, which fails at once with ENXIO if init is gone (runc
// blocks there forever, runc#1697), writes one byte and removes the FIFO.
//
// # Status
//
// Status is never stored. It is derived on every read: init's pid and its
// start time (field 22 of /proc/PID/stat, so a reused pid is not mistaken
// for init); FIFO present means created; a frozen cgroup means paused; a
// gone or zombie init means stopped.
package libct
