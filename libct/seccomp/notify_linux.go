package seccomp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SendNotifyFd hands a seccomp listener fd to the agent listening on the
// AF_UNIX SOCK_STREAM socket listenerPath, as the runtime spec's "container
// process state" says: one connection, one JSON ContainerProcessState
// (ociVersion, fds ["seccompFd"], pid, metadata, state) with fd passed by
// SCM_RIGHTS in the first sendmsg, then the connection is closed.
//
// state is the container's state as `hull state` would print it (status
// "creating" while create runs); its Pid is also the message's pid, the
// container process as the runtime sees it. metadata is the profile's
// listenerMetadata. fd stays open; the caller closes it.
func SendNotifyFd(listenerPath string, fd int, state *specs.State, metadata string) error {
	if state == nil {
		return errors.New("send seccomp fd: no container state")
	}
	msg, err := json.Marshal(specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      state.Pid,
		Metadata: metadata,
		State:    *state,
	})
	if err != nil {
		return fmt.Errorf("send seccomp fd to %s: encode state: %w", listenerPath, err)
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: listenerPath, Net: "unix"})
	if err != nil {
		return fmt.Errorf("send seccomp fd: connect to seccomp agent: %w", err)
	}
	defer conn.Close()
	n, _, err := conn.WriteMsgUnix(msg, unix.UnixRights(fd), nil)
	if err != nil {
		return fmt.Errorf("send seccomp fd to %s: %w", listenerPath, err)
	}
	// The spec allows several sendmsg calls; the fd goes with the first.
	if n < len(msg) {
		if _, err := conn.Write(msg[n:]); err != nil {
			return fmt.Errorf("send seccomp fd to %s: %w", listenerPath, err)
		}
	}
	return nil
}
