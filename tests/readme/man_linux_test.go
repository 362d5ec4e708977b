package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// hiddenFlags are accepted for runc compatibility but not shown by
// --help; their man pages document them as such.
var hiddenFlags = map[string][]string{
	"update": {"--kernel-memory", "--kernel-memory-tcp"},
}

var (
	helpFlagRe = regexp.MustCompile(`(?:^|[\s,])(--[a-z0-9-]+|-[a-z])\b`)
	manFlagRe  = regexp.MustCompile(`\*\*(--?[a-z0-9-]+)\*\*`)
)

// helpFlags returns the flags `hull args... --help` lists in its options
// section (global options for the app itself), without --help and -h.
func helpFlags(t *testing.T, hull string, args ...string) (flags []string, commands []string) {
	t.Helper()
	out, err := exec.Command(hull, append(args, "--help")...).Output()
	if err != nil {
		t.Fatalf("hull %s --help: %v", strings.Join(args, " "), err)
	}
	section := ""
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(l, ":") && !strings.HasPrefix(l, " ") {
			section = l
			continue
		}
		switch section {
		case "COMMANDS:":
			if f := strings.Fields(l); len(f) > 0 {
				commands = append(commands, strings.TrimSuffix(f[0], ","))
			}
		case "OPTIONS:", "GLOBAL OPTIONS:":
			// The flag names come before the usage text, which is
			// separated from them by two or more spaces.
			names := strings.TrimSpace(l)
			if i := strings.Index(names, "  "); i >= 0 {
				names = names[:i]
			}
			for _, m := range helpFlagRe.FindAllStringSubmatch(" "+names, -1) {
				if m[1] != "--help" && m[1] != "-h" && !slices.Contains(flags, m[1]) {
					flags = append(flags, m[1])
				}
			}
		}
	}
	return flags, commands
}

// manOptions returns the flags a man page documents in its OPTIONS (or
// GLOBAL OPTIONS) section, as the bold term of a definition.
func manOptions(md string) []string {
	var flags []string
	in := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "# ") {
			in = l == "# OPTIONS" || l == "# GLOBAL OPTIONS"
			continue
		}
		if !in || !strings.HasPrefix(l, "**-") {
			continue
		}
		for _, m := range manFlagRe.FindAllStringSubmatch(l, -1) {
			// --help is every command's, as in helpFlags.
			if m[1] != "--help" && m[1] != "-h" && !slices.Contains(flags, m[1]) {
				flags = append(flags, m[1])
			}
		}
	}
	return flags
}

// TestManPages checks that every command of `hull --help` has a man page
// listed in hull(8), that each page documents every flag the command's
// --help shows, and that no page documents a flag the binary lacks.
func TestManPages(t *testing.T) {
	repo := repoRoot(t)
	hull := filepath.Join(repo, "hull")
	if _, err := os.Stat(hull); err != nil {
		t.Fatalf("%s: %v (build it first: make hull)", hull, err)
	}
	globals, commands := helpFlags(t, hull)
	if len(commands) == 0 {
		t.Fatal("hull --help lists no commands")
	}
	main, err := os.ReadFile(filepath.Join(repo, "man", "hull.8.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages := []struct {
		name string   // hull or the command
		args []string // to hull, before --help
	}{{name: "hull"}}
	for _, c := range commands {
		pages = append(pages, struct {
			name string
			args []string
		}{c, []string{c}})
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			file, cmd := "hull.8.md", "hull"
			want := globals
			if p.name != "hull" {
				file, cmd = "hull-"+p.name+".8.md", "hull "+p.name
				want, _ = helpFlags(t, hull, p.args...)
				if !strings.Contains(string(main), "**hull-"+p.name+"**(8)") {
					t.Errorf("man/hull.8.md does not refer to hull-%s(8)", p.name)
				}
			}
			md, err := os.ReadFile(filepath.Join(repo, "man", file))
			if err != nil {
				t.Fatalf("command %s has no man page: %v", p.name, err)
			}
			documented := manOptions(string(md))
			for _, f := range want {
				if !slices.Contains(documented, f) {
					t.Errorf("man/%s: OPTIONS does not document %s, which %s --help shows", file, f, cmd)
				}
			}
			for _, f := range documented {
				if !slices.Contains(want, f) && !slices.Contains(hiddenFlags[p.name], f) {
					t.Errorf("man/%s: OPTIONS documents %s, which %s --help does not show (say it is hidden, or remove it)", file, f, cmd)
				}
			}
		})
	}
}
