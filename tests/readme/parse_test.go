package readme

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// block is one ```sh block of the README.
type block struct {
	line    int    // README line of the opening fence (1-based)
	text    string // the lines between the fences, each ending in \n
	skip    string // the reason of a no-test marker; empty: run it
	expects []expect
}

// expect is one expect marker: stdout must match re.
type expect struct {
	line int
	re   *regexp.Regexp
}

var (
	markerRe = regexp.MustCompile(`^<!--\s*([a-z-]+):\s*(.*?)\s*-->\s*$`)
	fenceRe  = regexp.MustCompile("^\\s*```")
)

// parseBlocks finds the ```sh blocks of md and the markers directly above
// each. A marker that is malformed, unknown, or not directly above a sh
// block is an error, so that a typo cannot silently turn a test off.
func parseBlocks(md string) ([]block, error) {
	var (
		blocks  []block
		pending []string // marker lines directly above the current line
		first   int      // line of the first pending marker
		cur     *block
		inOther bool // inside a fenced block that is not sh
	)
	lines := strings.Split(md, "\n")
	for i, l := range lines {
		n := i + 1
		switch {
		case cur != nil:
			if fenceRe.MatchString(l) && strings.TrimSpace(l) == "```" {
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			cur.text += l + "\n"
		case inOther:
			if strings.TrimSpace(l) == "```" {
				inOther = false
			}
		case markerRe.MatchString(l):
			if len(pending) == 0 {
				first = n
			}
			pending = append(pending, l)
		case fenceRe.MatchString(l):
			lang := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "```"))
			if lang != "sh" {
				if len(pending) > 0 {
					return nil, fmt.Errorf("line %d: marker above a ```%s block, not a ```sh one", first, lang)
				}
				inOther = true
				continue
			}
			b := block{line: n}
			for j, m := range pending {
				if err := b.mark(m, first+j); err != nil {
					return nil, err
				}
			}
			pending = nil
			cur = &b
		default:
			if len(pending) > 0 {
				return nil, fmt.Errorf("line %d: marker not directly above a ```sh block", first)
			}
			if strings.HasPrefix(strings.TrimSpace(l), "<!--") && (strings.Contains(l, "test") || strings.Contains(l, "expect")) {
				return nil, fmt.Errorf("line %d: malformed marker %q: want <!-- no-test: REASON --> or <!-- expect: REGEXP -->", n, l)
			}
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: ```sh block not closed", cur.line)
	}
	if len(pending) > 0 {
		return nil, fmt.Errorf("line %d: marker at the end of the file", first)
	}
	return blocks, nil
}

// mark applies one marker line to b.
func (b *block) mark(l string, line int) error {
	m := markerRe.FindStringSubmatch(l)
	key, val := m[1], m[2]
	switch key {
	case "no-test":
		if val == "" {
			return fmt.Errorf("line %d: no-test needs a reason", line)
		}
		b.skip = val
	case "expect":
		re, err := regexp.Compile(val)
		if err != nil {
			return fmt.Errorf("line %d: expect: %w", line, err)
		}
		b.expects = append(b.expects, expect{line: line, re: re})
	default:
		return fmt.Errorf("line %d: unknown marker %q: want no-test or expect", line, key)
	}
	if b.skip != "" && len(b.expects) > 0 {
		return fmt.Errorf("line %d: a block is either no-test or has expect markers, not both", line)
	}
	return nil
}

func TestParseBlocks(t *testing.T) {
	type want struct {
		line    int
		text    string
		skip    string
		expects []string
	}
	tests := []struct {
		name    string
		md      string
		want    []want
		wantErr string
	}{
		{
			name: "plain block runs",
			md:   "# t\n```sh\necho hi\n```\n",
			want: []want{{line: 2, text: "echo hi\n"}},
		},
		{
			name: "no-test with reason",
			md:   "<!-- no-test: needs Podman -->\n```sh\npodman ps\n```\n",
			want: []want{{line: 2, text: "podman ps\n", skip: "needs Podman"}},
		},
		{
			name: "two expects",
			md:   "x\n<!-- expect: ^a -->\n<!-- expect: b$ -->\n```sh\necho a; echo b\n```\n",
			want: []want{{line: 4, text: "echo a; echo b\n", expects: []string{"^a", "b$"}}},
		},
		{
			name: "other languages are not run",
			md:   "```toml\n[x]\n```\n```yaml\na: 1\n```\n```sh\ntrue\n```\n",
			want: []want{{line: 7, text: "true\n"}},
		},
		{
			name: "fence inside a toml block is not a sh block",
			md:   "```toml\n```sh\n```\n",
			want: nil,
		},
		{
			name:    "no-test without reason",
			md:      "<!-- no-test: -->\n```sh\ntrue\n```\n",
			wantErr: "line 1: no-test needs a reason",
		},
		{
			name:    "marker separated from its block",
			md:      "<!-- expect: x -->\n\n```sh\ntrue\n```\n",
			wantErr: "line 1: marker not directly above",
		},
		{
			name:    "marker above another language",
			md:      "<!-- no-test: x -->\n```toml\n```\n",
			wantErr: "not a ```sh one",
		},
		{
			name:    "unknown marker",
			md:      "<!-- doc-test: yes -->\n```sh\ntrue\n```\n",
			wantErr: `unknown marker "doc-test"`,
		},
		{
			name:    "malformed marker",
			md:      "<!-- no-test needs podman -->\n```sh\ntrue\n```\n",
			wantErr: "malformed marker",
		},
		{
			name:    "bad regexp",
			md:      "<!-- expect: ( -->\n```sh\ntrue\n```\n",
			wantErr: "line 1: expect:",
		},
		{
			name:    "skip and expect",
			md:      "<!-- no-test: x -->\n<!-- expect: y -->\n```sh\ntrue\n```\n",
			wantErr: "either no-test or has expect",
		},
		{
			name:    "unclosed",
			md:      "```sh\ntrue\n",
			wantErr: "line 1: ```sh block not closed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks, err := parseBlocks(tt.md)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseBlocks: err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseBlocks: %v", err)
			}
			var got []want
			for _, b := range blocks {
				w := want{line: b.line, text: b.text, skip: b.skip}
				for _, x := range b.expects {
					w.expects = append(w.expects, x.re.String())
				}
				got = append(got, w)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseBlocks:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
