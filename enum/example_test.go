package enum_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/miekg/dns"
	"github.com/palio-voip/palio/enum"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// The Italian numbering plan keeps the trunk prefix 0 in the international
// form; the British one drops it.
func ExampleNumbering_Normalize() {
	italy := enum.Numbering{CountryCode: "39", NationalPrefix: "0", InternationalPrefix: "00", KeepNationalPrefix: true, NationalMinDigits: 9}
	uk := enum.Numbering{CountryCode: "44", NationalPrefix: "0", InternationalPrefix: "00"}
	show := func(plan enum.Numbering, number string) {
		if e164, ok := plan.Normalize(number); ok {
			fmt.Printf("%s is %s\n", number, e164)
		} else {
			fmt.Printf("%s is not E.164\n", number)
		}
	}
	show(italy, "0577 232111")
	show(italy, "0044 20 7946 0000")
	show(italy, "335 1234567")
	show(italy, "+39 0577 232111")
	show(italy, "5002")
	show(uk, "020 7946 0000")
	// Output:
	// 0577 232111 is +390577232111
	// 0044 20 7946 0000 is +442079460000
	// 335 1234567 is +393351234567
	// +39 0577 232111 is +390577232111
	// 5002 is not E.164
	// 020 7946 0000 is +442079460000
}

// A lookup against an authoritative server (started here in-process; in
// production, Config.Servers names the site's resolvers, or is left empty
// for /etc/resolv.conf).
func ExampleResolver_Lookup() {
	addr, stop := serveZone(`
1.1.1.2.3.2.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 20 "u" "E2U+sip" "!^\\+39(.*)$!sip:\\1@gw.unisi.test!" .
1.1.1.2.3.2.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:centralino@voip.unisi.test!" .
1.1.1.2.3.2.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 30 "u" "E2U+mailto" "!^.*$!mailto:info@unisi.test!" .
`)
	defer stop()
	r, err := enum.New(enum.Config{Servers: []string{addr}})
	if err != nil {
		fmt.Println(err)
		return
	}
	results, err := r.Lookup(context.Background(), "+390577232111")
	for _, res := range results {
		fmt.Println(res)
	}
	_, err = r.Lookup(context.Background(), "+390612345678")
	fmt.Println(errors.Is(err, enum.ErrNotFound))
	// Output:
	// order=100 pref=10 sip:centralino@voip.unisi.test
	// order=100 pref=20 sip:0577232111@gw.unisi.test
	// true
}

// The Query stage rewrites the Request-URI of calls to numbers in ENUM and
// passes the others on unchanged, to the PSTN routing.
func ExampleResolver_Query() {
	addr, stop := serveZone(`
1.1.1.2.3.2.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 10 "u" "E2U+sip" "!^\\+39(.*)$!sip:\\1@voip.unisi.test!" .
`)
	defer stop()
	r, err := enum.New(enum.Config{
		Servers:   []string{addr},
		Numbering: enum.Numbering{CountryCode: "39", NationalPrefix: "0", InternationalPrefix: "00", KeepNationalPrefix: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	forward := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) error {
		d, _ := enum.DecisionFrom(ctx)
		fmt.Printf("%s -> %s (%s)\n", d.Input, req.Recipient.String(), d.Outcome)
		return w.WriteResponse(sip.NewResponse(req, 200, ""))
	})
	pipeline := sip.Chain(r.Query(enum.QueryConfig{}))(forward)
	for _, number := range []string{"0577232111", "0612345678", "5002"} {
		siptest.Serve(context.Background(), pipeline, siptest.NewRequest(sip.INVITE, "sip:"+number+"@unisi.it"))
	}
	// Output:
	// 0577232111 -> sip:0577232111@voip.unisi.test (found)
	// 0612345678 -> sip:0612345678@unisi.it (not_found)
	// 5002 -> sip:5002@unisi.it (not_e164)
}

// serveZone serves a zone (master-file lines) over UDP on 127.0.0.1 until
// stop is called: NXDOMAIN, with an SOA, for names it does not have.
func serveZone(zone string) (addr string, stop func()) {
	soa, _ := dns.NewRR("e164.arpa. 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60")
	rrs := map[string][]dns.RR{}
	for _, line := range strings.Split(strings.TrimSpace(zone), "\n") {
		rr, err := dns.NewRR(line)
		if err != nil {
			panic(err)
		}
		rrs[rr.Header().Name] = append(rrs[rr.Header().Name], rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(q)
			m.Authoritative = true
			if have, ok := rrs[q.Question[0].Name]; ok {
				m.Answer = have
			} else {
				m.Rcode, m.Ns = dns.RcodeNameError, []dns.RR{soa}
			}
			w.WriteMsg(m)
		})}
	go srv.ActivateAndServe()
	<-started
	return pc.LocalAddr().String(), func() { srv.Shutdown() }
}
