package dialplan

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// capture is a next handler that records what reached it.
type capture struct {
	called bool
	res    Result
	ok     bool
	ruri   string
	toUser string
}

func (c *capture) ServeSIP(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
	c.called = true
	c.res, c.ok = ResultFrom(ctx)
	c.ruri = r.Recipient.User
	c.toUser = r.To().Address.User
	return w.WriteResponse(sip.NewResponse(r, 200, ""))
}

func newPlan(t *testing.T, cfg Config, rules ...Rule) *Plan {
	t.Helper()
	p, err := New(cfg, NewMemStore(rules...), WithClock(func() time.Time { return monday }))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStageRewritesRequestURIUser(t *testing.T) {
	p := newPlan(t, Config{}, with(re(1, 1, "^0577", "national"), func(r *Rule) {
		r.SubstExp, r.ReplExp = `^0(577)(.*)$`, `+39\1\2`
	}))
	next := &capture{}
	req := siptest.NewRequest(sip.INVITE, "sip:0577232111@voip.unisi.it")
	rec, err := siptest.Serve(context.Background(), p.Wrap(next), req)
	if code := siptest.Code(rec, err); code != 200 {
		t.Fatalf("got status %d (err %v), want 200", code, err)
	}
	want := Result{RuleID: 1, Input: "0577232111", Output: "+39577232111", Attrs: "national"}
	if !next.ok || next.res != want {
		t.Errorf("ResultFrom in next: got %+v, %v; want %+v, true", next.res, next.ok, want)
	}
	if next.ruri != "+39577232111" {
		t.Errorf("R-URI user seen by next: got %q, want %q", next.ruri, "+39577232111")
	}
	if next.toUser != "0577232111" {
		t.Errorf("To user: got %q, want it unchanged, %q", next.toUser, "0577232111")
	}
}

func TestStageRejects(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		code       int
		reason     string
		wantReason string // as the edge would send it
	}{
		{"default", Config{}, 420, "Invalid Destination", "Invalid Destination"},
		{"custom code and reason", Config{RejectCode: 404, RejectReason: "No Route"}, 404, "No Route", "No Route"},
		{"custom code, standard phrase", Config{RejectCode: 484}, 484, "", "Address Incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlan(t, tt.cfg, re(1, 1, "^5", "voip"))
			next := &capture{}
			_, err := siptest.Serve(context.Background(), p.Wrap(next), siptest.NewRequest(sip.INVITE, "sip:999@voip.unisi.it"))
			se, ok := sip.AsStatus(err)
			if !ok || se.Code != tt.code || se.Reason != tt.reason {
				t.Fatalf("got %v, want a StatusError %d %q", err, tt.code, tt.reason)
			}
			if got := se.Error(); got != "sip: "+strconv.Itoa(tt.code)+" "+tt.wantReason {
				t.Errorf("Error() = %q, want %q", got, "sip: "+strconv.Itoa(tt.code)+" "+tt.wantReason)
			}
			if next.called {
				t.Errorf("next was called for a number that matches no rule")
			}
			se.Reason = "changed by a caller"
			_, err = siptest.Serve(context.Background(), p.Wrap(next), siptest.NewRequest(sip.INVITE, "sip:998@voip.unisi.it"))
			if se2, _ := sip.AsStatus(err); se2 == nil || se2.Reason != tt.reason {
				t.Errorf("second rejection: got %v, want reason %q (each rejection is a fresh error)", err, tt.reason)
			}
		})
	}
}

func TestStageSubstFailureRejects(t *testing.T) {
	p := newPlan(t, Config{}, with(re(1, 1, "^0", "x"), func(r *Rule) { r.SubstExp, r.ReplExp = `^9(.*)`, `\1` }))
	_, err := siptest.Serve(context.Background(), p.Wrap(&capture{}), siptest.NewRequest(sip.INVITE, "sip:0577@voip.unisi.it"))
	if code := sip.StatusOf(err); code != 420 {
		t.Errorf("got %d (%v), want 420", code, err)
	}
}

func TestStageToUserIsClassifiedNotRewritten(t *testing.T) {
	p := newPlan(t, Config{Field: ToUser}, with(re(1, 1, "^88", "media"), func(r *Rule) { r.ReplExp = "IVR_MAIN" }))
	req := siptest.NewRequest(sip.INVITE, "sip:5002@voip.unisi.it")
	req.To().Address.User = "88100"
	next := &capture{}
	if _, err := siptest.Serve(context.Background(), p.Wrap(next), req); err != nil {
		t.Fatal(err)
	}
	want := Result{RuleID: 1, Input: "88100", Output: "IVR_MAIN", Attrs: "media"}
	if next.res != want {
		t.Errorf("result: got %+v, want %+v", next.res, want)
	}
	if next.toUser != "88100" || next.ruri != "5002" {
		t.Errorf("To user %q, R-URI user %q; want both unchanged (88100, 5002)", next.toUser, next.ruri)
	}
}

func TestStageCustomField(t *testing.T) {
	// Translate the R-URI host instead, as a site could for domain aliases.
	host := Field{
		Name: "ruri-host",
		Get:  func(r *sip.Request) string { return r.Recipient.Host },
		Set:  func(r *sip.Request, v string) { r.Recipient.Host = v },
	}
	p := newPlan(t, Config{Field: host, DPID: 7}, with(eq(1, 1, "unisi.it", "alias"), func(r *Rule) {
		r.DPID, r.ReplExp = 7, "voip.unisi.it"
	}))
	req := siptest.NewRequest(sip.INVITE, "sip:5002@unisi.it")
	if _, err := siptest.Serve(context.Background(), p.Wrap(&capture{}), req); err != nil {
		t.Fatal(err)
	}
	if req.Recipient.Host != "voip.unisi.it" {
		t.Errorf("R-URI host: got %q, want voip.unisi.it", req.Recipient.Host)
	}
}

func TestStageDebugLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := New(Config{}, NewMemStore(re(1, 1, "^5", "voip")), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	req := siptest.NewRequest(sip.INVITE, "sip:999@voip.unisi.it")
	siptest.Serve(context.Background(), p.Wrap(&capture{}), req)
	out := buf.String()
	for _, want := range []string{"dialplan: no translation", "callid=" + req.CallID().Value(), "input=999", "status=420"} {
		if !strings.Contains(out, want) {
			t.Errorf("debug log %q does not contain %q", out, want)
		}
	}
}
