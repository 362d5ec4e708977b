// What nsenter.c (the bootstrap, namespaces) and final.c (the final
// program) share. libct/sync.go and libct/doc.go are the contract.
#ifndef HULL_NSENTER_H
#define HULL_NSENTER_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NS_COUNT 8

// The bootstrap fields C reads (sync.go's table); 0 means none.
struct boot {
	long long sync, fds, preserve, flags, clone, pidfd, pidfd_ns, fifo, errfifo, console, usernswait, cgtasks, cgtasks_n;
	long long ns[NS_COUNT];
};

// Bits of "flags", as sync.go's bootFlag.
#define FLAG_NEWIPC 0x1
#define FLAG_DUMPABLE 0x2
#define FLAG_PROGRAM 0x4
#define FLAG_GATE 0x8

// The roles of a process that final.c forks and that goes on in Go
// (nsenter.go's Role), and the ready step's hooks for ROLE_HOOKS.
enum { ROLE_INIT, ROLE_SETUP, ROLE_HOOKS };
extern int hull_role;
extern const char *hull_hook_data;
extern int hull_setup_gate[2];

// io_full reads or writes all of len bytes (-1: the other side is gone).
int io_full(int fd, void *buf, size_t len, int wr);
// close_fds closes every fd from lo to hi.
int close_fds(unsigned int lo, unsigned int hi);
// raw_clone is clone(2) returning like fork: the child on our stack.
pid_t raw_clone(unsigned long flags);
// hull_setup_helper forks the helper of a new container's setup step: 1
// in it, 0 in init, -1 on failure.
int hull_setup_helper(const struct boot *b);
// hull_final reads the final program from the sync socket and runs it;
// it returns only in a helper that goes on in Go.
void hull_final(const struct boot *b);
#endif
