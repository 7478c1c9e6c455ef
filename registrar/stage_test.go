package registrar_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// terminal records what reached the end of a chain and answers 200.
type terminal struct {
	calls   int
	ctx     context.Context
	req     *sip.Request
	targets []sip.Target
}

func (h *terminal) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	h.calls++
	h.ctx, h.req, h.targets = ctx, r, sip.TargetsFrom(ctx)
	return w.WriteResponse(sip.NewResponse(r, 200, ""))
}

func TestAuthenticateStage(t *testing.T) {
	trusted := func(ctx context.Context, r *sip.Request) bool { return r.Source() == "192.0.2.1:5060" }
	tests := []struct {
		name     string
		cfg      registrar.Config
		from     string
		pw       string
		method   sip.Method
		src      string
		answer   bool // answer the 407 with credentials
		want     int
		wantUser string // the identity in the context; "" for none
	}{
		{name: "INVITE without credentials: 407", from: "5001", method: sip.INVITE, want: 407},
		{name: "INVITE with credentials: passes with the identity", from: "5001", pw: "secret", method: sip.INVITE,
			answer: true, want: 200, wantUser: "5001"},
		{name: "MESSAGE is challenged", from: "5001", method: sip.MESSAGE, want: 407},
		{name: "SUBSCRIBE is challenged", from: "5001", method: sip.SUBSCRIBE, want: 407},
		{name: "OPTIONS is not challenged by default", from: "5001", method: sip.OPTIONS, want: 200},
		{name: "OPTIONS when configured", cfg: registrar.Config{AuthMethods: []sip.Method{sip.OPTIONS}},
			from: "5001", method: sip.OPTIONS, want: 407},
		{name: "ACK is never challenged", cfg: registrar.Config{AuthMethods: []sip.Method{sip.ACK, sip.CANCEL}},
			from: "5001", method: sip.ACK, want: 200},
		{name: "CANCEL is never challenged", cfg: registrar.Config{AuthMethods: []sip.Method{sip.ACK, sip.CANCEL}},
			from: "5001", method: sip.CANCEL, want: 200},
		{name: "a trusted source passes unchallenged", cfg: registrar.Config{TrustedSource: trusted},
			from: "0577232111", method: sip.INVITE, src: "192.0.2.1:5060", want: 200},
		{name: "an untrusted source is challenged", cfg: registrar.Config{TrustedSource: trusted},
			from: "0577232111", method: sip.INVITE, src: "192.0.2.2:5060", want: 407},
		{name: "blocked account: 403", from: "5003", pw: "secret", method: sip.INVITE, answer: true, want: 403},
		{name: "wrong password: 407 again", from: "5001", pw: "guess", method: sip.INVITE, answer: true, want: 407},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			next := &terminal{}
			stage := e.reg.Authenticate(next)
			req := inviteReq(t, tt.from, "0577232111")
			req.Method = tt.method
			req.CSeq().MethodName = tt.method
			if tt.src != "" {
				req.SetSource(tt.src)
			}
			var rec *siptest.Recorder
			var err error
			if tt.answer {
				rec, err = newPhone(t, stage, tt.from, tt.pw).send(req)
			} else {
				rec, err = siptest.Serve(context.Background(), stage, req)
			}
			if got := siptest.Code(rec, err); got != tt.want {
				t.Fatalf("got %d (%v), want %d", got, err, tt.want)
			}
			if tt.want == 407 {
				if c := challengeOf(err, ""); c == nil {
					t.Errorf("got %v, want a Proxy-Authenticate challenge", err)
				}
				if next.calls != 0 {
					t.Errorf("next was called %d times, want 0", next.calls)
				}
				return
			}
			if tt.want != 200 {
				return
			}
			id, ok := registrar.IdentityFrom(next.ctx)
			if tt.wantUser == "" {
				if ok {
					t.Errorf("got identity %+v, want none", id)
				}
				return
			}
			if !ok || id.Username != tt.wantUser || id.Domain != domain || id.Realm != domain || id.Subscriber.HA1 == "" {
				t.Errorf("identity: got %+v %v, want %s@%s with its account", id, ok, tt.wantUser, domain)
			}
		})
	}
}

// The stage removes the credentials of its realm before the request goes
// on, and keeps those for other proxies.
func TestAuthenticateConsumesCredentials(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	next := &terminal{}
	stage := e.reg.Authenticate(next)
	req := inviteReq(t, "5001", "0577232111",
		`Proxy-Authorization: Digest username="u", realm="carrier.example", nonce="n", uri="sip:x", response="00"`)
	rec, err := newPhone(t, stage, "5001", "secret").send(req)
	if got := siptest.Code(rec, err); got != 200 {
		t.Fatalf("got %d (%v), want 200", got, err)
	}
	var realms []string
	for _, h := range next.req.GetHeaders("Proxy-Authorization") {
		realms = append(realms, h.Value())
	}
	if len(realms) != 1 || !strings.Contains(realms[0], "carrier.example") {
		t.Errorf("Proxy-Authorization after the stage: got %q, want only the carrier's", realms)
	}
}

// The From user must be the authenticated one, unless configured
// otherwise.
func TestAuthenticateIdentity(t *testing.T) {
	for _, skip := range []bool{false, true} {
		e := newEnv(t, registrar.Config{SkipIdentityMatch: skip})
		next := &terminal{}
		p := newPhone(t, e.reg.Authenticate(next), "5001", "secret")
		rec, err := p.send(inviteReq(t, "5002", "0577232111")) // From 5002, credentials of 5001
		want := 403
		if skip {
			want = 200
		}
		if got := siptest.Code(rec, err); got != want {
			t.Errorf("SkipIdentityMatch=%v: got %d (%v), want %d", skip, got, err, want)
		}
	}
}

func mustURI(t *testing.T, s string) sip.URI {
	t.Helper()
	u, err := sip.ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestLookupStage(t *testing.T) {
	type bind struct {
		registrar.Binding
		ttl time.Duration // 0: permanent
		age time.Duration // how long ago it was updated
	}
	udp := func(contact, received string, q float64) registrar.Binding {
		return registrar.Binding{AOR: "5002", Contact: contact, Received: received, Transport: "UDP", Q: q}
	}
	tg := func(uri, nextHop, transport string) sip.Target {
		return sip.Target{URI: mustURI(t, uri), NextHop: nextHop, Transport: transport}
	}
	tests := []struct {
		name     string
		cfg      registrar.Config
		bindings []bind
		ruri     string
		want     int
		targets  []sip.Target
	}{
		{name: "not registered: 404", ruri: "sip:5002@voip.unisi.it", want: 404},
		{name: "not registered: 480 when configured", cfg: registrar.Config{NotRegistered: 480},
			ruri: "sip:5002@voip.unisi.it", want: 480},
		{name: "no user part: not registered", ruri: "sip:voip.unisi.it", want: 404},
		{name: "UnknownUser: a known account not registered gets NotRegistered", cfg: registrar.Config{NotRegistered: 480, UnknownUser: 404},
			ruri: "sip:5002@voip.unisi.it", want: 480},
		{name: "UnknownUser: no such account", cfg: registrar.Config{NotRegistered: 480, UnknownUser: 404},
			ruri: "sip:5999@voip.unisi.it", want: 404},
		{name: "UnknownUser: a blocked account is still an account", cfg: registrar.Config{NotRegistered: 480, UnknownUser: 404},
			ruri: "sip:5003@voip.unisi.it", want: 480},
		{name: "UnknownUser with UseDomain: the account's domain is the realm", cfg: registrar.Config{NotRegistered: 480, UnknownUser: 404, UseDomain: true, Realm: "voip.unisi.it"},
			ruri: "sip:5002@10.0.0.1", want: 480},
		{name: "UnknownUser with UseDomain: another domain has no such account", cfg: registrar.Config{NotRegistered: 480, UnknownUser: 404, UseDomain: true},
			ruri: "sip:5002@other.example", want: 404},
		{
			name:     "UnknownUser: a binding without an account is routed",
			cfg:      registrar.Config{NotRegistered: 480, UnknownUser: 404},
			bindings: []bind{{Binding: registrar.Binding{AOR: "FAX_5500", Contact: "sip:FAX_5500@10.0.0.9:5060", Q: 1}}},
			ruri:     "sip:FAX_5500@voip.unisi.it", want: 200,
			targets: []sip.Target{tg("sip:FAX_5500@10.0.0.9:5060", "", "")},
		},
		{
			name:     "a contact reached directly: no next hop",
			bindings: []bind{{Binding: udp("sip:5002@10.0.0.5:5060", "10.0.0.5:5060", 1), ttl: time.Hour}},
			ruri:     "sip:5002@voip.unisi.it", want: 200,
			targets: []sip.Target{tg("sip:5002@10.0.0.5:5060", "", "UDP")},
		},
		{
			name:     "a contact without port is on the default port",
			bindings: []bind{{Binding: udp("sip:5002@10.0.0.5", "10.0.0.5:5060", 1), ttl: time.Hour}},
			ruri:     "sip:5002@voip.unisi.it", want: 200,
			targets: []sip.Target{tg("sip:5002@10.0.0.5", "", "UDP")},
		},
		{
			name:     "behind a NAT: sent to the received address",
			bindings: []bind{{Binding: udp("sip:5002@192.168.1.20:5060", "198.51.100.7:40522", 1), ttl: time.Hour}},
			ruri:     "sip:5002@voip.unisi.it", want: 200,
			targets: []sip.Target{tg("sip:5002@192.168.1.20:5060", "198.51.100.7:40522", "UDP")},
		},
		{
			name: "over TCP: back through the phone's connection",
			bindings: []bind{{Binding: registrar.Binding{AOR: "5002", Contact: "sip:5002@10.0.0.5:5070;transport=tcp",
				Received: "10.0.0.5:41000", Transport: "TCP", Q: 1}, ttl: time.Hour}},
			ruri: "sip:5002@voip.unisi.it", want: 200,
			targets: []sip.Target{tg("sip:5002@10.0.0.5:5070;transport=tcp", "10.0.0.5:41000", "TCP")},
		},
		{
			name: "several contacts: highest q first, then the most recent",
			bindings: []bind{
				{Binding: udp("sip:5002@10.0.0.5:5060", "10.0.0.5:5060", 0.5), ttl: time.Hour},
				{Binding: udp("sip:5002@10.0.0.6:5060", "10.0.0.6:5060", 1), ttl: time.Hour, age: time.Minute},
				{Binding: udp("sip:5002@10.0.0.7:5060", "10.0.0.7:5060", 1), ttl: time.Hour},
			},
			ruri: "sip:5002@voip.unisi.it", want: 200,
			targets: []sip.Target{
				tg("sip:5002@10.0.0.7:5060", "", "UDP"),
				tg("sip:5002@10.0.0.6:5060", "", "UDP"),
				tg("sip:5002@10.0.0.5:5060", "", "UDP"),
			},
		},
		{
			name: "expired bindings are never returned",
			bindings: []bind{
				{Binding: udp("sip:5002@10.0.0.5:5060", "10.0.0.5:5060", 1), ttl: -time.Second},
				{Binding: udp("sip:5002@10.0.0.6:5060", "10.0.0.6:5060", 1), ttl: time.Second},
			},
			ruri: "sip:5002@voip.unisi.it", want: 200,
			targets: []sip.Target{tg("sip:5002@10.0.0.6:5060", "", "UDP")},
		},
		{
			name:     "only expired bindings: not registered",
			bindings: []bind{{Binding: udp("sip:5002@10.0.0.5:5060", "10.0.0.5:5060", 1), ttl: -time.Second}},
			ruri:     "sip:5002@voip.unisi.it", want: 404,
		},
		{
			name:     "a permanent binding",
			bindings: []bind{{Binding: registrar.Binding{AOR: "5002", Contact: "sip:5002@10.0.0.9:5060", Q: 1}}},
			ruri:     "sip:5002@voip.unisi.it", want: 200,
			targets: []sip.Target{tg("sip:5002@10.0.0.9:5060", "", "")},
		},
		{
			name: "UseDomain: the AOR has the Request-URI's domain, in any case",
			cfg:  registrar.Config{UseDomain: true},
			bindings: []bind{{Binding: registrar.Binding{AOR: "5002@voip.unisi.it", Contact: "sip:5002@10.0.0.5:5060",
				Q: 1}, ttl: time.Hour}},
			ruri: "sip:5002@VOIP.unisi.it", want: 200,
			targets: []sip.Target{tg("sip:5002@10.0.0.5:5060", "", "")},
		},
		{
			name: "UseDomain: another domain is another AOR",
			cfg:  registrar.Config{UseDomain: true},
			bindings: []bind{{Binding: registrar.Binding{AOR: "5002@voip.unisi.it", Contact: "sip:5002@10.0.0.5:5060",
				Q: 1}, ttl: time.Hour}},
			ruri: "sip:5002@other.example", want: 404,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			now := e.clock.Now()
			for _, b := range tt.bindings {
				bb := b.Binding
				if b.ttl != 0 {
					bb.Expires = now.Add(b.ttl)
				}
				bb.Updated = now.Add(-b.age)
				if err := e.store.Put(context.Background(), bb); err != nil {
					t.Fatal(err)
				}
			}
			next := &terminal{}
			req := inviteReq(t, "5001", "5002")
			req.Recipient = mustURI(t, tt.ruri)
			rec, err := siptest.Serve(context.Background(), e.reg.Lookup(next), req)
			if got := siptest.Code(rec, err); got != tt.want {
				t.Fatalf("got %d (%v), want %d", got, err, tt.want)
			}
			if tt.want != 200 {
				if next.calls != 0 {
					t.Errorf("next called %d times, want 0", next.calls)
				}
				return
			}
			if len(next.targets) != len(tt.targets) {
				t.Fatalf("targets: got %v, want %v", next.targets, tt.targets)
			}
			for i := range tt.targets {
				got, want := next.targets[i], tt.targets[i]
				if got.URI.String() != want.URI.String() || got.NextHop != want.NextHop || got.Transport != want.Transport {
					t.Errorf("target %d: got %v (%s), want %v (%s)", i, got, got.Transport, want, want.Transport)
				}
			}
			if next.req.Recipient.String() != tt.ruri {
				t.Errorf("Request-URI: got %s, want it untouched (%s)", next.req.Recipient.String(), tt.ruri)
			}
		})
	}
}
