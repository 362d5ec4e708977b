package libct

import (
	"encoding/json"
	"fmt"

	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/seccomp"
)

// The parent (hull create, run or exec) and the process it starts (hull
// init) talk over one SOCK_STREAM socketpair, one JSON object per message.
// The child's end is fd syncFd in the child. Every step is one of:
//
//	| # | from   | type       | payload     | meaning                                              |
//	|---|--------|------------|-------------|------------------------------------------------------|
//	| 1 | parent | config     | initConfig  | what to set up; sent once the child is in its cgroup |
//	| 2 | child  | hooks      | -           | namespaces and mounts are ready: run prestart and    |
//	|   |        |            |             | createRuntime hooks now (init only, if any exist)    |
//	| 3 | parent | hooksDone  | -           | hooks ran; go on                                     |
//	| 4 | child  | seccompFd  | fd number   | a NOTIFY filter is loaded: take the listener fd      |
//	|   |        |            |             | with pidfd_getfd and send it to the seccomp agent    |
//	| 5 | parent | seccompFd- | -           | the agent has it; go on                              |
//	|   |        | Done       |             |                                                      |
//	| 6 | child  | ready      | -           | set up; init waits on the exec FIFO, exec's process  |
//	|   |        |            |             | runs at once                                         |
//	| - | child  | error      | stage+cause | setup failed at stage; the child exits               |
//	| 0 | child  | execPid    | pid (Fd)    | rootless exec only: the first child, in the pid      |
//	|   |        |            |             | namespace, reports the pid of the real child it      |
//	|   |        |            |             | started (see userns_linux.go) and exits              |
//	| - | parent | error      | cause       | a hook failed; the child exits without exec          |
//
// An EOF instead of a message means the other side died; the parent then
// reports the child's exit status, never a bare EOF.
type syncType string

const (
	syncConfig        syncType = "config"
	syncHooks         syncType = "hooks"
	syncHooksDone     syncType = "hooksDone"
	syncReady         syncType = "ready"
	syncSeccompFd     syncType = "seccompFd"
	syncSeccompFdDone syncType = "seccompFdDone"
	syncError         syncType = "error"
)

// syncMsg is one message of the protocol above.
type syncMsg struct {
	Type  syncType    `json:"type"`
	Stage string      `json:"stage,omitempty"`
	Err   string      `json:"error,omitempty"`
	Init  *initConfig `json:"init,omitempty"`
	// Fd is the listener fd's number in the child, for seccompFd.
	Fd int `json:"fd,omitempty"`
}

// initMode says whether the child sets up a new container or joins one.
type initMode string

const (
	modeInit initMode = "init" // a new container: rootfs, hostname, ...
	modeExec initMode = "exec" // a process joining a running container
)

// initConfig is everything the child needs that is not in its environment.
type initConfig struct {
	Mode    initMode         `json:"mode"`
	ID      string           `json:"id"`
	Config  *configs.Config  `json:"config"`
	Process *configs.Process `json:"process"`
	// HookState is the state JSON given to createContainer and
	// startContainer hooks on stdin (its pid is the child's host pid).
	HookState []byte `json:"hookState,omitempty"`
	// NewCgroupNS asks the child to unshare CLONE_NEWCGROUP itself, once
	// it is in its cgroup, so that the namespace root is that cgroup.
	NewCgroupNS bool `json:"newCgroupNS,omitempty"`
	// NewTimeNS asks the child to unshare CLONE_NEWTIME and write the
	// offsets before any process enters the namespace (at execve).
	NewTimeNS bool `json:"newTimeNS,omitempty"`
	// PreserveFds is how many fds from 3 on stay open in the process
	// (LISTEN_FDS ones and --preserve-fds).
	PreserveFds int `json:"preserveFds,omitempty"`
	// Seccomp is the compiled linux.seccomp filter, if any.
	Seccomp *seccomp.Filter `json:"seccomp,omitempty"`
}

// stageError is an error the child reported, with the stage it failed in.
type stageError struct {
	Stage string
	Err   string
}

func (e *stageError) Error() string {
	if e.Stage == "" {
		return e.Err
	}
	return fmt.Sprintf("%s: %s", e.Stage, e.Err)
}

type syncPipe struct {
	enc *json.Encoder
	dec *json.Decoder
}

func (p *syncPipe) send(m syncMsg) error { return p.enc.Encode(&m) }

func (p *syncPipe) recv() (syncMsg, error) {
	var m syncMsg
	err := p.dec.Decode(&m)
	return m, err
}
