package destination_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/palio-voip/palio/destination"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/enum"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// enumServer is a DNS server on loopback answering NAPTR queries from
// records, by owner name.
func enumServer(t *testing.T, records ...string) string {
	t.Helper()
	zone := map[string][]dns.RR{}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.ToLower(rr.Header().Name)
		zone[name] = append(zone[name], rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		if rrs, ok := zone[strings.ToLower(q.Question[0].Name)]; ok {
			m.Answer = rrs
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestENUMPassesTheClassCheck: a number in ENUM goes to its URI instead
// of the gateway, but only for a caller who may call that number at all;
// a number not in ENUM goes to the gateway.
func TestENUMPassesTheClassCheck(t *testing.T) {
	// +44 20 7946 0000 is in ENUM; +39 0577 999999 is not.
	dnsAddr := enumServer(t,
		`0.0.0.0.6.4.9.7.0.2.4.4.e164.arpa. 60 IN NAPTR 10 10 "u" "E2U+sip" "!^.*$!sip:info@voip.example.co.uk!" .`)
	resolver, err := enum.New(enum.Config{Servers: []string{dnsAddr},
		Numbering: enum.Numbering{CountryCode: "39", NationalPrefix: "0", InternationalPrefix: "00", KeepNationalPrefix: true}})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := dialplan.New(dialplan.Config{}, dialplan.NewMemStore(
		dialplan.Rule{ID: 2, MatchOp: dialplan.Regex, MatchExp: "^0[1-9][0-9]+$", Attrs: "national"},
		dialplan.Rule{ID: 3, MatchOp: dialplan.Regex, MatchExp: "^00[1-9][0-9]+$", Attrs: "international"},
	))
	if err != nil {
		t.Fatal(err)
	}
	router, err := routing.New(routing.Config{VolatileState: true}, routing.NewMemStore(routing.Data{
		Gateways: []routing.Gateway{{ID: 1, GWID: "gw1", Address: "198.51.100.1:5060"}},
		Rules:    []routing.Rule{{ID: 1, Groups: "0", Prefix: "0", GWList: "gw1"}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(router.Close)
	dest, err := destination.New(destination.Config{
		Plan: plan,
		Class: permission.Class(permission.ClassConfig{Required: permission.UniSIClasses,
			Caller: func(ctx context.Context) ([]string, bool) {
				id, ok := registrar.IdentityFrom(ctx)
				return id.Subscriber.Classes, ok
			}}),
		LocalClasses: []string{},
		ENUM:         resolver,
		Router:       router,
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, number string
		classes      []string
		want         int
		target       string
	}{
		{"in ENUM", "00442079460000", []string{"international"}, 200, "sip:info@voip.example.co.uk"},
		{"in ENUM, but the caller may not call abroad", "00442079460000", []string{"national"}, 403, ""},
		{"not in ENUM: the gateway", "0577999999", []string{"national"}, 200, "sip:0577999999@198.51.100.1:5060"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &forwarder{}
			req := siptest.NewRequest(sip.INVITE, "sip:"+tt.number+"@"+domain)
			ctx := registrar.NewContext(context.Background(), registrar.Identity{Username: "5001", Domain: domain,
				Subscriber: registrar.Subscriber{Username: "5001", Classes: tt.classes}})
			rec, err := siptest.Serve(ctx, dest.Wrap(f), req)
			if got := siptest.Code(rec, err); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
			if tt.target != "" && (len(f.targets) != 1 || f.targets[0].URI.String() != tt.target) {
				t.Errorf("targets: got %v, want %s", f.targets, tt.target)
			}
		})
	}
}
