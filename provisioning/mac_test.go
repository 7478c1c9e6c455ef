package provisioning_test

import (
	"errors"
	"testing"

	"github.com/palio-voip/palio/provisioning"
)

// TestParseMAC: the spellings phones and operators write are read to
// one MAC; anything else is refused.
func TestParseMAC(t *testing.T) {
	for _, s := range []string{"0004137441d7", "0004137441D7", "00:04:13:74:41:d7", "00-04-13-74-41-D7", "0004.1374.41d7", "0004.1374.41D7"} {
		m, err := provisioning.ParseMAC(s)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if m.String() != "0004137441d7" || m.Upper() != "0004137441D7" || m.Colon() != "00:04:13:74:41:d7" {
			t.Errorf("%q: got %s %s %s", s, m, m.Upper(), m.Colon())
		}
	}
	for _, s := range []string{
		"", "0004137441d", "0004137441d7a", "0004137441g7", "00:04:13:74:41-d7", "00:04:13:74:41:d", "000:4:13:74:41:d7",
		"0004:1374:41d7", "0004.1374-41d7", "000000000000", "ffffffffffff", "FF:FF:FF:FF:FF:FF", " 0004137441d7", "0004137441d7\n",
		"00 04 13 74 41 d7",
	} {
		if m, err := provisioning.ParseMAC(s); err == nil || !errors.Is(err, provisioning.ErrMalformedMAC) {
			t.Errorf("%q: got %v %v, want ErrMalformedMAC", s, m, err)
		}
	}
}

// TestMACFromUserAgent: the MAC in the vendors' User-Agents.
func TestMACFromUserAgent(t *testing.T) {
	tests := []struct{ ua, mac string }{
		{"Cisco/SPA112-1.4.1(SR1) (88755A1B2C3D)", "88755a1b2c3d"},
		{"Linksys/SPA942-6.1.5a (88019FA0E53F)", "88019fa0e53f"},
		{"Yealink SIP-T46S 66.85.0.5 00:15:65:5e:16:7c", "0015655e167c"},
		{"Grandstream Model HW GXP2170 SW 1.0.11.3 DevId 000b82a1b2c3", "000b82a1b2c3"},
		{"Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 000413A9B0C1)", "000413a9b0c1"},
		{"Mozilla/4.0 (compatible; snom760-SIP 8.7.5.35 1.1.3-s)", ""},
		{"curl/8.5.0", ""},
		{"", ""},
		{"Yealink SIP-T46S 66.85.0.5 00:00:00:00:00:00", ""},
	}
	for _, tt := range tests {
		m, ok := provisioning.MACFromUserAgent(tt.ua)
		got := ""
		if ok {
			got = m.String()
		}
		if got != tt.mac {
			t.Errorf("%q: got %q, want %q", tt.ua, got, tt.mac)
		}
	}
}

// TestParseModel: the ways people write a model.
func TestParseModel(t *testing.T) {
	for in, want := range map[string]string{
		"snom710": "snom710", "SNOM 710": "snom710", "snom-760": "snom760", "D735": "snomd735", "snomD785": "snomd785",
		"SPA112": "spa112", "Cisco SPA112": "spa112", "Linksys SPA-504G": "spa504g",
		"T46S": "t46s", "Yealink SIP-T46S": "t46s", "generic": "generic",
	} {
		m, err := provisioning.ParseModel(in)
		if err != nil || m.Name != want {
			t.Errorf("%q: got %q %v, want %q", in, m.Name, err, want)
		}
	}
	for _, in := range []string{"", "snom999", "spa", "iphone"} {
		if m, err := provisioning.ParseModel(in); err == nil {
			t.Errorf("%q: got %q, want an error", in, m.Name)
		}
	}
}
