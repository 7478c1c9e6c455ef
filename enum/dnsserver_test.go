package enum

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testSOA is the SOA of the test zones: negative answers may be cached for
// min(TTL 3600, MINIMUM 60) = 60 s (RFC 2308 §5).
const testSOA = "e164.arpa. 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60"

// dnsServer is an in-process authoritative DNS server on 127.0.0.1, UDP and
// TCP on the same port, answering from a zone given as text.
type dnsServer struct {
	t    testing.TB
	addr string
	udp  *dns.Server
	tcp  *dns.Server
	stop chan struct{}

	mu       sync.Mutex
	zone     map[string][]dns.RR // by lower-case owner name
	soa      dns.RR
	slow     map[string]time.Duration // names answered late
	truncate map[string]bool          // names whose UDP answers carry TC and no records
	rcode    map[string]int           // names answered with this rcode
	queries  map[string]int           // "udp NAME TYPE" → count
}

// newDNSServer starts a server for the zone text (one RR a line, in
// master-file form) and stops it when the test ends.
func newDNSServer(t testing.TB, zone string) *dnsServer {
	t.Helper()
	s := &dnsServer{
		t:        t,
		stop:     make(chan struct{}),
		zone:     map[string][]dns.RR{},
		slow:     map[string]time.Duration{},
		truncate: map[string]bool{},
		rcode:    map[string]int{},
		queries:  map[string]int{},
	}
	soa, err := dns.NewRR(testSOA)
	if err != nil {
		t.Fatal(err)
	}
	s.soa = soa
	s.add(zone)

	var pc net.PacketConn
	var ln net.Listener
	for range 20 { // the TCP port must equal the UDP one
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("no port free for UDP and TCP: %v", err)
	}
	s.addr = pc.LocalAddr().String()
	var wg sync.WaitGroup
	wg.Add(2)
	s.udp = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: wg.Done}
	s.tcp = &dns.Server{Listener: ln, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: wg.Done}
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	wg.Wait()
	t.Cleanup(s.close)
	return s
}

func (s *dnsServer) close() {
	close(s.stop)
	s.udp.Shutdown()
	s.tcp.Shutdown()
}

// add adds the records of zone text.
func (s *dnsServer) add(zone string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for line := range strings.Lines(zone) {
		if line = strings.TrimSpace(line); line == "" || line[0] == ';' {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			s.t.Fatalf("zone line %q: %v", line, err)
		}
		name := strings.ToLower(rr.Header().Name)
		s.zone[name] = append(s.zone[name], rr)
	}
}

func (s *dnsServer) setSlow(name string, d time.Duration) {
	s.mu.Lock()
	s.slow[name] = d
	s.mu.Unlock()
}

func (s *dnsServer) setTruncate(name string) {
	s.mu.Lock()
	s.truncate[name] = true
	s.mu.Unlock()
}

func (s *dnsServer) setRcode(name string, rcode int) {
	s.mu.Lock()
	s.rcode[name] = rcode
	s.mu.Unlock()
}

// count returns how many queries for name of type qtype came over network
// ("udp" or "tcp").
func (s *dnsServer) count(network, name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[network+" "+name+" "+dns.TypeToString[qtype]]
}

func (s *dnsServer) serve(w dns.ResponseWriter, r *dns.Msg) {
	network := "udp"
	if _, ok := w.LocalAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)

	s.mu.Lock()
	s.queries[network+" "+name+" "+dns.TypeToString[q.Qtype]]++
	delay := s.slow[name]
	truncate := s.truncate[name] && network == "udp"
	rcode, failing := s.rcode[name]
	rrs, exists := s.zone[name]
	s.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-s.stop:
			return
		}
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	switch {
	case failing:
		m.Rcode = rcode
	case !exists:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{s.soa}
	case truncate:
		m.Truncated = true
	default:
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
				m.Answer = append(m.Answer, rr)
			}
		}
		if len(m.Answer) == 0 {
			m.Ns = []dns.RR{s.soa}
		}
	}
	w.WriteMsg(m)
}
