package sip

import "testing"

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
