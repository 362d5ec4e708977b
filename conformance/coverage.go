package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// SpecFiles are the Linux-relevant spec documents whose MUST sentences the
// coverage table lists.
var SpecFiles = []string{"runtime.md", "runtime-linux.md", "config.md", "config-linux.md", "features.md", "features-linux.md"}

// Sentence is one normative sentence (or table row) of a spec file.
type Sentence struct {
	File   string
	Line   int
	Anchor string
	Text   string
}

var (
	anchorRe  = regexp.MustCompile(`<a name="([^"]+)"`)
	headingRe = regexp.MustCompile(`^#+\s+(.*)$`)
	spaceRe   = regexp.MustCompile(`\s+`)
	bulletRe  = regexp.MustCompile(`^\s*([*-]|\d+\.)\s+`)
)

func slug(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// MustSentences extracts the sentences containing MUST from a spec file:
// paragraphs and list items are joined across lines, then split at sentence
// ends; every table row is one sentence.
func MustSentences(file, text string) []Sentence {
	var out []Sentence
	anchor := ""
	var block []string
	blockLine := 0
	inCode := false
	flush := func() {
		if len(block) == 0 {
			return
		}
		joined := spaceRe.ReplaceAllString(strings.Join(block, " "), " ")
		for _, s := range splitSentences(joined) {
			if strings.Contains(s, "MUST") {
				out = append(out, Sentence{File: file, Line: blockLine, Anchor: anchor, Text: strings.TrimSpace(s)})
			}
		}
		block = nil
	}
	for i, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			flush()
			inCode = !inCode
			continue
		}
		if inCode {
			continue
		}
		if m := headingRe.FindStringSubmatch(l); m != nil {
			flush()
			if a := anchorRe.FindStringSubmatch(l); a != nil {
				anchor = a[1]
			} else {
				anchor = slug(m[1])
			}
			continue
		}
		trimmed := strings.TrimSpace(l)
		switch {
		case trimmed == "":
			flush()
		case strings.Contains(trimmed, "|"):
			flush()
			if strings.Contains(trimmed, "MUST") {
				out = append(out, Sentence{File: file, Line: i + 1, Anchor: anchor, Text: spaceRe.ReplaceAllString(trimmed, " ")})
			}
		case bulletRe.MatchString(l):
			flush()
			block, blockLine = []string{bulletRe.ReplaceAllString(l, "")}, i+1
		default:
			if len(block) == 0 {
				blockLine = i + 1
			}
			block = append(block, trimmed)
		}
	}
	flush()
	return out
}

// splitSentences splits at ". " followed by an upper-case letter, a
// backtick or a bracket.
func splitSentences(s string) []string {
	var out []string
	start := 0
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '.' && s[i+1] == ' ' {
			c := s[i+2]
			if (c >= 'A' && c <= 'Z') || c == '`' || c == '[' || c == '*' {
				out = append(out, s[start:i+1])
				start = i + 2
			}
		}
	}
	return append(out, s[start:])
}

// NotApplicable marks MUST sentences that a conformance run on Linux cannot
// observe, with the reason.
var NotApplicable = []struct{ Text, Reason string }{
	{"On Windows", "Windows only"},
	{"Windows:", "Windows only"},
	{"Solaris:", "Solaris only"},
	{"Hyper-V", "Windows only"},
	{"`windows`", "Windows only"},
	{"runtimes MUST support `ro`", "Windows only"},
	{"Runtimes MUST/SHOULD/MAY implement the following option strings", "heading of the option table; each row is its own clause"},
	{"MUST be in [SemVer v2.0.0]", "a requirement on the bundle author, not the runtime"},
	{"This value MUST be an absolute path in the [runtime mount namespace]", "a requirement on the bundle author"},
	{"For all other platforms: This value MUST be an absolute path", "a requirement on the bundle author"},
	{"If specified, it MUST be specified along with", "a requirement on the bundle author"},
	{"**`path`** MUST be absolute", "a requirement on the bundle author"},
	{"`timeout` MUST be greater than zero", "a requirement on the bundle author"},
	{"Annotations MUST be a key-value map.", "a requirement on the bundle author"},
	{"Keys MUST be strings.", "a requirement on the bundle author"},
	{"Keys MUST NOT be an empty string.", "a requirement on the bundle author"},
	{"Values MUST be strings.", "a requirement on the bundle author"},
	{"annotations using keys in this namespace MUST be as described", "a requirement on the bundle author"},
	{"The annotation value MUST have a valid value", "a requirement on the bundle author (image annotations)"},
	{"MUST NOT be used by subsequent specifications", "a requirement on future specifications"},
	{"The values MUST be absolute paths in the [container namespace]", "a requirement on the bundle author"},
	{"The value of `cgroupsPath` MUST be either an absolute path or a relative path.", "a requirement on the bundle author"},
	{"You MUST specify at least one of", "a requirement on the bundle author"},
	{"it MUST be no smaller than `burst`", "a requirement on the bundle author"},
	{"this value MUST be no larger than any positive `quota`", "a requirement on the bundle author"},
	{"`names` MUST contain at least one entry", "a requirement on the bundle author"},
	{"This field MUST NOT be set if `listenerPath` is not set.", "a requirement on the bundle author"},
	{"The value MUST start with `MB:`", "a requirement on the bundle author"},
	{"The value MUST NOT contain newlines", "a requirement on the bundle author"},
	{"The `null` value MUST NOT be confused", "a requirement on consumers of the features document"},
	{"This specification extends the IEEE standard", "a requirement on the bundle author"},
	{"The \"MUST\" options correspond to [`mount(8)`]", "explains the option table; each row is its own clause"},
	{"c:\\\\foo", "Windows only"},
	{"A runtime MAY, during a particular [container operation]", "conditional on an optional (MAY) check whose trigger the spec leaves to the runtime"},
	{"Runtimes MAY consider certain `cgroupsPath` values to be invalid", "which values are invalid is up to the runtime (MAY)"},
	{"runtime MAY check if a new memory limit is lower than the current usage", "about the update operation, which runtime.md does not define"},
	{"The following rules on parameters MUST be applied:", "heading of the intelRdt rule list; each rule is its own clause"},
}

// Gated names the clauses whose checks run only on some hosts or runtimes,
// and on which: elsewhere they are reported as SKIP.
var Gated = map[string]string{
	"CL-UNIFIED-ENABLE":                  "cgroup v2 unified hosts",
	"CL-UNIFIED-UNKNOWN-WRITTEN":         "cgroup v2 unified hosts",
	"CL-UNIFIED-MISSING-CONTROLLER":      "cgroup v2 unified hosts",
	"CL-INTELRDT-NO-RESCTRL":             "hosts without resctrl",
	"CL-INTELRDT-TASKS":                  "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-UNSET":                  "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-ROOT-CLOS":              "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-NO-SCHEMA-NO-WRITE":     "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-COMPARE":                "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-PRECONFIGURED":          "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-PRECONFIGURED-ASSIGN":   "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-KEEP":                   "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-SCHEMA-BOTH":            "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-SCHEMA-ORDER":           "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-SCHEMA-EITHER":          "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-SCHEMATA":               "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-CREATE-ID":              "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-CREATE-CLOS":            "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-REMOVE":                 "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-MON":                    "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-MON-NAME":               "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-MON-DELETE":             "hosts without resctrl, on a fake one (FUSE)",
	"CL-INTELRDT-MON-FAIL":               "hosts without resctrl, on a fake one (FUSE)",
	"CFG-MOUNTOPT-IDMAP":                 "runtimes whose features enable idmap mounts",
	"CFG-MOUNTOPT-RIDMAP":                "runtimes whose features enable idmap mounts",
	"FEAT-LINUX-MEMPOLICY-MODES":         "runtimes whose features list memoryPolicy",
	"FEAT-LINUX-MEMPOLICY-FLAGS":         "runtimes whose features list memoryPolicy",
	"FEAT-LINUX-SECCOMP-KNOWN-FLAGS":     "runtimes whose features list seccomp flags",
	"FEAT-LINUX-SECCOMP-SUPPORTED-FLAGS": "runtimes whose features list seccomp flags",
	"CL-SECCOMP-LISTENER-STREAM":         "runtimes that support SCMP_ACT_NOTIFY",
	"CL-SECCOMP-LISTENER-ONE":            "runtimes that support SCMP_ACT_NOTIFY",
	"CL-SECCOMP-LISTENER-CLOSE":          "runtimes that support SCMP_ACT_NOTIFY",
	"CL-SECCOMP-LISTENER-FAIL":           "runtimes that support SCMP_ACT_NOTIFY",
	"CL-SECCOMP-STATE-PAYLOAD":           "runtimes that support SCMP_ACT_NOTIFY",
	"CL-SECCOMP-STATE-FDS-FIRST":         "runtimes that support SCMP_ACT_NOTIFY",
}

// Row is one line of the coverage table.
type Row struct {
	Sentence
	Clauses []string
	Status  string // covered, not yet, n/a: reason
}

// BuildCoverage maps the MUST sentences of the spec files in specDir to
// clauses and marks each covered when one of its clauses (or a clause whose
// Via names it) is used by a test (found in usedIDs).
func BuildCoverage(specDir string, usedIDs map[string]bool) ([]Row, []string, error) {
	clauses := Clauses()
	viaUsed := map[string]bool{}
	for _, c := range clauses {
		if c.Via != "" && usedIDs[c.ID] {
			viaUsed[c.Via] = true
		}
	}
	matched := map[string]bool{}
	var rows []Row
	for _, f := range SpecFiles {
		b, err := os.ReadFile(filepath.Join(specDir, f))
		if err != nil {
			return nil, nil, fmt.Errorf("read spec %s: %w", f, err)
		}
		for _, s := range MustSentences(f, string(b)) {
			r := Row{Sentence: s, Status: "not yet"}
			for _, c := range clauses {
				if c.Text == "" || c.File() != f || c.Anchor() != s.Anchor || !strings.Contains(s.Text, c.Text) {
					continue
				}
				matched[c.ID] = true
				r.Clauses = append(r.Clauses, c.ID)
				if usedIDs[c.ID] || viaUsed[c.ID] {
					r.Status = "covered"
					if g, ok := Gated[c.ID]; ok {
						r.Status = "covered (runs on " + g + ")"
					}
				}
			}
			if len(r.Clauses) == 0 {
				for _, na := range NotApplicable {
					if strings.Contains(s.Text, na.Text) {
						r.Status = "n/a: " + na.Reason
						break
					}
				}
			}
			rows = append(rows, r)
		}
	}
	var unmatched []string
	for _, c := range clauses {
		if c.Text != "" && c.Level == MUST && !matched[c.ID] {
			unmatched = append(unmatched, c.ID)
		}
	}
	sort.Strings(unmatched)
	return rows, unmatched, nil
}

// RenderCoverage renders the coverage table as Markdown.
func RenderCoverage(rows []Row) string {
	var b strings.Builder
	b.WriteString("# Coverage of runtime-spec v1.3.0 MUST clauses\n\n")
	b.WriteString("Generated by `go generate` (`go test -run TestCoverage -update`); do not edit.\n")
	b.WriteString("Every sentence containing MUST in the Linux-relevant spec files is listed with the\n")
	b.WriteString("clause IDs (clauses.go) that map to it. A sentence is *covered* when a test asserts one of\n")
	b.WriteString("its clauses; *n/a* when no runtime on Linux can be observed doing it (platform-specific, or\n")
	b.WriteString("a requirement on the bundle author); *not yet* otherwise.\n\n")
	b.WriteString("| file | MUST sentences | covered | n/a | not yet | covered of observable |\n|---|---|---|---|---|---|\n")
	type tot struct{ all, cov, na, todo int }
	totals := map[string]*tot{}
	var sum tot
	for _, r := range rows {
		t := totals[r.File]
		if t == nil {
			t = &tot{}
			totals[r.File] = t
		}
		t.all++
		sum.all++
		switch {
		case strings.HasPrefix(r.Status, "covered"):
			t.cov++
			sum.cov++
		case strings.HasPrefix(r.Status, "n/a"):
			t.na++
			sum.na++
		default:
			t.todo++
			sum.todo++
		}
	}
	pct := func(t tot) string {
		if t.all-t.na == 0 {
			return "-"
		}
		return fmt.Sprintf("%d%%", 100*t.cov/(t.all-t.na))
	}
	for _, f := range SpecFiles {
		if t := totals[f]; t != nil {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s |\n", f, t.all, t.cov, t.na, t.todo, pct(*t))
		}
	}
	fmt.Fprintf(&b, "| **total** | %d | %d | %d | %d | %s |\n", sum.all, sum.cov, sum.na, sum.todo, pct(sum))
	file := ""
	for _, r := range rows {
		if r.File != file {
			file = r.File
			fmt.Fprintf(&b, "\n## %s\n\n| line | section | sentence | clauses | status |\n|---|---|---|---|---|\n", file)
		}
		text := r.Text
		if len(text) > 160 {
			text = text[:160] + "…"
		}
		text = strings.ReplaceAll(text, "|", "\\|")
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", r.Line, r.Anchor, text, strings.Join(r.Clauses, " "), r.Status)
	}
	return b.String()
}
