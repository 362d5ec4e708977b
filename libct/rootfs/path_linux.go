package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// cleanDest returns a mount destination or other in-container path as an
// absolute, clean path. A ".." element is refused rather than resolved: the
// path names a place inside the rootfs and has no business climbing out.
func cleanDest(p string) (string, error) {
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return "", fmt.Errorf("%s escapes the rootfs", p)
		}
	}
	return path.Clean("/" + p), nil
}

// dirTree is a directory tree rooted at an open directory fd, in which every
// lookup is confined by the kernel (openat2 RESOLVE_IN_ROOT): a symlink in
// the image is resolved as if the root were "/" and can never lead out of
// it (CVE-2021-30465). This is the primitive filepath-securejoin's
// pathrs-lite builds on; it is used directly here to spare the procfs
// re-open that library does on every call.
//
// A path that does not exist yet is first resolved with
// securejoin.SecureJoin, which follows dangling symlinks inside the root as
// a chroot would (an image's /etc/resolv.conf -> ../run/... must still
// receive its bind mount), and the result is then created one component at
// a time with RESOLVE_NO_SYMLINKS: if a component is swapped for a symlink
// in between, the creation fails instead of following it.
type dirTree struct {
	sys  sysOps
	root int
	path string // where root is, for SecureJoin
}

// resolveMissing returns p with the symlinks of its existing part resolved
// inside the root.
func (t dirTree) resolveMissing(p string) (string, error) {
	full, err := securejoin.SecureJoin(t.path, p)
	if err != nil {
		// A component swapped between SecureJoin's lstat and readlink
		// (a racing symlink: the mount is refused) fails on a path
		// with "//" in it: say it clean.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Path = filepath.Clean(pe.Path)
		}
		return "", err
	}
	rel, err := filepath.Rel(t.path, full)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%s resolves outside the root", p)
	}
	return path.Clean("/" + rel), nil
}

// open opens p (which may be "/") inside the tree. Callers pass O_PATH and
// friends in flags.
func (t dirTree) open(p string, flags int) (int, error) {
	return t.sys.openInRoot(t.root, p, flags)
}

// mkdirAll returns an O_PATH handle on directory p inside the tree, creating
// it and its missing parents with mode 0755. Every created component is
// re-opened with RESOLVE_NO_SYMLINKS beneath its parent, so a component
// swapped for a symlink after the mkdirat is refused, not followed.
func (t dirTree) mkdirAll(p string) (fd int, existed bool, err error) {
	fd, err = t.open(p, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err == nil, err
	}
	if p, err = t.resolveMissing(p); err != nil {
		return -1, false, err
	}
	fd, err = t.mkdirAllResolved(p)
	return fd, false, err
}

// mkdirAllResolved creates p, whose existing part has no symlinks.
func (t dirTree) mkdirAllResolved(p string) (int, error) {
	fd, err := t.open(p, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	// Find the deepest existing ancestor; "/" always exists.
	k := len(parts) - 1
	dir := -1
	for ; k >= 0; k-- {
		dir, err = t.open("/"+strings.Join(parts[:k], "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.ENOENT) {
			return -1, err
		}
	}
	if k < 0 {
		return -1, err
	}
	for _, part := range parts[k:] {
		if err := t.sys.mkdirat(dir, part, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			t.sys.close(dir)
			return -1, fmt.Errorf("mkdir %s: %w", p, err)
		}
		next, err := t.sys.openBeneath(dir, part, unix.O_PATH|unix.O_DIRECTORY)
		t.sys.close(dir)
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", p, err)
		}
		dir = next
	}
	return dir, nil
}

// createFile returns a handle on p inside the tree, creating an empty
// regular file (and its parents) when p does not exist. The handle is O_PATH
// when p existed; a new file is created O_EXCL|O_NOFOLLOW so that what is
// returned is exactly the inode this call made.
func (t dirTree) createFile(p string, mode uint32) (int, error) {
	fd, err := t.open(p, unix.O_PATH)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	if p, err = t.resolveMissing(p); err != nil {
		return -1, err
	}
	dirName, base := path.Split(p)
	if base == "" {
		return -1, fmt.Errorf("%s: %w", p, unix.EISDIR)
	}
	dir, err := t.mkdirAllResolved(dirName)
	if err != nil {
		return -1, err
	}
	defer t.sys.close(dir)
	fd, err = t.sys.openat(dir, base, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY, mode)
	if errors.Is(err, unix.EEXIST) {
		// Lost a race with another creator: resolve again, confined.
		return t.open(p, unix.O_PATH)
	}
	if err != nil {
		return -1, fmt.Errorf("create %s: %w", p, err)
	}
	return fd, nil
}

// fstat is fstat(2) through the seam.
func fstat(s sysOps, fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := s.fstatat(fd, "", &st, unix.AT_EMPTY_PATH)
	return st, err
}
