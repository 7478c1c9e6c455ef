package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func flowServer(secret string) *Server {
	return &Server{flowKey: flowKey([]byte(secret)), metrics: newMetrics(nil)}
}

// A token names its flow and nothing else: it reads back as the same
// flow, and a token of another secret, or altered, is forged.
func TestFlowToken(t *testing.T) {
	s := flowServer("node-1")
	for _, f := range []flow{
		{transport: "TCP", addr: netip.MustParseAddrPort("192.0.2.7:50123")},
		{transport: "UDP", addr: netip.MustParseAddrPort("127.0.0.1:5060")},
		{transport: "WSS", addr: netip.MustParseAddrPort("[2001:db8::1]:443")},
		{transport: "TLS", addr: netip.MustParseAddrPort("10.0.0.1:1")},
		{transport: "TCP", addr: netip.MustParseAddrPort("192.0.2.7:50123"), dialog: true},
	} {
		name := f.transport + " " + f.addr.String()
		if f.dialog {
			name += " dialog"
		}
		t.Run(name, func(t *testing.T) {
			tok := s.flowToken(f)
			if strings.ContainsAny(tok, "@:;=+/") {
				t.Errorf("token %q has characters a user part would escape", tok)
			}
			got, ok, err := s.parseFlowToken(tok)
			if !ok || err != nil || got != f {
				t.Fatalf("parse %q: got %+v %v %v, want %+v", tok, got, ok, err, f)
			}
			// The two kinds of a flow are two tokens.
			other := f
			other.dialog = !f.dialog
			if s.flowToken(other) == tok {
				t.Errorf("the Path and Record-Route tokens of %+v are the same", f)
			}
			if _, ok, err := flowServer("node-2").parseFlowToken(tok); !ok || !errors.Is(err, errForgedFlow) {
				t.Errorf("another secret's parse: got ok=%v err=%v, want a forged token", ok, err)
			}
			// Change one character in the middle (the address).
			b := []byte(tok)
			i := len(b) / 3
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			if _, _, err := s.parseFlowToken(string(b)); err == nil {
				t.Errorf("altered token %q accepted", b)
			}
		})
	}
}

// User parts that are not tokens are not taken for forged ones: a Route
// of ours may carry a user for other reasons.
func TestFlowTokenNotAToken(t *testing.T) {
	s := flowServer("node-1")
	for _, user := range []string{"", "5002", "alice", "AAAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("x", 200), "%%%", "AAAAAAAAAAAAAAAAAAAAAA=="} {
		// "AAA…" is token-shaped (23 characters) but names transport 0.
		f, ok, err := s.parseFlowToken(user)
		if ok || err != nil {
			t.Errorf("%q: got %+v %v %v, want not a token", user, f, ok, err)
		}
	}
}

func TestRouteFlowForged(t *testing.T) {
	s := flowServer("node-1")
	tok := flowServer("other").flowToken(flow{transport: "TCP", addr: netip.MustParseAddrPort("127.0.0.1:4000")})
	u := URI{Scheme: "sip", User: tok, Host: "127.0.0.1", Port: 5060}
	_, _, err := s.routeFlow(&u)
	if StatusOf(err) != 403 {
		t.Fatalf("a forged token: got %v, want 403", err)
	}
}

func TestParseRouteSet(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []string
		bad      bool
	}{
		{name: "one", in: "<sip:TOK@10.0.0.1:5060;transport=tcp;lr>", want: []string{"sip:TOK@10.0.0.1:5060;transport=tcp;lr"}},
		{name: "two", in: "<sip:a.example;lr>, <sip:b.example:5070;lr>", want: []string{"sip:a.example;lr", "sip:b.example:5070;lr"}},
		{name: "display name with comma", in: `"edge, one" <sip:a.example;lr>,<sip:b.example;lr>`, want: []string{"sip:a.example;lr", "sip:b.example;lr"}},
		{name: "empty parts", in: " ,<sip:a.example;lr>,, ", want: []string{"sip:a.example;lr"}},
		{name: "empty", in: "", want: nil},
		{name: "unbalanced", in: "<sip:a.example;lr", bad: true},
		{name: "no host", in: "<sip:;lr>", bad: true},
		{name: "garbage", in: "<>", bad: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRouteSet(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, u := range got {
				s = append(s, u.String())
			}
			if strings.Join(s, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %q, want %q", s, tt.want)
			}
		})
	}
}

// Neither a route set nor a token read from the wire or the database
// panics, whatever it holds.
func FuzzParseRouteSet(f *testing.F) {
	for _, s := range []string{"<sip:a;lr>", `"x,y" <sip:a;lr>, <sips:b:5061;transport=tls;lr>`, "<<>>", `"`, ">,<"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseRouteSet(s)
	})
}

func FuzzFlowToken(f *testing.F) {
	s := flowServer("fuzz")
	f.Add(s.flowToken(flow{transport: "TCP", addr: netip.MustParseAddrPort("127.0.0.1:4000")}))
	f.Add(s.flowToken(flow{transport: "WS", addr: netip.MustParseAddrPort("[::1]:80")}))
	f.Add("5002")
	f.Fuzz(func(t *testing.T, tok string) {
		got, ok, err := s.parseFlowToken(tok)
		if ok && err == nil {
			if again := s.flowToken(got); again != tok {
				t.Errorf("token %q reads as %+v, which writes %q", tok, got, again)
			}
		}
	})
}
