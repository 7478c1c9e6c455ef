package accounting

import (
	"fmt"
	"strconv"
	"strings"
)

// Money is an amount in millionths of the currency unit (the site's: the
// rate table and the costs share it), so that per-second prices add up
// without floating-point error: 0.015 a minute is 250 millionths a
// second.
type Money int64

// MoneyUnit is one unit of the currency.
const MoneyUnit Money = 1_000_000

// String writes m in units with at least two and at most six decimals:
// "0.08", "0.01525", "-1.50".
func (m Money) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	frac := strconv.FormatInt(v%int64(MoneyUnit)+int64(MoneyUnit), 10)[1:] // six digits
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + strconv.FormatInt(v/int64(MoneyUnit), 10) + "." + frac
}

// ParseMoney reads an amount in units ("0.015", "1", "2.50"): at most six
// decimals.
func ParseMoney(s string) (Money, error) {
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" && frac == "" || len(frac) > 6 || !digits(whole) || !digits(frac) || len(whole) > 12 {
		return 0, fmt.Errorf("accounting: amount %q: want units with at most six decimals (0.015)", s)
	}
	w, _ := strconv.ParseInt("0"+whole, 10, 64)
	f, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	m := Money(w)*MoneyUnit + Money(f)
	if neg {
		m = -m
	}
	return m, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MarshalText writes m as String does, so that JSON carries "0.08".
func (m Money) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (m *Money) UnmarshalText(b []byte) error {
	v, err := ParseMoney(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}
