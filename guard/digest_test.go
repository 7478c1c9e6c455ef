package guard_test

import (
	"testing"

	"github.com/palio-voip/palio/guard"
)

func TestDigestUsername(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`Digest username="5002", realm="voip.unisi.it", nonce="abc", uri="sip:voip.unisi.it", response="00"`, "5002", true},
		{`digest realm="voip.unisi.it",username="5002"`, "5002", true},
		{`Digest  realm = "a, b=c" , username = 5003 , nonce="x"`, "5003", true},
		{`Digest username="a\"b\\c"`, `a"b\c`, true},
		{`Digest USERNAME="5002"`, "5002", true},
		{`Basic dXNlcjpwYXNz`, "", false},
		{`Digest realm="x"`, "", false},
		{`Digest username=""`, "", false},
		{`Digest username="unterminated`, "", false},
		{`Digestusername="5002"`, "", false},
		{``, "", false},
	}
	for _, tt := range tests {
		got, ok := guard.DigestUsername(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("DigestUsername(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
