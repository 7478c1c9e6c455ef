package sip_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/palio-voip/palio/sip"
)

// TestRunDry: the dry run keeps each stage's decision, the request and
// targets that reached the terminal, and the outcome; a refusal is the
// outcome, another error is returned with what was traced.
func TestRunDry(t *testing.T) {
	rewrite := func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			call := sip.CallFrom(ctx)
			call.Trace("rewrite", sip.Note("0577123456 -> 00577123456"))
			r2 := r.Clone()
			r2.Recipient.User = "00577123456"
			gw := sip.Target{URI: sip.URI{Scheme: "sip", User: "00577123456", Host: "198.51.100.11", Port: 5060}, Gateway: "gw-siena-1"}
			ph := sip.Target{URI: sip.URI{Scheme: "sip", User: "5003", Host: "10.0.0.3"}, NextHop: "192.0.2.3:5062"}
			return next.ServeSIP(sip.WithTargets(ctx, gw, ph), w, r2)
		})
	}
	refuse := func(sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			sip.CallFrom(ctx).Trace("class", sip.Note("mobile not allowed"))
			return sip.Reject(403, "Forbidden: class not allowed")
		})
	}
	broken := func(sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			sip.CallFrom(ctx).Trace("store", sip.Note("reading"))
			return errors.New("database is locked")
		})
	}
	tests := []struct {
		name    string
		mw      sip.Middleware
		text    string
		refused bool
		err     string
	}{
		{"forwarded", rewrite, "rewrite\t0577123456 -> 00577123456\nrequest\tINVITE sip:00577123456@voip.unisi.it\n" +
			"target\t1\tsip:00577123456@198.51.100.11:5060\tgw-siena-1\ntarget\t2\tsip:5003@10.0.0.3 via 192.0.2.3:5062\t-\n" +
			"result\t200 OK (dry run: would forward)\n", false, ""},
		{"refused", refuse, "class\tmobile not allowed\nresult\t403 Forbidden: class not allowed\n", true, ""},
		{"failed", broken, "store\treading\nresult\t0 \n", false, "database is locked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := sip.NewDryRunInvite("0577123456", "5002", "voip.unisi.it", "172.20.1.26:5060")
			if err != nil {
				t.Fatal(err)
			}
			d, err := sip.RunDry(context.Background(), tt.mw, req)
			if (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
				t.Fatalf("got error %v, want %q", err, tt.err)
			}
			if got := d.String(); got != tt.text {
				t.Errorf("got\n%s\nwant\n%s", got, tt.text)
			}
			if d.Refused != tt.refused || d.Forwarded() != (tt.name == "forwarded") {
				t.Errorf("refused %v forwarded %v", d.Refused, d.Forwarded())
			}
		})
	}
}

// TestDryRunInvite: the synthetic INVITE is from the caller to the number
// in the domain, received from the source; a source without a port is
// refused.
func TestDryRunInvite(t *testing.T) {
	req, err := sip.NewDryRunInvite("5003", "5002", "voip.unisi.it", "198.51.100.11:5070")
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Recipient.String(); got != "sip:5003@voip.unisi.it" {
		t.Errorf("Request-URI %s", got)
	}
	if req.From().Address.User != "5002" || req.Source() != "198.51.100.11:5070" || req.Transport() != "UDP" || !strings.HasPrefix(req.CallID().Value(), "route-") {
		t.Errorf("request:\n%s", req)
	}
	for _, src := range []string{"campus", "198.51.100.11", "198.51.100.11:0", "198.51.100.11:http"} {
		if _, err := sip.NewDryRunInvite("5003", "5002", "voip.unisi.it", src); err == nil {
			t.Errorf("source %q: no error", src)
		}
	}
}
