package integration

import (
	"os"
	"strings"
	"testing"
)

// pipeWith returns the read end of a pipe holding content (write end closed).
func pipeWith(t *testing.T, content string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(content); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { r.Close() })
	return r
}

// TestPreserveFds checks --preserve-fds and LISTEN_FDS passing: extra fds
// reach the container as 3, 4, ... and nothing else leaks in.
func TestPreserveFds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		extra  []string // contents of pipes passed as fds 3, 4, ...
		args   []string // extra run flags
		prefix string   // shell prefix before exec'ing the runtime
		script string
		want   string
	}{
		{
			name:   "no preserve-fds closes extra fds",
			extra:  []string{"secret\n"},
			script: `ls /proc/1/fd; echo end`,
			want:   "0\n1\n2\nend\n",
		},
		{
			name:   "preserve one",
			extra:  []string{"fd3-data\n"},
			args:   []string{"--preserve-fds", "1"},
			script: `ls /proc/1/fd; cat <&3`,
			want:   "0\n1\n2\n3\nfd3-data\n",
		},
		{
			name:   "preserve two",
			extra:  []string{"three\n", "four\n"},
			args:   []string{"--preserve-fds", "2"},
			script: `ls /proc/1/fd; cat <&3; cat <&4`,
			want:   "0\n1\n2\n3\n4\nthree\nfour\n",
		},
		{
			// sd_listen_fds(3): the runtime passes LISTEN_FDS fds when
			// LISTEN_PID is its own pid, and tells the container.
			name:   "LISTEN_FDS",
			extra:  []string{"socket-activated\n"},
			prefix: `export LISTEN_FDS=1 LISTEN_PID=$$;`,
			script: `echo "fds=$LISTEN_FDS pid=$LISTEN_PID"; cat <&3`,
			want:   "fds=1 pid=1\nsocket-activated\n",
		},
		{
			name:   "LISTEN_FDS plus preserve-fds",
			extra:  []string{"listen\n", "preserved\n"},
			args:   []string{"--preserve-fds", "1"},
			prefix: `export LISTEN_FDS=1 LISTEN_PID=$$;`,
			script: `echo "fds=$LISTEN_FDS"; cat <&3; cat <&4`,
			want:   "fds=1\nlisten\npreserved\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t)
			id := newID(t)
			// ls runs first, as a child of the shell (pid 1), before the
			// shell has made any redirection (busybox ash parks fds at 10
			// while redirecting, and execs a script's last command): so
			// /proc/1/fd is exactly what the runtime handed over.
			b := newBundle(t, sh(tc.script), nil)
			var files []*os.File
			for _, c := range tc.extra {
				files = append(files, pipeWith(t, c))
			}
			args := append([]string{"run"}, tc.args...)
			args = append(args, "--bundle", b.dir, id)
			res := r.callWith(callOpts{extraFiles: files, shellPrefix: tc.prefix}, args...)
			if res.code != 0 {
				t.Fatalf("run: %v", res)
			}
			if res.stdout != tc.want {
				t.Errorf("stdout %q, want %q", res.stdout, tc.want)
			}
			if strings.Contains(res.stdout, "secret") {
				t.Errorf("unpreserved fd content reached the container")
			}
		})
	}
}
