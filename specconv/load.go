// Package specconv reads an OCI bundle's config.json, validates it and
// converts it into the configs.Config that libct runs. It never touches the
// host beyond reading: the only file system checks are that config.json can
// be read, that root.path is a directory, and (only when net.* sysctls meet a
// joined network namespace) a stat of the namespace file.
//
// Every error names the field it is about by its JSON path, with array
// indexes: "mounts[3]: destination \"../x\" escapes the rootfs".
//
// Where runc is lenient, hull errors: a missing root (runc uses the
// bundle), a null document (runc panics), JSON values of the wrong type
// (crun takes "uid": "0"), root propagation, sysctls, resources and device
// numbers no kernel would take. Choices where the spec leaves room:
//
//   - A relative mount destination is taken relative to "/" (config.md,
//     1.3.0: deprecated but allowed); ".." may not climb above the root.
//   - A mount whose type is "bind" is a bind mount even without a bind
//     option, and then a non-recursive one (MS_BIND without MS_REC).
//   - linux.devices paths may be anywhere in the container, not only under
//     /dev (config-linux.md allows it).
//   - linux.intelRdt, linux.memoryPolicy and linux.netDevices are checked
//     and then refused as not supported yet (create does not apply them),
//     rather than ignored. The "tmpcopyup" mount option
//     is supported, on tmpfs mounts only (refused on any other type).
//   - A mount namespace is required: without one, mounts and pivot_root
//     would happen in the caller's.
//   - Sysctl keys are stored in dotted form ("net.ipv4.ip_forward"); a '/'
//     in a component stands for a '.' in the /proc/sys file name, so the
//     file is found by swapping '.' and '/'.
package specconv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/libct/configs"
)

// LoadSpec reads <bundle>/config.json. Unknown properties are ignored, as the
// spec requires (except inside process.landlock, see landlock.go); a property whose name matches a known one only when case is
// ignored is an unknown property too (encoding/json would otherwise take
// "Process" for "process"). Wrong JSON types are errors naming the field,
// even where other runtimes are lenient (crun takes "uid": "0").
func LoadSpec(bundle string) (*Spec, error) {
	path := filepath.Join(bundle, "config.json")
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	spec, err := ParseSpec(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return spec, nil
}

// ParseSpec decodes a config.json document held in memory, with the same
// rules as LoadSpec.
func ParseSpec(data []byte) (*Spec, error) {
	spec := &Spec{Spec: new(specs.Spec)}
	if err := decode(data, spec.Spec); err != nil {
		return nil, err
	}
	var err error
	if spec.Landlock, err = loadLandlock(data, spec.Process != nil, true); err != nil {
		return nil, err
	}
	return spec, nil
}

// LoadProcess reads a process.json file (the --process argument of exec):
// one specs.Process object, decoded with the same rules as LoadSpec. Field
// names in errors are relative to the process object ("user.uid").
func LoadProcess(path string) (*Process, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	p := &Process{Process: new(specs.Process)}
	if err := decode(data, p.Process); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if p.Landlock, err = loadLandlock(data, true, false); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Spec is a decoded config.json: runtime-spec's type, and what hull reads
// that the type has no field for.
type Spec struct {
	*specs.Spec
	// Landlock is process.landlock (runtime-spec PR #1241, landlock.go).
	Landlock *configs.Landlock
}

// Process is a decoded process object (exec's process.json), as Spec.
type Process struct {
	*specs.Process
	// Landlock is the process's landlock property (landlock.go).
	Landlock *configs.Landlock
}

func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %w", path, pe.Err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// decode unmarshals data into v (a pointer to a struct), turning
// encoding/json's errors into one line naming the place in the document.
func decode(data []byte, v any) error {
	// Any Unmarshal checks the whole document's syntax first.
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return syntaxError(data, err)
	}
	var tree any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep number literals exact for a re-encode
	if err := dec.Decode(&tree); err != nil {
		return syntaxError(data, err)
	}
	switch tree.(type) {
	case map[string]any:
	case nil:
		// runc dereferences the nil spec and panics here.
		return errors.New("the document is null, expected a JSON object")
	default:
		return fmt.Errorf("the document is %s, expected a JSON object", jsonKind(tree))
	}
	if dropInexactKeys(tree, reflect.TypeOf(v).Elem()) {
		var err error
		if data, err = json.Marshal(tree); err != nil {
			return err
		}
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := pathAt(data, te.Offset)
			if field == "" {
				field = te.Field
			}
			return &FieldError{Field: field, Err: fmt.Errorf("cannot unmarshal %s into %s", te.Value, typeName(te.Type))}
		}
		return err
	}
	return nil
}

// syntaxError adds the line and column to a JSON syntax error.
func syntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	off := int(min(max(se.Offset, 0), int64(len(data))))
	if off > 0 && strings.HasPrefix(se.Error(), "invalid character") {
		off-- // encoding/json reports the offset just past the bad byte
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Errorf("invalid JSON at line %d, column %d (byte %d): %s", line, col, off, se.Error())
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "an object"
}

// typeName says what JSON a Go type takes, in the user's terms.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Pointer:
		return typeName(t.Elem())
	}
	return t.Kind().String() // int64, uint32, ...: the range matters
}

// dropInexactKeys deletes, from the decoded tree, object keys that
// encoding/json would match to a struct field only by ignoring case. It
// reports whether it deleted any.
func dropInexactKeys(node any, t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	changed := false
	switch t.Kind() {
	case reflect.Struct:
		m, ok := node.(map[string]any)
		if !ok {
			return false
		}
		fields := map[string]reflect.Type{}
		jsonFields(t, fields)
		for k, val := range m {
			if ft, ok := fields[k]; ok {
				changed = dropInexactKeys(val, ft) || changed
				continue
			}
			for name := range fields {
				if strings.EqualFold(name, k) {
					delete(m, k)
					changed = true
					break
				}
			}
		}
	case reflect.Slice, reflect.Array:
		if list, ok := node.([]any); ok {
			for _, e := range list {
				changed = dropInexactKeys(e, t.Elem()) || changed
			}
		}
	case reflect.Map:
		if m, ok := node.(map[string]any); ok {
			for _, e := range m {
				changed = dropInexactKeys(e, t.Elem()) || changed
			}
		}
	}
	return changed
}

// jsonFields collects the JSON names of t's fields, with embedded structs'
// fields promoted as encoding/json does.
func jsonFields(t reflect.Type, out map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				jsonFields(ft, out)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
}

// pathAt returns the JSON path ("mounts[1].options[0]") of the value that
// ends at byte offset off of data (where encoding/json reports a type
// error: just past a scalar, or just past the '[' or '{' opening a
// container). It returns "" if there is none.
func pathAt(data []byte, off int64) string {
	type frame struct {
		obj     bool
		wantKey bool
		key     string
		idx     int
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if !f.obj {
				fmt.Fprintf(&b, "[%d]", f.idx)
				continue
			}
			if isIdent(f.key) {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			} else {
				b.WriteString("[" + strconv.Quote(f.key) + "]")
			}
		}
		return b.String()
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		after := dec.InputOffset()
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].obj {
				stack[len(stack)-1].wantKey = true
			}
			continue
		}
		if top != nil && top.obj && top.wantKey {
			top.key, _ = tok.(string)
			top.wantKey = false
			continue
		}
		// tok starts a value.
		if top != nil && !top.obj {
			top.idx++
		}
		if before < off && off <= after {
			return path()
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, frame{obj: d == '{', wantKey: d == '{', idx: -1})
			continue
		}
		if top != nil && top.obj {
			top.wantKey = true
		}
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
