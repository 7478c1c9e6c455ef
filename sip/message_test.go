package sip

import (
	"strings"
	"testing"
)

func TestURIString(t *testing.T) {
	for _, s := range []string{
		"sip:5002@127.0.0.1:5090",
		"sip:127.0.0.1:5060;transport=tcp;lr",
		"sips:alice:secret@voip.unisi.it;user=phone?subject=x&priority=urgent",
		"sip:FAX_5500@voip.unisi.it",
		"sip:[2001:db8::1]:5060",
		"tel:+390577232111",
		"sip:host",
	} {
		u, err := ParseURI(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if got, want := uriString(&u), u.String(); got != want {
			t.Errorf("uriString(%s): got %q, want %q", s, got, want)
		}
	}
}

// FuzzURIString: the one-allocation formatter agrees with sipgo's.
func FuzzURIString(f *testing.F) {
	f.Add("sip:5002@127.0.0.1:5090;transport=udp")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			return
		}
		if got, want := uriString(&u), u.String(); got != want {
			t.Fatalf("uriString(%q): got %q, want %q", s, got, want)
		}
	})
}

func TestStableBranch(t *testing.T) {
	bye := func(branch string, cseq uint32) *Request {
		r := parseRequest(t, inviteMsg)
		r.Method = BYE
		r.CSeq().MethodName = BYE
		r.CSeq().SeqNo = cseq
		r.Via().Params.Add("branch", branch)
		return r
	}
	next, _ := ParseURI("sip:5002@127.0.0.1:5090")
	other, _ := ParseURI("sip:5002@127.0.0.1:5091")
	base := stableBranch(bye("z9hG4bKa", 2), &next, "")
	if !strings.HasPrefix(base, branchPrefix) {
		t.Errorf("%q lacks our prefix %q", base, branchPrefix)
	}
	tests := []struct {
		name string
		got  string
		same bool
	}{
		{"the same request again", stableBranch(bye("z9hG4bKa", 2), &next, ""), true},
		{"another branch", stableBranch(bye("z9hG4bKb", 2), &next, ""), false},
		{"another CSeq", stableBranch(bye("z9hG4bKa", 3), &next, ""), false},
		{"another next hop", stableBranch(bye("z9hG4bKa", 2), &other, ""), false},
	}
	for _, tt := range tests {
		if (tt.got == base) != tt.same {
			t.Errorf("%s: %q vs %q, want same=%v", tt.name, tt.got, base, tt.same)
		}
	}
}
