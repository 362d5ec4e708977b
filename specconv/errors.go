package specconv

import (
	"errors"
	"fmt"
)

// FieldError is a problem with one field of config.json. Field is the
// field's JSON path with array indexes, as a user would look it up in the
// file: "mounts[3]", "process.capabilities.bounding[1]",
// `linux.sysctl["net.ipv4.ip_forward"]`.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr builds a *FieldError with a formatted message.
func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// wrapField puts err under field, keeping an inner field name if err has
// one ("process" + "args[0]: ..." stays one FieldError).
func wrapField(field string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{Field: field + "." + fe.Field, Err: fe.Err}
	}
	return &FieldError{Field: field, Err: err}
}

// idx names element i of the array field name: idx("mounts", 3) = "mounts[3]".
func idx(name string, i int) string { return fmt.Sprintf("%s[%d]", name, i) }

// key names the map entry k of field name: key("linux.sysctl", "a") = `linux.sysctl["a"]`.
func key(name, k string) string { return fmt.Sprintf("%s[%q]", name, k) }
