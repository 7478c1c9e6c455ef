package enum

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeClock is a clock the tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// The cache serves answers for their TTL, positive and negative, and asks
// the DNS again after.
func TestCacheTTL(t *testing.T) {
	const (
		positive = "+39021111" // TTL 30 s
		negative = "+39061111" // NXDOMAIN: SOA TTL 3600, MINIMUM 60
		mailOnly = "+39061234" // records, none usable: their TTL, 90 s
		nodata   = "+39065555" // NODATA: as NXDOMAIN, 60 s
	)
	tests := []struct {
		name    string
		number  string
		ttl     time.Duration
		wantErr error
	}{
		{name: "positive answer for the record TTL", number: positive, ttl: 30 * time.Second},
		{name: "NXDOMAIN for the SOA minimum", number: negative, ttl: 60 * time.Second, wantErr: ErrNotFound},
		{name: "NODATA for the SOA minimum", number: nodata, ttl: 60 * time.Second, wantErr: ErrNotFound},
		{name: "nothing usable for the record TTL", number: mailOnly, ttl: 90 * time.Second, wantErr: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newDNSServer(t, testZone)
			clock := newFakeClock()
			r, err := New(Config{Servers: []string{srv.addr}}, WithClock(clock.Now))
			if err != nil {
				t.Fatal(err)
			}
			name := QueryName(tt.number, DefaultSuffix)
			lookup := func(wantHit bool) {
				t.Helper()
				_, hit, err := r.lookup(context.Background(), tt.number)
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				if hit != wantHit {
					t.Fatalf("got cache hit %v, want %v", hit, wantHit)
				}
			}
			lookup(false)
			clock.Advance(tt.ttl - time.Second)
			lookup(true)
			if got := srv.count("udp", name, dns.TypeNAPTR); got != 1 {
				t.Errorf("got %d queries within the TTL, want 1", got)
			}
			clock.Advance(time.Second)
			lookup(false)
			if got := srv.count("udp", name, dns.TypeNAPTR); got != 2 {
				t.Errorf("got %d queries after the TTL, want 2", got)
			}
		})
	}
}

// A hit reports the time left as the TTL, and hands out a copy.
func TestCacheHitResults(t *testing.T) {
	srv := newDNSServer(t, testZone)
	clock := newFakeClock()
	r, err := New(Config{Servers: []string{srv.addr}}, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	first, err := r.Lookup(context.Background(), "+39021111")
	if err != nil {
		t.Fatal(err)
	}
	first[0].URI = "sip:scribbled@over"
	clock.Advance(10 * time.Second)
	again, err := r.Lookup(context.Background(), "+39021111")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := again[0].URI, "sip:021111@milano.test"; got != want {
		t.Errorf("got %q, want %q: the caller's slice is the cache's", got, want)
	}
	if got, want := again[0].TTL, 20*time.Second; got != want {
		t.Errorf("got TTL %v, want %v", got, want)
	}
}

// MaxTTL caps long TTLs; TTL 0 and negative answers without SOA are not
// cached; a negative CacheSize disables the cache.
func TestCacheLimits(t *testing.T) {
	srv := newDNSServer(t, `
1.1.1.1.7.0.9.3.e164.arpa. 86400 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:long@t!" .
2.2.2.2.7.0.9.3.e164.arpa. 0 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:zero@t!" .
`)
	tests := []struct {
		name      string
		cfg       Config
		number    string
		advance   time.Duration
		wantQuery int // queries after two lookups advance apart
	}{
		{name: "long TTL capped by MaxTTL", cfg: Config{MaxTTL: time.Minute}, number: "+39071111", advance: time.Minute, wantQuery: 2},
		{name: "long TTL within MaxTTL", cfg: Config{MaxTTL: time.Minute}, number: "+39071111", advance: 59 * time.Second, wantQuery: 1},
		{name: "TTL 0 not cached", cfg: Config{}, number: "+39072222", wantQuery: 2},
		{name: "cache disabled", cfg: Config{CacheSize: -1}, number: "+39071111", wantQuery: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			tt.cfg.Servers = []string{srv.addr}
			r, err := New(tt.cfg, WithClock(clock.Now))
			if err != nil {
				t.Fatal(err)
			}
			name := QueryName(tt.number, DefaultSuffix)
			before := srv.count("udp", name, dns.TypeNAPTR)
			for range 2 {
				if _, err := r.Lookup(context.Background(), tt.number); err != nil {
					t.Fatal(err)
				}
				clock.Advance(tt.advance)
			}
			if got := srv.count("udp", name, dns.TypeNAPTR) - before; got != tt.wantQuery {
				t.Errorf("got %d queries, want %d", got, tt.wantQuery)
			}
		})
	}
}

func TestNegativeWithoutSOANotCached(t *testing.T) {
	m := new(dns.Msg)
	m.Rcode = dns.RcodeNameError
	if got := negativeTTL(m); got != 0 {
		t.Errorf("got %d, want 0 (no SOA, RFC 2308 §5)", got)
	}
	soa, _ := dns.NewRR("e164.arpa. 30 IN SOA ns. h. 1 2 3 4 600")
	m.Ns = []dns.RR{soa}
	if got := negativeTTL(m); got != 30 {
		t.Errorf("got %d, want 30 (the SOA TTL, below its MINIMUM)", got)
	}
}
