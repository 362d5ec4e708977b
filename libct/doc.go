// Package libct is hull's container library: the runtime spec's state
// machine (create, start, state, kill, delete), the container's init
// process, and the protocol between them. The CLI at the repository root
// only parses flags and calls it.
//
// # Creating a container
//
// Create makes the state directory (config.json, then state.json, each
// written by temp file and rename; exec.fifo), the cgroup, and starts `/proc/self/exe init` with
// the new namespaces as clone flags (exec.Cmd's SysProcAttr; uid/gid maps
// written by the parent). Namespaces given by path are joined without
// runc's 1,200-line nsexec.c:
//
//   - pid: setns on a locked thread of the parent, which then forks the
//     child (setns(CLONE_NEWPID) only changes where that thread's children
//     go); the thread is thrown away.
//   - user, mnt, time: setns needs a single-threaded caller, so a C
//     constructor in libct/nsenter (about 80 lines) joins them in the child
//     before the Go runtime starts; net, ipc, uts and cgroup go there too so
//     that every join happens in one place, user namespace first.
//   - new cgroup and time namespaces are unshared by init itself: the
//     cgroup one once init is in its cgroup (so that is the namespace's
//     root), the time one so that the offsets are written before execve
//     moves the process into it.
//
// Parent and child then talk over a socketpair (see sync.go for the table
// of messages): the parent sends the configs.Config, runs the prestart and
// createRuntime hooks when the child asks, and returns once the child is
// ready. Every error from the child carries the stage it failed in.
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
