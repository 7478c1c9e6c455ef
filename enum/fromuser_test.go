package enum

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// callerZone maps callers' numbers to the hosts they call from.
const callerZone = `
1.1.1.1.1.1.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 10 "u" "E2U+sip" "!^\\+39(.*)$!sip:\\1@pbx.caller.test!" .
pbx.caller.test. 300 IN A 127.0.0.1

2.2.2.2.2.2.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:x@other.caller.test!" .
other.caller.test. 300 IN A 192.0.2.9

3.3.3.3.3.3.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:x@192.0.2.7!" .
3.3.3.3.3.3.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 20 "u" "E2U+sip" "!^.*$!sip:x@127.0.0.1:5080;transport=tcp!" .

4.4.4.4.4.4.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:x@v6.caller.test!" .
v6.caller.test. 300 IN AAAA ::1

5.5.5.5.5.5.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:x@alias.caller.test!" .
alias.caller.test. 300 IN CNAME pbx.caller.test.

6.6.6.6.6.6.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:x@slow.caller.test!" .
slow.caller.test. 300 IN A 127.0.0.1
`

func TestCheckCaller(t *testing.T) {
	tests := []struct {
		name    string
		from    string
		source  string
		strict  bool
		want    Outcome
		wantURI string
		trusted bool
		wantErr bool
	}{
		{name: "strict: host resolves to the source", from: "+390577111111", source: "127.0.0.1:5070", strict: true,
			want: OutcomeVerified, wantURI: "sip:0577111111@pbx.caller.test", trusted: true},
		{name: "strict: national form normalised", from: "0577111111", source: "127.0.0.1:5070", strict: true,
			want: OutcomeVerified, wantURI: "sip:0577111111@pbx.caller.test", trusted: true},
		{name: "strict: another host", from: "+390577222222", source: "127.0.0.1:5070", strict: true, want: OutcomeMismatch},
		{name: "exists: another host is fine", from: "+390577222222", source: "127.0.0.1:5070",
			want: OutcomeFound, wantURI: "sip:x@other.caller.test", trusted: true},
		{name: "strict: IP literal in the second URI, port ignored", from: "+390577333333", source: "127.0.0.1:5070", strict: true,
			want: OutcomeVerified, wantURI: "sip:x@127.0.0.1:5080;transport=tcp", trusted: true},
		{name: "strict: IPv6 source, AAAA", from: "+390577444444", source: "[::1]:5070", strict: true,
			want: OutcomeVerified, wantURI: "sip:x@v6.caller.test", trusted: true},
		{name: "strict: IPv4 source, host has only AAAA", from: "+390577444444", source: "127.0.0.1:5070", strict: true, want: OutcomeMismatch},
		{name: "strict: CNAME", from: "+390577555555", source: "127.0.0.1:5070", strict: true,
			want: OutcomeVerified, wantURI: "sip:x@alias.caller.test", trusted: true},
		{name: "strict: host lookup times out", from: "+390577666666", source: "127.0.0.1:5070", strict: true, want: OutcomeError, wantErr: true},
		{name: "not in ENUM", from: "+390577999999", source: "127.0.0.1:5070", strict: true, want: OutcomeNotFound},
		{name: "not E.164", from: "alice", source: "127.0.0.1:5070", want: OutcomeNotE164},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newDNSServer(t, callerZone)
			srv.setSlow("slow.caller.test.", 10*time.Second)
			r := newTestResolver(t, Config{Numbering: italy, Timeout: 200 * time.Millisecond}, srv)
			req := siptest.NewRequest(sip.INVITE, "sip:5002@unisi.it")
			req.From().Address.User = tt.from
			req.SetSource(tt.source)
			start := time.Now()
			c, err := r.CheckCaller(context.Background(), req, tt.strict)
			if d := time.Since(start); d > time.Second {
				t.Errorf("the check took %v", d)
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("got error %v, want one: %v", err, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v, want a timeout", err)
			}
			if c.Outcome != tt.want || c.URI != tt.wantURI || c.Trusted() != tt.trusted || c.Strict != tt.strict || c.User != tt.from {
				t.Errorf("got %+v (trusted %v), want outcome %q, URI %q, trusted %v", c, c.Trusted(), tt.want, tt.wantURI, tt.trusted)
			}
		})
	}
}

// Host addresses are cached like NAPTRs.
func TestCheckCallerCachesAddresses(t *testing.T) {
	srv := newDNSServer(t, callerZone)
	r := newTestResolver(t, Config{}, srv)
	req := siptest.NewRequest(sip.INVITE, "sip:5002@unisi.it")
	req.From().Address.User = "+390577111111"
	for range 3 {
		if c, err := r.CheckCaller(context.Background(), req, true); err != nil || c.Outcome != OutcomeVerified {
			t.Fatalf("got %+v, %v", c, err)
		}
	}
	if n := srv.count("udp", "pbx.caller.test.", dns.TypeA); n != 1 {
		t.Errorf("got %d A queries, want 1", n)
	}
}

// The stage records the verdict and always passes the request on.
func TestFromUserStage(t *testing.T) {
	srv := newDNSServer(t, callerZone)
	r := newTestResolver(t, Config{}, srv)
	tests := []struct {
		from    string
		trusted bool
	}{
		{"+390577111111", true},
		{"+390577222222", false},
		{"5001", false},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			var got *Caller
			next := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) error {
				got, _ = CallerFrom(ctx)
				return w.WriteResponse(sip.NewResponse(req, 200, ""))
			})
			req := siptest.NewRequest(sip.INVITE, "sip:5002@unisi.it")
			req.From().Address.User = tt.from
			rec, err := siptest.Serve(context.Background(), r.FromUser(true)(next), req)
			if code := siptest.Code(rec, err); code != 200 {
				t.Fatalf("got %d, want the request passed on", code)
			}
			if got == nil || got.Trusted() != tt.trusted || got.User != tt.from {
				t.Errorf("got caller %+v, want trusted %v", got, tt.trusted)
			}
		})
	}
}
