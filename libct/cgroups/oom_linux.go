package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// OOMEvents reports OOM events of the v1 memory cgroup: an eventfd is
// registered for memory.oom_control through cgroup.event_control, and the
// kernel signals it on each OOM and once more when the cgroup is removed.
func (m *v1Manager) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	dir, ok := m.paths["memory"]
	if !ok {
		return nil, fmt.Errorf("oom events: memory controller not joined: %w", ErrNotSupported)
	}
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return nil, fmt.Errorf("oom events: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		ctl.Close()
		return nil, fmt.Errorf("oom events: eventfd: %w", err)
	}
	reg := strconv.Itoa(efd) + " " + strconv.Itoa(int(ctl.Fd()))
	if err := writeFile(dir, "cgroup.event_control", reg); err != nil {
		ctl.Close()
		unix.Close(efd)
		return nil, fmt.Errorf("oom events: %w", err)
	}
	buf := make([]byte, 8)
	return watchFd(ctx, efd, func() (bool, bool) {
		if _, err := unix.Read(efd, buf); err != nil && !errors.Is(err, unix.EAGAIN) {
			return false, true
		}
		// The same eventfd fires when the cgroup goes away.
		if _, err := os.Stat(filepath.Join(dir, "cgroup.event_control")); err != nil {
			return false, true
		}
		return true, false
	}, func() { ctl.Close(); unix.Close(efd) })
}

// OOMEvents reports OOM kills of the v2 cgroup: inotify watches
// memory.events, and each rise of its oom_kill counter is an event.
func (m *v2Manager) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("oom events: inotify_init1: %w", err)
	}
	events := filepath.Join(m.dir, "memory.events")
	if _, err := unix.InotifyAddWatch(ifd, events, unix.IN_MODIFY); err != nil {
		unix.Close(ifd)
		return nil, fmt.Errorf("oom events: watch %s: %w", events, err)
	}
	last := uint64(0)
	if ev, err := readKeyValues(m.dir, "memory.events"); err == nil {
		last = ev["oom_kill"]
	}
	buf := make([]byte, 4096)
	return watchFd(ctx, ifd, func() (bool, bool) {
		n, err := unix.Read(ifd, buf)
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			return false, true
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			mask := uint32(buf[off+4]) | uint32(buf[off+5])<<8 | uint32(buf[off+6])<<16 | uint32(buf[off+7])<<24
			if mask&unix.IN_IGNORED != 0 {
				return false, true // the file (the cgroup) is gone
			}
			nameLen := int(uint32(buf[off+12]) | uint32(buf[off+13])<<8 | uint32(buf[off+14])<<16 | uint32(buf[off+15])<<24)
			off += unix.SizeofInotifyEvent + nameLen
		}
		ev, err := readKeyValues(m.dir, "memory.events")
		if err != nil {
			return false, true
		}
		if ev["oom_kill"] > last {
			last = ev["oom_kill"]
			return true, false
		}
		return false, false
	}, func() { unix.Close(ifd) })
}

// watchFd runs a goroutine that polls fd and calls ready each time it is
// readable; ready says whether to send an event and whether to stop. A
// second eventfd wakes the poll when ctx is done. cleanup closes fd.
func watchFd(ctx context.Context, fd int, ready func() (send, done bool), cleanup func()) (<-chan struct{}, error) {
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("oom events: eventfd: %w", err)
	}
	ch := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
			_, _ = unix.Write(stop, one)
		case <-finished:
		}
	}()
	go func() {
		defer close(ch)
		defer func() { close(finished); unix.Close(stop); cleanup() }()
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(stop), Events: unix.POLLIN}}
		for {
			fds[0].Revents, fds[1].Revents = 0, 0
			if _, err := unix.Poll(fds, -1); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return
			}
			if fds[1].Revents != 0 {
				return
			}
			if fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 && fds[0].Revents&unix.POLLIN == 0 {
				return
			}
			send, done := ready()
			if send {
				select {
				case ch <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
			if done {
				return
			}
		}
	}()
	return ch, nil
}
