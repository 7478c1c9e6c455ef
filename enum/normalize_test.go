package enum

import "testing"

var (
	italy = Numbering{CountryCode: "39", NationalPrefix: "0", InternationalPrefix: "00", KeepNationalPrefix: true, NationalMinDigits: 9}
	uk    = Numbering{CountryCode: "44", NationalPrefix: "0", InternationalPrefix: "00"}
	nanp  = Numbering{CountryCode: "1", NationalPrefix: "1", InternationalPrefix: "011", NationalMinDigits: 10}
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name   string
		plan   Numbering
		number string
		want   string // "" means not E.164
	}{
		{"italy geographic keeps the 0", italy, "0577232111", "+390577232111"},
		{"italy with separators", italy, "0577 232111", "+390577232111"},
		{"italy Rome", italy, "06-4991.1", "+390649911"},
		{"italy international prefix", italy, "00442079460000", "+442079460000"},
		{"italy international to Italy", italy, "00390577232111", "+390577232111"},
		{"italy mobile without prefix", italy, "3351234567", "+393351234567"},
		{"italy extension is not E.164", italy, "5002", ""},
		{"italy short code", italy, "112", ""},
		{"plus form kept", italy, "+390577232111", "+390577232111"},
		{"plus form with spaces", italy, "+39 0577 232111", "+390577232111"},
		{"plus form with parentheses", italy, "+1 (555) 1234", "+15551234"},
		{"uk drops the 0", uk, "02079460000", "+442079460000"},
		{"uk international", uk, "0039 0577 232111", "+390577232111"},
		{"uk bare digits without NationalMinDigits", uk, "2079460000", ""},
		{"nanp international prefix 011", nanp, "01139057723211", "+39057723211"},
		{"nanp trunk 1 dropped, country code 1 added", nanp, "15551234567", "+15551234567"},
		{"nanp ten digits", nanp, "5551234567", "+15551234567"},
		{"zero plan: plus only", Numbering{}, "+390577232111", "+390577232111"},
		{"zero plan: national is not E.164", Numbering{}, "0577232111", ""},
		{"zero plan: 00 is not a prefix", Numbering{}, "0044207946", ""},
		{"too long", italy, "+1234567890123456", ""},
		{"too short", italy, "+1", ""},
		{"only a prefix", italy, "0", ""},
		{"only the international prefix", italy, "00", ""},
		{"letters", italy, "0577abc", ""},
		{"sip user", italy, "alice", ""},
		{"empty", italy, "", ""},
		{"plus alone", italy, "+", ""},
		{"two plus", italy, "++39", ""},
		{"star codes", italy, "*67", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.plan.Normalize(tt.number)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("Normalize(%q): got %q, %v, want %q, %v", tt.number, got, ok, tt.want, tt.want != "")
			}
			if ok && !IsE164(got) {
				t.Errorf("Normalize(%q) = %q, which IsE164 rejects", tt.number, got)
			}
		})
	}
}

func TestNormalizeTrunkPrefixChoice(t *testing.T) {
	keep := Numbering{CountryCode: "39", NationalPrefix: "0", InternationalPrefix: "00", KeepNationalPrefix: true}
	drop := keep
	drop.KeepNationalPrefix = false
	for _, tt := range []struct {
		plan Numbering
		want string
	}{{keep, "+390577232111"}, {drop, "+39577232111"}} {
		if got, _ := tt.plan.Normalize("0577232111"); got != tt.want {
			t.Errorf("KeepNationalPrefix=%v: got %q, want %q", tt.plan.KeepNationalPrefix, got, tt.want)
		}
	}
}

func TestIsE164(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"+39", true},
		{"+123456789012345", true},
		{"+1234567890123456", false},
		{"+3", false},
		{"39", false},
		{"+39 0577", false},
		{"+39a", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsE164(tt.in); got != tt.want {
			t.Errorf("IsE164(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestQueryName(t *testing.T) {
	tests := []struct {
		e164, suffix, want string
	}{
		{"+390577232111", "e164.arpa.", "1.1.1.2.3.2.7.7.5.0.9.3.e164.arpa."},
		{"+15551234", "e164.arpa", "4.3.2.1.5.5.5.1.e164.arpa."},
		{"+4420", "e164.pbx.test.", "0.2.4.4.e164.pbx.test."},
		{"+4420", "", "0.2.4.4."},
	}
	for _, tt := range tests {
		if got := QueryName(tt.e164, tt.suffix); got != tt.want {
			t.Errorf("QueryName(%q, %q): got %q, want %q", tt.e164, tt.suffix, got, tt.want)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := italy.Normalize("0577232111"); !ok {
			b.Fatal("not E.164")
		}
	}
}
