package seccomp

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// A cache file is cacheMagic, the SHA-256 of the program, then the program.
// The checksum catches torn or corrupted files: a cache hit must yield
// exactly the program libseccomp generated, or the container would run
// under a different filter than its profile says.
var cacheMagic = []byte("HULLBPF1")

const cacheHeaderSize = 8 + sha256.Size

func cachePath(dir, key string) string {
	return filepath.Join(dir, key+".bpf")
}

// readCache returns the cached program for key, or false.
func readCache(dir, key string) ([]byte, bool) {
	f, err := os.OpenFile(cachePath(dir, key), os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, false
	}
	// Only trust a regular file this user wrote and nobody else can change.
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 ||
		st.Size > cacheHeaderSize+bpfMaxInsns*sockFilterSize {
		return nil, false
	}
	b, err := io.ReadAll(f)
	if err != nil || len(b) < cacheHeaderSize || !bytes.Equal(b[:8], cacheMagic) {
		return nil, false
	}
	prog := b[cacheHeaderSize:]
	sum := sha256.Sum256(prog)
	if !bytes.Equal(b[8:cacheHeaderSize], sum[:]) || checkProgram(prog) != nil {
		return nil, false
	}
	return prog, true
}

// writeCache stores prog under key, atomically (temp file + rename). A
// failure leaves no file behind and is not reported: the cache only saves
// time.
func writeCache(dir, key string, prog []byte) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*.bpf")
	if err != nil {
		return
	}
	sum := sha256.Sum256(prog)
	buf := make([]byte, 0, cacheHeaderSize+len(prog))
	buf = append(append(append(buf, cacheMagic...), sum[:]...), prog...)
	_, werr := tmp.Write(buf)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), cachePath(dir, key)) != nil {
		os.Remove(tmp.Name())
	}
}
