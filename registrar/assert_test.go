package registrar_test

import (
	"context"
	"strings"
	"testing"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// An untrusted caller may not say who it is beyond proving it: the
// identity headers it sends are replaced by the one it authenticated as
// (RFC 3325 §9.1), or by a preferred identity it owns; a trusted source
// (a gateway) keeps the identity it asserts.
func TestAuthenticateAssertsIdentity(t *testing.T) {
	trusted := func(ctx context.Context, r *sip.Request) bool { return r.Source() == "192.0.2.1:5060" }
	owns := func(ctx context.Context, id registrar.Identity, u *sip.URI) bool {
		return u.User == id.Username || (id.Username == "5001" && u.User == "0577232001")
	}
	const spoofPAI = "P-Asserted-Identity: <sip:0577999999@" + domain + ">"
	const spoofRPID = "Remote-Party-ID: <sip:0577999999@" + domain + ">;party=calling;screen=yes;privacy=off"
	tests := []struct {
		name    string
		cfg     registrar.Config
		method  sip.Method
		src     string
		answer  bool
		headers []string
		want    []string // the P-Asserted-Identity values that go on
		wantHdr map[string]int
	}{
		{name: "spoofed PAI and RPID of an authenticated user are replaced", method: sip.INVITE, answer: true,
			headers: []string{spoofPAI, spoofRPID},
			want:    []string{"<sip:5001@" + domain + ">"},
			wantHdr: map[string]int{"Remote-Party-ID": 0, "P-Preferred-Identity": 0}},
		{name: "a preferred identity of someone else is not asserted", method: sip.INVITE, answer: true,
			headers: []string{"P-Preferred-Identity: <sip:5002@" + domain + ">"},
			want:    []string{"<sip:5001@" + domain + ">"},
			wantHdr: map[string]int{"P-Preferred-Identity": 0}},
		{name: "a preferred identity of the user's own is asserted", method: sip.INVITE, answer: true,
			headers: []string{`P-Preferred-Identity: "Ann" <sip:5001@` + domain + ">"},
			want:    []string{`"Ann" <sip:5001@` + domain + ">"},
			wantHdr: map[string]int{"P-Preferred-Identity": 0}},
		{name: "Owns decides: a number the user answers to", cfg: registrar.Config{Owns: owns}, method: sip.INVITE, answer: true,
			headers: []string{"P-Preferred-Identity: <sip:0577999999@" + domain + ">, <sip:0577232001@" + domain + ">"},
			want:    []string{"<sip:0577232001@" + domain + ">"}},
		{name: "a trusted gateway asserts what it likes", cfg: registrar.Config{TrustedSource: trusted}, method: sip.INVITE,
			src: "192.0.2.1:5060", headers: []string{spoofPAI, spoofRPID},
			want:    []string{"<sip:0577999999@" + domain + ">"},
			wantHdr: map[string]int{"Remote-Party-ID": 1}},
		{name: "an unchallenged method from an untrusted source loses them all", method: sip.OPTIONS,
			headers: []string{spoofPAI, spoofRPID, "P-Preferred-Identity: <sip:5001@" + domain + ">"},
			want:    nil,
			wantHdr: map[string]int{"Remote-Party-ID": 0, "P-Preferred-Identity": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			next := &terminal{}
			stage := e.reg.Authenticate(next)
			req := inviteReq(t, "5001", "0577232111", tt.headers...)
			req.Method = tt.method
			req.CSeq().MethodName = tt.method
			if tt.src != "" {
				req.SetSource(tt.src)
			}
			var rec *siptest.Recorder
			var err error
			if tt.answer {
				rec, err = newPhone(t, stage, "5001", "secret").send(req)
			} else {
				rec, err = siptest.Serve(context.Background(), stage, req)
			}
			if got := siptest.Code(rec, err); got != 200 {
				t.Fatalf("got %d (%v), want 200", got, err)
			}
			var got []string
			for _, h := range next.req.GetHeaders("P-Asserted-Identity") {
				got = append(got, h.Value())
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("P-Asserted-Identity: got %q, want %q", got, tt.want)
			}
			for name, n := range tt.wantHdr {
				if got := len(next.req.GetHeaders(name)); got != n {
					t.Errorf("%s: got %d, want %d", name, got, n)
				}
			}
		})
	}
}
