package registrar_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// A REGISTER over UDP whose 200 was lost is sent again, byte for byte
// (RFC 3261 §17.1.2.2: Timer E), and the sip.Server hands it to the
// registrar again (REGISTER is answered statelessly). Its credentials
// repeat a nonce count already used: it must still get the same 200 (the
// CSeq rule sees a retransmission), not 401 stale with a replayed-nonce
// warning.
func TestRegisterRetransmissionOverUDP(t *testing.T) {
	leakCheck(t)
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := newProxy(t, registrar.Config{}, nil, registrar.WithLogger(log))
	ctx := ctxT(t, 10*time.Second)
	phone := newRawPhone(t, "5002")
	first := phone.register(ctx, p.udp(), "secret")
	if first.StatusCode != 200 {
		t.Fatalf("register: got %d, want 200", first.StatusCode)
	}
	if !strings.Contains(string(phone.last), "Authorization: Digest") {
		t.Fatalf("the REGISTER answered 200 carries no credentials:\n%s", phone.last)
	}
	before, _ := p.reg.Bindings(ctx, "5002")

	time.Sleep(200 * time.Millisecond) // the phone's Timer E, roughly: the 200 was lost
	to, err := net.ResolveUDPAddr("udp", p.udp())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phone.pc.WriteTo(phone.last, to); err != nil {
		t.Fatal(err)
	}
	m, _ := phone.read(ctx)
	again, ok := m.(*sip.Response)
	if !ok {
		t.Fatalf("got %v, want a response", m)
	}
	if again.StatusCode != 200 {
		t.Fatalf("the retransmission: got %d %s (%v), want 200\nlog:\n%s", again.StatusCode, again.Reason,
			again.GetHeader("WWW-Authenticate"), logs.String())
	}
	if got, want := contactsOf(t, again), contactsOf(t, first); len(got) != 1 || len(want) != 1 ||
		got[0].uri != want[0].uri || want[0].expires-got[0].expires > 1 || got[0].expires > want[0].expires {
		t.Errorf("the retransmission's 200: got contacts %+v, want those of the first 200 %+v", got, want)
	}
	if logs := logs.String(); strings.Contains(logs, registrar.ReasonReplayedNonce) || strings.Contains(logs, "level=WARN") {
		t.Errorf("got log\n%s\nwant no replayed-nonce line and no warning", logs)
	}
	// No state change: the binding is the one the first REGISTER wrote.
	after, _ := p.reg.Bindings(ctx, "5002")
	if len(before) != 1 || len(after) != 1 || !after[0].Updated.Equal(before[0].Updated) {
		t.Errorf("bindings: got %+v, want %+v untouched", after, before)
	}
}

type contactExpiry struct {
	uri     string
	expires int
}

// contactsOf returns the Contact URIs of res with their expires.
func contactsOf(t *testing.T, res *sip.Response) []contactExpiry {
	t.Helper()
	var out []contactExpiry
	for _, h := range res.GetHeaders("Contact") {
		var c sipmsg.ContactHeader
		if _, err := sipmsg.ParseAddressValue(h.Value(), &c.Address, &c.Params); err != nil {
			t.Fatalf("contact %q: %v", h.Value(), err)
		}
		e, _ := c.Params.Get("expires")
		n, err := strconv.Atoi(e)
		if err != nil {
			t.Fatalf("contact %q: expires: %v", h.Value(), err)
		}
		out = append(out, contactExpiry{c.Address.String(), n})
	}
	return out
}

// reparse returns a copy of req as it would arrive again: the same bytes
// (after edit, when not nil), from src.
func reparse(t *testing.T, req *sip.Request, src string, edit func(string) string) *sip.Request {
	t.Helper()
	raw := req.String()
	if edit != nil {
		raw = edit(raw)
	}
	msg, err := sipmsg.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	again := msg.(*sip.Request)
	again.SetSource(src)
	again.SetTransport("UDP")
	return again
}

// A REGISTER repeating one accepted moments ago (its nonce count
// included) gets the 200 again only when it is the same request and
// changes nothing; otherwise its credentials are a replay, refused as
// before: 401 with stale=true and a replayed-nonce warning.
func TestRegisterRetransmission(t *testing.T) {
	const contact = "Contact: <sip:5002@10.0.0.5>"
	replace := func(old, new string) func(string) string {
		return func(raw string) string {
			if !strings.Contains(raw, old) {
				t.Fatalf("%q is not in the request:\n%s", old, raw)
			}
			return strings.Replace(raw, old, new, 1)
		}
	}
	tests := []struct {
		name    string
		first   []string                             // the REGISTER's headers besides the usual
		between func(t *testing.T, e *env, p *phone) // after the first 200
		edit    func(string) string                  // what the repeat changes
		src     string                               // the repeat's source; default the first's
		wait    time.Duration
		want    int
		// wantBinding is the Call-ID of the 5002's binding afterwards,
		// "" for none.
		wantBinding string
	}{
		{name: "retransmitted", first: []string{contact, "Expires: 300"}, wait: 200 * time.Millisecond,
			want: 200, wantBinding: "c1"},
		{name: "retransmitted, 4 s later (Timer E at T2)", first: []string{contact, "Expires: 300"}, wait: 4 * time.Second,
			want: 200, wantBinding: "c1"},
		{name: "an unregister retransmitted", first: []string{contact, "Expires: 0"}, wait: 200 * time.Millisecond,
			want: 200},
		{name: "after the retransmission window", first: []string{contact, "Expires: 300"}, wait: 21 * time.Second,
			want: 401, wantBinding: "c1"},
		{name: "from another address", first: []string{contact, "Expires: 300"}, src: "203.0.113.9:5060",
			wait: 200 * time.Millisecond, want: 401, wantBinding: "c1"},
		{name: "another contact under the same credentials", first: []string{contact, "Expires: 300"},
			edit: replace("<sip:5002@10.0.0.5>", "<sip:5002@203.0.113.9>"), wait: 200 * time.Millisecond, want: 401, wantBinding: "c1"},
		// The CSeq rule skips a contact it sees as retransmitted: the
		// tampered expiry changes nothing.
		{name: "Expires: 0 under the same credentials", first: []string{contact, "Expires: 300"},
			edit: replace("Expires: 300", "Expires: 0"), wait: 200 * time.Millisecond, want: 200, wantBinding: "c1"},
		// The nonce's last REGISTER is another one.
		{name: "an unregister repeated after the phone registered again", first: []string{contact, "Expires: 0"},
			between: func(t *testing.T, e *env, p *phone) {
				if rec, err := p.send(registerReq(t, "5002", "c2", 1, contact, "Expires: 300")); siptest.Code(rec, err) != 200 {
					t.Fatalf("registering again: got %d (%v), want 200", siptest.Code(rec, err), err)
				}
			}, wait: 200 * time.Millisecond, want: 401, wantBinding: "c2"},
		// Recognised as the nonce's last REGISTER, but it would now remove
		// a binding written since by someone else.
		{name: "an unregister repeated after the bindings moved on", first: []string{contact, "Expires: 0"},
			between: func(t *testing.T, e *env, p *phone) {
				err := e.reg.AddBinding(context.Background(), registrar.Binding{AOR: "5002", Contact: "sip:5002@10.0.0.5",
					Received: "10.0.0.5:5060", Q: 1, CallID: "operator", Expires: e.clock.Now().Add(time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
			}, wait: 200 * time.Millisecond, want: 401, wantBinding: "operator"},
		{name: "a REGISTER repeated after the bindings moved on", first: []string{contact, "Expires: 300"},
			between: func(t *testing.T, e *env, p *phone) {
				if err := e.reg.RemoveBinding(context.Background(), "5002", "sip:5002@10.0.0.5"); err != nil {
					t.Fatal(err)
				}
			}, wait: 200 * time.Millisecond, want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, registrar.Config{NonceExpiry: time.Hour})
			p := newPhone(t, e.reg, "5002", "secret")
			first := registerReq(t, "5002", "c1", 2, tt.first...)
			rec, err := p.send(first)
			if siptest.Code(rec, err) != 200 {
				t.Fatalf("first REGISTER: got %d (%v), want 200", siptest.Code(rec, err), err)
			}
			if tt.between != nil {
				tt.between(t, e, p)
			}
			src := tt.src
			if src == "" {
				src = first.Source()
			}
			again := reparse(t, first, src, tt.edit)
			e.clock.Advance(tt.wait)
			before := e.logs.String()
			rec, err = siptest.Serve(context.Background(), e.reg, again)
			got := siptest.Code(rec, err)
			if got != tt.want {
				t.Fatalf("the repeat: got %d (%v), want %d", got, err, tt.want)
			}
			logged := strings.TrimPrefix(e.logs.String(), before)
			if tt.want == 200 {
				if logged != "" {
					t.Errorf("the retransmission logged %q, want nothing", logged)
				}
			} else {
				if c := challengeOf(err, ""); c == nil || !c.Stale {
					t.Errorf("got %+v, want a challenge with stale=true", c)
				}
				if !reasonLogged(logged, registrar.ReasonReplayedNonce) {
					t.Errorf("got log %q, want reason=replayed-nonce", logged)
				}
			}
			list, _ := e.reg.Bindings(context.Background(), "5002")
			switch {
			case tt.wantBinding == "" && len(list) != 0:
				t.Errorf("bindings: got %+v, want none", list)
			case tt.wantBinding != "" && (len(list) != 1 || list[0].CallID != tt.wantBinding || list[0].Received != "10.0.0.5:5060"):
				t.Errorf("bindings: got %+v, want the one of Call-ID %s from 10.0.0.5:5060", list, tt.wantBinding)
			}
			if tt.want == 200 {
				var got []string
				for _, c := range contacts(rec) {
					uri, _, _ := strings.Cut(c, ";") // without the expires: time moved
					got = append(got, uri)
				}
				if want := bindingContacts(list); strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("the 200 lists %q, want the current bindings %q", got, want)
				}
			}
		})
	}
}

// bindingContacts are the Contact values a 200 lists for list, without
// their parameters.
func bindingContacts(list []registrar.Binding) []string {
	var out []string
	for _, b := range list {
		out = append(out, "<"+b.Contact+">")
	}
	return out
}
