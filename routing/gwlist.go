package routing

import (
	"errors"
	"fmt"
	"strconv"
)

// ListEntry is one entry of a gwlist: a gateway, or a carrier ("#id"),
// with its weight.
type ListEntry struct {
	// ID is the gateway's GWID or the carrier's CarrierID.
	ID string
	// Carrier reports whether the entry names a carrier.
	Carrier bool
	// Weight is the entry's weight for SortWeight; 0 when not given. A
	// weight-0 entry comes after every weighted one.
	Weight int
}

// String returns the entry as it is written in a gwlist: "[#]id[=weight]".
func (e ListEntry) String() string {
	s := e.ID
	if e.Carrier {
		s = "#" + s
	}
	if e.Weight != 0 {
		s += "=" + strconv.Itoa(e.Weight)
	}
	return s
}

// ParseGWList parses a gwlist as OpenSIPS writes them: entries separated by
// ',' or '|', each an id (letters, digits, '_', '-', '.'), with a leading
// '#' for a carrier and an optional "=weight" (a non-negative integer);
// blanks may surround ids, '=' and weights. The empty list is legal. A
// malformed list is an error: its rule or carrier cannot be loaded.
// Whether the ids exist is checked at load, not here.
func ParseGWList(s string) ([]ListEntry, error) {
	var out []ListEntry
	i := skipBlank(s, 0)
	for i < len(s) {
		var e ListEntry
		if s[i] == '#' {
			e.Carrier = true
			i++
		}
		start := i
		for i < len(s) && isIDChar(s[i]) {
			i++
		}
		if i == start {
			return nil, fmt.Errorf("routing: gwlist %q: no id at offset %d", s, start)
		}
		e.ID = s[start:i]
		i = skipBlank(s, i)
		if i < len(s) && s[i] == '=' {
			i = skipBlank(s, i+1)
			ws := i
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			if i == ws {
				return nil, fmt.Errorf("routing: gwlist %q: no weight after '=' at offset %d", s, ws)
			}
			w, err := strconv.Atoi(s[ws:i])
			if err != nil || w > maxWeight {
				return nil, fmt.Errorf("routing: gwlist %q: weight %s out of range 0..%d", s, s[ws:i], maxWeight)
			}
			e.Weight = w
			i = skipBlank(s, i)
		}
		out = append(out, e)
		if i == len(s) {
			break
		}
		if s[i] != ',' && s[i] != '|' {
			return nil, fmt.Errorf("routing: gwlist %q: unexpected %q at offset %d", s, s[i], i)
		}
		i = skipBlank(s, i+1)
	}
	return out, nil
}

// maxWeight bounds weights, so that a list's sum cannot overflow.
const maxWeight = 1 << 20

// ParseGroupIDs parses the groupid column of dr_rules: group numbers
// (non-negative integers) separated by ',' or '|', with optional blanks.
// At least one group is required.
func ParseGroupIDs(s string) ([]int, error) {
	var out []int
	i := skipBlank(s, 0)
	for {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			if i == len(s) {
				return nil, fmt.Errorf("routing: groupid %q: %w", s, errNoGroup)
			}
			return nil, fmt.Errorf("routing: groupid %q: unexpected %q at offset %d", s, s[i], i)
		}
		g, err := strconv.Atoi(s[start:i])
		if err != nil || g > maxGroup {
			return nil, fmt.Errorf("routing: groupid %q: group %s out of range 0..%d", s, s[start:i], maxGroup)
		}
		out = append(out, g)
		i = skipBlank(s, i)
		if i == len(s) {
			return out, nil
		}
		if s[i] != ',' && s[i] != '|' {
			return nil, fmt.Errorf("routing: groupid %q: unexpected %q at offset %d", s, s[i], i)
		}
		i = skipBlank(s, i+1)
	}
}

// maxGroup is the largest group number: OpenSIPS keeps groups in an
// unsigned int; Palio in an int on every platform.
const maxGroup = 1<<31 - 1

var errNoGroup = errors.New("no group")

// ValidID reports whether s can name a gateway or carrier: 1 to 64
// letters, digits, '_', '-' and '.', as OpenSIPS accepts.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIDChar(s[i]) {
			return false
		}
	}
	return true
}

func isIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

func skipBlank(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}
