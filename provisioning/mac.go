package provisioning

import (
	"errors"
	"fmt"
	"strings"
)

// MAC is a phone's Ethernet address, the key of its device record. The
// zero MAC is no address.
type MAC [6]byte

// ErrMalformedMAC is returned (wrapped) by ParseMAC for a string that is
// no MAC address in a form phones and operators write.
var ErrMalformedMAC = errors.New("provisioning: malformed MAC address")

const hexDigits = "0123456789abcdef"

// ParseMAC reads a MAC address written as 12 hex digits
// ("0004137441d7"), as six colon- or dash-separated octets
// ("00:04:13:74:41:d7", "00-04-13-74-41-D7") or as Cisco's three dotted
// groups ("0004.1374.41d7"), in either case. Anything else, and the
// all-zero and broadcast addresses (no phone's), is refused.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	var digits [12]byte
	n := 0
	switch len(s) {
	case 12:
		copy(digits[:], s)
		n = 12
	case 17: // xx:xx:xx:xx:xx:xx or with dashes
		sep := s[2]
		if sep != ':' && sep != '-' {
			return m, fmt.Errorf("%w: %q", ErrMalformedMAC, s)
		}
		for i := 0; i < 17; i++ {
			if i%3 == 2 {
				if s[i] != sep {
					return m, fmt.Errorf("%w: %q", ErrMalformedMAC, s)
				}
				continue
			}
			digits[n] = s[i]
			n++
		}
	case 14: // xxxx.xxxx.xxxx
		for i := 0; i < 14; i++ {
			if i == 4 || i == 9 {
				if s[i] != '.' {
					return m, fmt.Errorf("%w: %q", ErrMalformedMAC, s)
				}
				continue
			}
			digits[n] = s[i]
			n++
		}
	default:
		return m, fmt.Errorf("%w: %q", ErrMalformedMAC, s)
	}
	for i := 0; i < 6; i++ {
		hi, ok1 := unhex(digits[2*i])
		lo, ok2 := unhex(digits[2*i+1])
		if !ok1 || !ok2 {
			return MAC{}, fmt.Errorf("%w: %q", ErrMalformedMAC, s)
		}
		m[i] = hi<<4 | lo
	}
	if m == (MAC{}) || m == (MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) {
		return MAC{}, fmt.Errorf("%w: %q is no device's address", ErrMalformedMAC, s)
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// IsZero reports whether m is the zero MAC (no address).
func (m MAC) IsZero() bool { return m == MAC{} }

// String returns m as 12 lower-case hex digits, the form Palio stores
// ("0004137441d7").
func (m MAC) String() string {
	var b [12]byte
	for i, x := range m {
		b[2*i] = hexDigits[x>>4]
		b[2*i+1] = hexDigits[x&0xf]
	}
	return string(b[:])
}

// Upper returns m as 12 upper-case hex digits, as SNOM and Cisco write it
// in file names ("0004137441D7").
func (m MAC) Upper() string { return strings.ToUpper(m.String()) }

// Colon returns m as colon-separated lower-case octets
// ("00:04:13:74:41:d7").
func (m MAC) Colon() string {
	s := m.String()
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(s[i : i+2])
	}
	return b.String()
}

// MarshalText writes m as String does (JSON, TOML).
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads m as ParseMAC does.
func (m *MAC) UnmarshalText(b []byte) error {
	v, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MACFromUserAgent returns the MAC address a phone put in its HTTP
// User-Agent, as Cisco/Linksys ("Cisco/SPA112-1.4.1(SR1) (88755A1B2C3D)"),
// Yealink ("Yealink SIP-T46S 66.85.0.5 00:15:65:5e:16:7c") and some SNOM
// and Grandstream firmware do: the first word (between spaces,
// parentheses, semicolons, commas or slashes) that ParseMAC reads. A
// User-Agent with none gives false. A 12-digit word that is a version
// number would read as a MAC; the vendors' formats have none.
func MACFromUserAgent(ua string) (MAC, bool) {
	if len(ua) > 512 {
		ua = ua[:512]
	}
	start := -1
	for i := 0; i <= len(ua); i++ {
		sep := i == len(ua)
		if !sep {
			switch ua[i] {
			case ' ', '\t', '(', ')', ';', ',', '/', '[', ']', '"':
				sep = true
			}
		}
		if !sep {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			if w := ua[start:i]; len(w) == 12 || len(w) == 14 || len(w) == 17 {
				if m, err := ParseMAC(w); err == nil {
					return m, true
				}
			}
			start = -1
		}
	}
	return MAC{}, false
}
