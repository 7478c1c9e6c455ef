package registrar_test

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// regStep is one REGISTER of a scenario, from user 5002 at 10.0.0.5.
type regStep struct {
	advance time.Duration // clock moves before the request
	callID  string        // default "call-1"
	cseq    int
	headers []string
	want    int
	// wantContacts are the Contact values of the 200, best first; nil
	// skips the check (use []string{} for none).
	wantContacts []string
	// wantReason checks the reason phrase of a rejection.
	wantReason string
	// wantHeader checks a header of the rejection ("Min-Expires: 60").
	wantHeader string
}

func TestRegisterRules(t *testing.T) {
	const a, b, c = "<sip:5002@10.0.0.5:5060>", "<sip:5002@10.0.0.5:5062>", "<sip:5002@10.0.0.5:5064>"
	tests := []struct {
		name  string
		cfg   registrar.Config
		steps []regStep
	}{
		{
			name: "Expires header sets the lifetime",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: " + a, "Expires: 120"},
				want: 200, wantContacts: []string{a + ";expires=120"}}},
		},
		{
			name: "Contact expires parameter wins over the header",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: " + a + ";expires=300", "Expires: 120"},
				want: 200, wantContacts: []string{a + ";expires=300"}}},
		},
		{
			name: "no expiry anywhere: DefaultExpires",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: " + a},
				want: 200, wantContacts: []string{a + ";expires=3600"}}},
		},
		{
			name: "configured default expiry",
			cfg:  registrar.Config{DefaultExpires: 600 * time.Second},
			steps: []regStep{{cseq: 1, headers: []string{"Contact: " + a},
				want: 200, wantContacts: []string{a + ";expires=600"}}},
		},
		{
			name: "below MinExpires is raised silently, as OpenSIPS does",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: " + a, "Expires: 10"},
				want: 200, wantContacts: []string{a + ";expires=60"}}},
		},
		{
			name: "below MinExpires with MinExpiresReject: 423 with Min-Expires",
			cfg:  registrar.Config{MinExpires: 90 * time.Second, MinExpiresReject: true},
			steps: []regStep{
				{cseq: 1, headers: []string{"Contact: " + a, "Expires: 10"}, want: 423, wantHeader: "Min-Expires: 90"},
				{cseq: 2, headers: []string{"Contact: " + a + ";expires=0"}, want: 200, wantContacts: []string{}},
			},
		},
		{
			name: "above MaxExpires is capped",
			cfg:  registrar.Config{MaxExpires: 1800 * time.Second},
			steps: []regStep{{cseq: 1, headers: []string{"Contact: " + a, "Expires: 7200"},
				want: 200, wantContacts: []string{a + ";expires=1800"}}},
		},
		{
			name: "expiry beyond 2^32-1 is taken as 2^32-1",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: " + a, "Expires: 99999999999999999999"},
				want: 200, wantContacts: []string{a + ";expires=4294967295"}}},
		},
		{
			name: "expires=0 removes the contact, the others stay",
			steps: []regStep{
				{cseq: 1, headers: []string{"Contact: " + a, "Contact: " + b + ";q=0.5", "Expires: 120"}, want: 200,
					wantContacts: []string{a + ";expires=120", b + ";expires=120;q=0.5"}},
				{cseq: 2, headers: []string{"Contact: " + a + ";expires=0"}, want: 200,
					wantContacts: []string{b + ";expires=120;q=0.5"}},
			},
		},
		{
			name:  "removing a contact that is not bound is a no-op",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: " + a, "Expires: 0"}, want: 200, wantContacts: []string{}}},
		},
		{
			name: "Contact: * with Expires: 0 removes every contact",
			steps: []regStep{
				{cseq: 1, headers: []string{"Contact: " + a, "Contact: " + b, "Expires: 120"}, want: 200},
				{callID: "call-2", cseq: 1, headers: []string{"Contact: " + c, "Expires: 120"}, want: 200},
				{cseq: 2, headers: []string{"Contact: *", "Expires: 0"}, want: 200, wantContacts: []string{}},
			},
		},
		{
			name:  "Contact: * with a non-zero Expires is 400",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: *", "Expires: 60"}, want: 400}},
		},
		{
			name:  "Contact: * without Expires is 400",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: *"}, want: 400}},
		},
		{
			name:  "Contact: * with another contact is 400",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: *", "Contact: " + a, "Expires: 0"}, want: 400}},
		},
		{
			name: "Contact: * with a lower CSeq of the same Call-ID is 400",
			steps: []regStep{
				{cseq: 5, headers: []string{"Contact: " + a, "Expires: 120"}, want: 200},
				{cseq: 4, headers: []string{"Contact: *", "Expires: 0"}, want: 400, wantReason: "Invalid CSeq number"},
			},
		},
		{
			name: "lower CSeq for the same contact and Call-ID is 400",
			steps: []regStep{
				{cseq: 5, headers: []string{"Contact: " + a, "Expires: 120"}, want: 200},
				{cseq: 4, headers: []string{"Contact: " + a, "Expires: 300"}, want: 400, wantReason: "Invalid CSeq number"},
				{cseq: 6, headers: []string{}, want: 200, wantContacts: []string{a + ";expires=120"}},
			},
		},
		{
			name: "same CSeq within the window is a retransmission: 200, no update",
			steps: []regStep{
				{cseq: 5, headers: []string{"Contact: " + a, "Expires: 120"}, want: 200},
				{advance: 5 * time.Second, cseq: 5, headers: []string{"Contact: " + a, "Expires: 300"}, want: 200,
					wantContacts: []string{a + ";expires=115"}},
			},
		},
		{
			name: "same CSeq after the window is 400",
			steps: []regStep{
				{cseq: 5, headers: []string{"Contact: " + a, "Expires: 120"}, want: 200},
				{advance: 21 * time.Second, cseq: 5, headers: []string{"Contact: " + a, "Expires: 120"}, want: 400},
			},
		},
		{
			name: "lower CSeq under another Call-ID replaces the binding (a rebooted phone)",
			steps: []regStep{
				{cseq: 50, headers: []string{"Contact: " + a, "Expires: 120"}, want: 200},
				{advance: time.Second, callID: "call-2", cseq: 1, headers: []string{"Contact: " + a, "Expires: 600"}, want: 200,
					wantContacts: []string{a + ";expires=600"}},
			},
		},
		{
			name: "a refresh counts down the other contacts",
			steps: []regStep{
				{cseq: 1, headers: []string{"Contact: " + a, "Expires: 120"}, want: 200},
				{advance: 30 * time.Second, callID: "call-2", cseq: 1, headers: []string{"Contact: " + b, "Expires: 120"}, want: 200,
					wantContacts: []string{b + ";expires=120", a + ";expires=90"}},
			},
		},
		{
			name: "a REGISTER without Contact lists the bindings",
			steps: []regStep{
				{cseq: 1, headers: []string{"Contact: " + a + ";q=0.2", "Contact: " + b + ";q=0.9", "Expires: 120"}, want: 200},
				{advance: 10 * time.Second, cseq: 2, want: 200,
					wantContacts: []string{b + ";expires=110;q=0.9", a + ";expires=110;q=0.2"}},
			},
		},
		{
			name: "expired bindings are not listed",
			steps: []regStep{
				{cseq: 1, headers: []string{"Contact: " + a, "Expires: 60"}, want: 200},
				{advance: 61 * time.Second, cseq: 2, want: 200, wantContacts: []string{}},
			},
		},
		{
			name: "MaxContacts: one too many is 503",
			cfg:  registrar.Config{MaxContacts: 2},
			steps: []regStep{
				{cseq: 1, headers: []string{"Contact: " + a, "Contact: " + b, "Expires: 120"}, want: 200},
				{cseq: 2, headers: []string{"Contact: " + c, "Expires: 120"}, want: 503, wantReason: "Too many registered contacts"},
				{cseq: 3, headers: []string{"Contact: " + a, "Expires: 300"}, want: 200,
					wantContacts: []string{a + ";expires=300", b + ";expires=120"}},
			},
		},
		{
			name: "MaxContacts with EvictOldest drops the least recently updated",
			cfg:  registrar.Config{MaxContacts: 2, EvictOldest: true},
			steps: []regStep{
				{cseq: 1, headers: []string{"Contact: " + a, "Expires: 120"}, want: 200},
				{advance: time.Second, cseq: 2, headers: []string{"Contact: " + b, "Expires: 120"}, want: 200},
				{advance: time.Second, cseq: 3, headers: []string{"Contact: " + c, "Expires: 120"}, want: 200,
					wantContacts: []string{c + ";expires=120", b + ";expires=119"}},
			},
		},
		{
			name: "MaxContacts with EvictOldest: a request over the limit by itself is 503",
			cfg:  registrar.Config{MaxContacts: 1, EvictOldest: true},
			steps: []regStep{
				{cseq: 1, headers: []string{"Contact: " + a, "Contact: " + b, "Expires: 120"}, want: 503},
			},
		},
		{
			name:  "a malformed Expires is 400",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: " + a, "Expires: soon"}, want: 400}},
		},
		{
			name:  "a malformed expires parameter is 400",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: " + a + ";expires=-1"}, want: 400}},
		},
		{
			name:  "q out of range is 400",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: " + a + ";q=1.5"}, want: 400}},
		},
		{
			name:  "a contact that is not a SIP URI is 400",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: <tel:+390577232111>"}, want: 400}},
		},
		{
			name: "a contact listed twice counts once, as its last occurrence",
			steps: []regStep{{cseq: 1, headers: []string{"Contact: " + a + ";expires=100", "Contact: " + a + ";expires=200"},
				want: 200, wantContacts: []string{a + ";expires=200"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			p := newPhone(t, e.reg, "5002", "secret")
			for i, s := range tt.steps {
				e.clock.Advance(s.advance)
				cid := s.callID
				if cid == "" {
					cid = "call-1"
				}
				rec, err := p.send(registerReq(t, "5002", cid, s.cseq, s.headers...))
				if got := siptest.Code(rec, err); got != s.want {
					t.Fatalf("step %d: got %d (%v), want %d", i, got, err, s.want)
				}
				if s.wantContacts != nil {
					got := contacts(rec)
					if !slices.Equal(got, s.wantContacts) && !(len(got) == 0 && len(s.wantContacts) == 0) {
						t.Errorf("step %d: contacts: got %q, want %q", i, got, s.wantContacts)
					}
				}
				se, _ := sip.AsStatus(err)
				if s.wantReason != "" && (se == nil || se.Reason != s.wantReason) {
					t.Errorf("step %d: got reason %+v, want %q", i, se, s.wantReason)
				}
				if s.wantHeader != "" {
					name, value, _ := strings.Cut(s.wantHeader, ": ")
					if se == nil || se.Response == nil || se.Response.GetHeader(name) == nil || se.Response.GetHeader(name).Value() != value {
						t.Errorf("step %d: got response %v, want header %q", i, se, s.wantHeader)
					}
				}
			}
		})
	}
}

// The 200's Contacts and the store agree, and the binding keeps what a
// lookup needs: the received address, the transport, the request's
// Call-ID and CSeq, the User-Agent, the instance, the Allow methods.
func TestRegisterStoresBinding(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	p := newPhone(t, e.reg, "5002", "secret")
	req := registerReq(t, "5002", "call-9", 7,
		`Contact: <sip:5002@192.168.1.20:5060;line=abc>;+sip.instance="<urn:uuid:0001>";q=0.7`,
		"Expires: 600", "User-Agent: snom760/10.1.54.13", "Allow: INVITE, ACK, BYE, cancel")
	req.SetSource("198.51.100.7:40522")
	rec, err := p.send(req)
	if got := siptest.Code(rec, err); got != 200 {
		t.Fatalf("got %d (%v), want 200", got, err)
	}
	list, err := e.reg.Bindings(context.Background(), "5002")
	if err != nil || len(list) != 1 {
		t.Fatalf("got %v %v, want one binding", list, err)
	}
	b := list[0]
	now := e.clock.Now()
	checks := []struct {
		name      string
		got, want any
	}{
		{"AOR", b.AOR, "5002"},
		{"Contact", b.Contact, "sip:5002@192.168.1.20:5060;line=abc"},
		{"Received", b.Received, "198.51.100.7:40522"},
		{"Transport", b.Transport, "UDP"},
		{"Expires", b.Expires, now.Add(600 * time.Second)},
		{"Q", b.Q, 0.7},
		{"CallID", b.CallID, "call-9"},
		{"CSeq", b.CSeq, uint32(7)},
		{"UserAgent", b.UserAgent, "snom760/10.1.54.13"},
		{"Instance", b.Instance, "<urn:uuid:0001>"},
		{"Methods", strings.Join(methodStrings(b.Methods), ","), "INVITE,ACK,BYE,CANCEL"},
		{"Updated", b.Updated, now},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if got := contacts(rec); len(got) != 1 || !strings.HasPrefix(got[0], "<sip:5002@192.168.1.20:5060;line=abc>;expires=600") {
		t.Errorf("200 Contact: got %q, want the binding with expires=600", got)
	}
	res := rec.Responses()[0]
	if d := res.GetHeader("Date"); d == nil || d.Value() != "Wed, 25 Nov 2026 09:00:00 GMT" {
		t.Errorf("Date: got %v, want the registrar's clock in GMT", d)
	}
}

func methodStrings(ms []sip.Method) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m))
	}
	return out
}

// With UseDomain the AOR is user@domain, so the same user in two domains
// is two AORs; without it, one.
func TestRegisterUseDomain(t *testing.T) {
	for _, useDomain := range []bool{false, true} {
		e := newEnv(t, registrar.Config{UseDomain: useDomain})
		p := newPhone(t, e.reg, "5002", "secret")
		rec, err := p.send(registerReq(t, "5002", "c", 1, "Contact: <sip:5002@10.0.0.5>"))
		if got := siptest.Code(rec, err); got != 200 {
			t.Fatalf("use_domain=%v: got %d (%v), want 200", useDomain, got, err)
		}
		want := "5002"
		if useDomain {
			want = "5002@voip.unisi.it"
		}
		all, _ := e.store.List(context.Background())
		if len(all) != 1 || all[0].AOR != want {
			t.Errorf("use_domain=%v: got %+v, want one binding under %q", useDomain, all, want)
		}
		u, _ := sip.ParseURI("sip:5002@VOIP.unisi.it")
		if got := e.reg.AOR(u); got != want {
			t.Errorf("use_domain=%v: AOR: got %q, want %q", useDomain, got, want)
		}
	}
}

// REGISTERs for one AOR from many goroutines: the per-AOR lock keeps
// MaxContacts exact.
func TestRegisterConcurrentMaxContacts(t *testing.T) {
	e := newEnv(t, registrar.Config{MaxContacts: 3})
	const n = 20
	codes := make(chan int, n)
	for i := range n {
		go func() {
			p := newPhone(t, e.reg, "5002", "secret")
			req := registerReq(t, "5002", "call-"+strconv.Itoa(i), 1,
				"Contact: <sip:5002@10.0.0.5:"+strconv.Itoa(6000+i)+">", "Expires: 120")
			rec, err := p.send(req)
			codes <- siptest.Code(rec, err)
		}()
	}
	ok := 0
	for range n {
		switch c := <-codes; c {
		case 200:
			ok++
		case 503:
		default:
			t.Errorf("got %d, want 200 or 503", c)
		}
	}
	list, _ := e.reg.Bindings(context.Background(), "5002")
	if ok != 3 || len(list) != 3 {
		t.Errorf("got %d accepted and %d bindings, want 3 and 3", ok, len(list))
	}
}

// A request that is not a REGISTER is not the registrar's to handle.
func TestRegisterWrongMethod(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	rec, err := siptest.Serve(context.Background(), e.reg, inviteReq(t, "5001", "5002"))
	if got := siptest.Code(rec, err); got != 405 {
		t.Errorf("got %d, want 405", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	store := registrar.NewMemStore()
	tests := []struct {
		name  string
		cfg   registrar.Config
		loc   registrar.Store
		subs  registrar.Subscribers
		error string
	}{
		{"nil location store", registrar.Config{}, nil, store, "nil location store"},
		{"nil subscribers", registrar.Config{}, store, nil, "nil subscriber store"},
		{"unknown algorithm", registrar.Config{Algorithms: []string{"MD5-sess"}}, store, store, `algorithm "MD5-sess"`},
		{"short secret", registrar.Config{Secret: []byte("short")}, store, store, "secret (config) of 5 bytes"},
		{"NotRegistered not 404 or 480", registrar.Config{NotRegistered: 486}, store, store, "NotRegistered 486"},
		{"UnknownUser not 404 or 480", registrar.Config{UnknownUser: 403}, store, store, "UnknownUser 403"},
		{"MaxExpires below MinExpires", registrar.Config{MaxExpires: 30 * time.Second}, store, store, "below MinExpires"},
		{"negative MaxContacts", registrar.Config{MaxContacts: -1}, store, store, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := registrar.New(tt.cfg, tt.loc, tt.subs)
			if err == nil {
				reg.Close()
				t.Fatalf("got no error, want one about %q", tt.error)
			}
			if !strings.HasPrefix(err.Error(), "registrar: ") || !strings.Contains(err.Error(), tt.error) {
				t.Errorf("got %q, want a registrar error about %q", err, tt.error)
			}
		})
	}
}

// A permanent binding (an operator's) is listed in the 200 with the
// largest expires there is, and a phone's REGISTER of the same contact
// makes it an ordinary, expiring one.
func TestRegisterListsPermanentBinding(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	ctx := context.Background()
	if err := e.reg.AddBinding(ctx, registrar.Binding{AOR: "5002", Contact: "sip:5002@172.20.1.26", Q: 1}); err != nil {
		t.Fatal(err)
	}
	p := newPhone(t, e.reg, "5002", "secret")
	rec, err := p.send(registerReq(t, "5002", "c1", 1))
	if got, want := contacts(rec), []string{"<sip:5002@172.20.1.26>;expires=4294967295"}; siptest.Code(rec, err) != 200 || !slices.Equal(got, want) {
		t.Errorf("got %d %q, want 200 %q", siptest.Code(rec, err), got, want)
	}
	rec, err = p.send(registerReq(t, "5002", "c1", 2, "Contact: <sip:5002@172.20.1.26>", "Expires: 120"))
	if got, want := contacts(rec), []string{"<sip:5002@172.20.1.26>;expires=120"}; siptest.Code(rec, err) != 200 || !slices.Equal(got, want) {
		t.Errorf("got %d %q, want 200 %q", siptest.Code(rec, err), got, want)
	}
}

// With UseDomain and a fixed realm, an account may register only AORs of
// its own domain.
func TestRegisterUseDomainIdentity(t *testing.T) {
	e := newEnv(t, registrar.Config{UseDomain: true, Realm: domain})
	p := newPhone(t, e.reg, "5002", "secret")
	req := request(t, "10.0.0.5:5060", "REGISTER sip:other.example SIP/2.0",
		"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKud1", "From: <sip:5002@other.example>;tag=1",
		"To: <sip:5002@other.example>", "Call-ID: ud1", "CSeq: 1 REGISTER", "Contact: <sip:5002@10.0.0.5>")
	rec, err := p.send(req)
	if got := siptest.Code(rec, err); got != 403 || !reasonLogged(e.logs.String(), registrar.ReasonIdentityMismatch) {
		t.Errorf("got %d, log %q; want 403 with reason=identity-mismatch", got, e.logs.String())
	}
	rec, err = p.send(registerReq(t, "5002", "c1", 2, "Contact: <sip:5002@10.0.0.5>"))
	if got := siptest.Code(rec, err); got != 200 {
		t.Errorf("own domain: got %d (%v), want 200", got, err)
	}
}

// TestRegisterDebugLine: the Debug line of a REGISTER carries the status
// it was answered with: 200 for an accepted one, the rejection's code
// otherwise.
func TestRegisterDebugLine(t *testing.T) {
	var logs logBuffer
	e := newEnv(t, registrar.Config{}, registrar.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	p := newPhone(t, e.reg, "5002", "secret")
	req := registerReq(t, "5002", "call-dbg", 1, "Contact: <sip:5002@192.168.1.20:5060>", "Expires: 600")
	if rec, err := p.send(req); siptest.Code(rec, err) != 200 {
		t.Fatalf("got %d (%v), want 200", siptest.Code(rec, err), err)
	}
	out := logs.String()
	if !strings.Contains(out, `msg="registrar: REGISTER" aor=5002`) || !strings.Contains(out, "result=accepted") || !strings.Contains(out, "status=200") {
		t.Errorf("got log %q, want the REGISTER line with result=accepted status=200", out)
	}
	if strings.Contains(out, "status=0") {
		t.Errorf("got log %q, with status=0", out)
	}
}
