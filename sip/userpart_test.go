package sip_test

import (
	"testing"

	"github.com/palio-voip/palio/sip"
)

func TestCheckUserPart(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"5002", true},
		{"FAX_5500", true},
		{"mario.rossi", true},
		{"+390577232111", true},
		{"", false},
		{"5002@voip.unisi.it", false},
		{"a b", false},
		{"a\tb", false},
		{"x;y", false},
		{"sip:5002", false},
		{"<5002>", false},
		{"a,b", false},
		{"a\x7f", false},
	} {
		if err := sip.CheckUserPart(tt.in); (err == nil) != tt.ok {
			t.Errorf("CheckUserPart(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}
