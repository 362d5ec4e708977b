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
//  2. spawn and cgroup: the child's C constructor (libct/nsenter, about
//     200 lines) closes every fd hull was not asked to pass, makes the
//     child non-dumpable, joins namespaces and reports first; then the
//     child is moved into its cgroup
//     (a new one, with the container's resources, for init; the existing
//     one for exec).
//  3. protocol: the parent sends the config over the socket, runs the
//     prestart and createRuntime hooks when the child asks, and returns
//     once the child is ready. Every error from the child carries the
//     stage it failed in.
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
// init runs the final-stage program (final_linux.go): an ordered list of
// typed steps -- procfs writes, scheduling, LSM exec labels,
// no_new_privs, seccomp, the capability sets and credentials, umask,
// cwd, closing fds, resolving args[0], ready, rlimits, execve -- that
// finalProgram builds from the process config alone, checkProgram holds
// to the ordering rules (bounding set before setuid, no_new_privs before
// seccomp, seccomp last with no_new_privs, rlimits and execve last, ...),
// and runProgram executes through finalSys, a small syscall seam.
//
// # The final-stage program in C (the contract for a later phase)
//
// Exec without a second Go boot, and a light init, will run the same
// program from the C constructor instead of from Go. Nothing in the
// program needs Go: finalProgram is pure, so the parent builds it (it
// knows the process, the compiled filter, the preserved fds and the
// kernel's last capability) and checks it with checkProgram before it
// sends it. How it will travel:
//
//   - A bootstrap flag tells the constructor to run the program itself and
//     never return to Go. After its bootReport, the constructor reads one
//     binary message from the sync socket: a header (magic "HFP1", step
//     count, total length; the constructor refuses more than 256 steps or
//     4 MiB) and one record per step in order: u16 op (the opCode values,
//     which are therefore frozen), u16 number of strings, u32 payload
//     length, u64 num, u64 num2, then the ids as u64s and the strings as
//     u32 length + bytes (no NUL inside; the constructor copies each into
//     its own NUL-terminated buffer). Args and env travel with opExecve,
//     the BPF program (struct sock_filter array) and its seccomp(2) flags
//     with opSeccomp, a sched_attr and a CPU mask as fixed-size payloads.
//   - The constructor executes the records strictly in order, never
//     reorders or skips one, and stops at the first failure with a report
//     naming the step's index and errno; the parent, which holds the
//     program, names the stage (stageOf). opReady is a report with no
//     error; a NOTIFY filter's listener fd is reported by number for the
//     parent's pidfd_getfd, as seccompFd is today.
//   - What Go does today that C must do the same way: procfs writes and
//     LSM attributes through a verified procfs handle (procfs_linux.go:
//     fstatfs PROC_SUPER_MAGIC, openat2 RESOLVE_BENEATH |
//     RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), /etc/passwd for HOME
//     opened O_NOFOLLOW|O_NONBLOCK and read only when a small regular
//     file, the cwd checked with getcwd, args[0] resolved with the PATH of
//     the process's env, fds closed as closeExtraFds does.
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
