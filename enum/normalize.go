package enum

import (
	"strings"
)

// Numbering is a national numbering plan: what Normalize needs to turn a
// number as dialled into E.164 in the "+" form (ITU-T E.164 and E.123,
// RFC 3966). The zero value knows no plan: only numbers already in "+"
// form are E.164 then.
//
// For Italy, where geographic numbers keep their leading 0 after the
// country code (0577 232111 is +39 0577 232111):
//
//	enum.Numbering{CountryCode: "39", NationalPrefix: "0", InternationalPrefix: "00", KeepNationalPrefix: true}
//
// For a country whose trunk prefix is dropped, as in most of the world
// (020 7946 0000 is +44 20 7946 0000):
//
//	enum.Numbering{CountryCode: "44", NationalPrefix: "0", InternationalPrefix: "00"}
type Numbering struct {
	// CountryCode is the country calling code of national numbers, without
	// "+": "39" for Italy. Empty: national numbers are not E.164.
	CountryCode string
	// NationalPrefix is the trunk prefix that starts a national number
	// dialled in full: "0" in most of Europe. Empty: none.
	NationalPrefix string
	// InternationalPrefix is the prefix dialled before a country code:
	// "00" in most of the world, "011" in the NANP. Empty: none; only "+"
	// introduces a country code then.
	InternationalPrefix string
	// KeepNationalPrefix keeps the trunk prefix in the international form
	// (Italy, San Marino, the Vatican: 0577… is +39 0577…). False drops it,
	// as most countries do (020… is +44 20…).
	KeepNationalPrefix bool
	// NationalMinDigits, when positive, makes a string of digits with
	// neither prefix and at least this many digits a national number
	// dialled without trunk prefix (Italian mobiles: 335 1234567 is
	// +39 335 1234567). Shorter strings (extensions, short codes) are
	// never E.164. Zero: a number with neither prefix is not E.164.
	NationalMinDigits int
}

// validate reports a numbering plan Normalize cannot apply unambiguously.
func (n Numbering) validate() error {
	for _, f := range []struct{ name, v string }{
		{"country code", n.CountryCode},
		{"national prefix", n.NationalPrefix},
		{"international prefix", n.InternationalPrefix},
	} {
		if !allDigits(f.v) {
			return errorf("numbering: %s %q is not all digits", f.name, f.v)
		}
	}
	if n.CountryCode != "" && (len(n.CountryCode) > 3 || n.CountryCode[0] == '0') {
		return errorf("numbering: country code %q is not an E.164 country code", n.CountryCode)
	}
	if n.NationalPrefix != "" && n.NationalPrefix == n.InternationalPrefix {
		return errorf("numbering: national and international prefix are both %q", n.NationalPrefix)
	}
	return nil
}

// Normalize turns a number as dialled into E.164 in "+" form, or reports
// false when it is not one. Visual separators (space, "-", ".", "(", ")",
// RFC 3966 §5.1.1) are dropped first. Then:
//
//   - "+" and digits stays as it is: +39 0577 232111 is +390577232111;
//   - the international prefix becomes "+": 0044… is +44…;
//   - the national prefix becomes "+" and the country code, the prefix
//     kept or dropped as KeepNationalPrefix says: 0577232111 is
//     +390577232111 in Italy, 02079460000 is +442079460000 in the UK;
//   - digits with neither prefix are a national number when there are at
//     least NationalMinDigits of them, else not E.164.
//
// The longer of the two prefixes is tried first ("00" before "0"). The
// result is E.164 as OpenSIPS's is_e164 checks it: "+" and 2 to 15 digits.
func (n Numbering) Normalize(number string) (string, bool) {
	if IsE164(number) {
		return number, true // the common case, without allocating
	}
	digits, plus, ok := stripSeparators(number)
	if !ok || digits == "" {
		return "", false
	}
	if plus {
		return checked("+" + digits)
	}
	ip, np := n.InternationalPrefix, n.NationalPrefix
	if len(np) > len(ip) {
		if e, ok := n.national(digits); ok {
			return e, true
		}
	}
	if ip != "" && strings.HasPrefix(digits, ip) {
		return checked("+" + digits[len(ip):])
	}
	if e, ok := n.national(digits); ok {
		return e, true
	}
	if n.NationalMinDigits > 0 && len(digits) >= n.NationalMinDigits && n.CountryCode != "" {
		return checked("+" + n.CountryCode + digits)
	}
	return "", false
}

// national converts a number that starts with the national prefix.
func (n Numbering) national(digits string) (string, bool) {
	np := n.NationalPrefix
	if np == "" || n.CountryCode == "" || !strings.HasPrefix(digits, np) || len(digits) == len(np) {
		return "", false
	}
	if !n.KeepNationalPrefix {
		digits = digits[len(np):]
	}
	return checked("+" + n.CountryCode + digits)
}

func checked(s string) (string, bool) {
	if !IsE164(s) {
		return "", false
	}
	return s, true
}

// stripSeparators returns the digits of a dialled number, whether it began
// with "+", and false if it holds anything but digits and visual
// separators.
func stripSeparators(s string) (digits string, plus bool, ok bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "+") {
		plus, s = true, s[1:]
	}
	if allDigits(s) {
		return s, plus, true // nothing to strip: no copy
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", false, false
		}
	}
	return b.String(), plus, true
}

// IsE164 reports whether s is an E.164 number in "+" form: "+" followed by
// 2 to 15 digits, the check of OpenSIPS's is_e164.
func IsE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' {
		return false
	}
	return allDigits(s[1:])
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// QueryName returns the ENUM domain name of an E.164 number (RFC 6116
// §2.4): its digits in reverse order, each followed by a dot, then suffix
// as a fully qualified name. QueryName("+390577232111", "e164.arpa.") is
// "1.1.1.2.3.2.7.7.5.0.9.3.e164.arpa.". Characters other than digits are
// ignored.
func QueryName(e164, suffix string) string {
	suffix = strings.TrimPrefix(suffix, ".")
	var b strings.Builder
	b.Grow(2*len(e164) + len(suffix) + 1)
	for i := len(e164) - 1; i >= 0; i-- {
		if c := e164[i]; c >= '0' && c <= '9' {
			b.WriteByte(c)
			b.WriteByte('.')
		}
	}
	if suffix != "" {
		b.WriteString(suffix)
		if !strings.HasSuffix(suffix, ".") {
			b.WriteByte('.')
		}
	}
	return b.String()
}
