package ng

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// The ng protocol carries bencoded values (the BitTorrent encoding):
// byte strings "4:spam", integers "i42e", lists "l...e" and dictionaries
// "d...e" whose keys are byte strings in sorted order. Decoded values are
// string, int64, []any and Dict.

// Dict is a decoded dictionary.
type Dict map[string]any

// String returns the string value of key, or "" when it is absent or not
// a string.
func (d Dict) String(key string) string {
	s, _ := d[key].(string)
	return s
}

// Strings returns the list value of key as strings (a single string is a
// list of one, as rtpengine accepts), skipping values that are not
// strings.
func (d Dict) Strings(key string) []string {
	switch v := d[key].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// maxDepth bounds the nesting of decoded values, so that a hostile
// message cannot exhaust the stack.
const maxDepth = 32

// ErrSyntax is wrapped by every decoding error.
var ErrSyntax = errors.New("ng: bencode syntax")

// Decode decodes one bencoded value from b and returns it with the bytes
// that follow it.
func Decode(b []byte) (any, []byte, error) {
	return decode(b, 0)
}

func decode(b []byte, depth int) (any, []byte, error) {
	if depth > maxDepth {
		return nil, nil, fmt.Errorf("%w: nested deeper than %d", ErrSyntax, maxDepth)
	}
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: unexpected end", ErrSyntax)
	}
	switch c := b[0]; {
	case c == 'i':
		end := bytes.IndexByte(b, 'e')
		if end < 0 {
			return nil, nil, fmt.Errorf("%w: unterminated integer", ErrSyntax)
		}
		n, err := strconv.ParseInt(string(b[1:end]), 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: integer %q", ErrSyntax, b[1:end])
		}
		return n, b[end+1:], nil
	case c == 'l':
		var list []any
		rest := b[1:]
		for {
			if len(rest) == 0 {
				return nil, nil, fmt.Errorf("%w: unterminated list", ErrSyntax)
			}
			if rest[0] == 'e' {
				if list == nil {
					list = []any{}
				}
				return list, rest[1:], nil
			}
			v, r, err := decode(rest, depth+1)
			if err != nil {
				return nil, nil, err
			}
			list = append(list, v)
			rest = r
		}
	case c == 'd':
		d := Dict{}
		rest := b[1:]
		for {
			if len(rest) == 0 {
				return nil, nil, fmt.Errorf("%w: unterminated dictionary", ErrSyntax)
			}
			if rest[0] == 'e' {
				return d, rest[1:], nil
			}
			k, r, err := decodeString(rest)
			if err != nil {
				return nil, nil, fmt.Errorf("%w (a dictionary key)", err)
			}
			v, r, err := decode(r, depth+1)
			if err != nil {
				return nil, nil, err
			}
			d[k] = v
			rest = r
		}
	case c >= '0' && c <= '9':
		return decodeString(b)
	default:
		return nil, nil, fmt.Errorf("%w: unexpected %q", ErrSyntax, c)
	}
}

func decodeString(b []byte) (string, []byte, error) {
	colon := bytes.IndexByte(b, ':')
	if colon < 1 || colon > 10 {
		return "", nil, fmt.Errorf("%w: string length", ErrSyntax)
	}
	n, err := strconv.Atoi(string(b[:colon]))
	if err != nil || n < 0 {
		return "", nil, fmt.Errorf("%w: string length %q", ErrSyntax, b[:colon])
	}
	if len(b)-colon-1 < n {
		return "", nil, fmt.Errorf("%w: string of %d bytes, %d left", ErrSyntax, n, len(b)-colon-1)
	}
	return string(b[colon+1 : colon+1+n]), b[colon+1+n:], nil
}

// Append appends the bencoding of v to b. v is a string, []byte, an
// integer, bool (1 or 0), a []any, []string, Dict or map[string]any;
// anything else is an error.
func Append(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, ':')
		return append(b, x...), nil
	case []byte:
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, ':')
		return append(b, x...), nil
	case int:
		return appendInt(b, int64(x)), nil
	case int64:
		return appendInt(b, x), nil
	case uint64:
		b = append(b, 'i')
		b = strconv.AppendUint(b, x, 10)
		return append(b, 'e'), nil
	case bool:
		if x {
			return appendInt(b, 1), nil
		}
		return appendInt(b, 0), nil
	case []string:
		b = append(b, 'l')
		for _, s := range x {
			b, _ = Append(b, s)
		}
		return append(b, 'e'), nil
	case []any:
		b = append(b, 'l')
		for _, e := range x {
			var err error
			if b, err = Append(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, 'e'), nil
	case Dict:
		return appendDict(b, x)
	case map[string]any:
		return appendDict(b, x)
	default:
		return nil, fmt.Errorf("ng: cannot bencode %T", v)
	}
}

func appendInt(b []byte, n int64) []byte {
	b = append(b, 'i')
	b = strconv.AppendInt(b, n, 10)
	return append(b, 'e')
}

func appendDict(b []byte, d map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, 'd')
	for _, k := range keys {
		b, _ = Append(b, k)
		var err error
		if b, err = Append(b, d[k]); err != nil {
			return nil, err
		}
	}
	return append(b, 'e'), nil
}
