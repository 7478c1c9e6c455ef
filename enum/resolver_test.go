package enum

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// testZone is the ENUM data of the tests, in master-file form: as in a
// zone file, a backslash in a regexp is written \\ (the presentation
// escape of RFC 1035 §5.1).
const testZone = `
; +39 0577 232111, the UniSI switchboard: three SIP records of different
; order and preference, a legacy service name, a non-SIP service to
; ignore, and a record whose regexp does not match the number.
1.1.1.2.3.2.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 20 "u" "E2U+sip" "!^\\+39(.*)$!sip:\\1@gw2.unisi.test!" .
1.1.1.2.3.2.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:centralino@voip.unisi.test!" .
1.1.1.2.3.2.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 50 90 "u" "sip+E2U" "!^\\+(.*)$!sip:+\\1@legacy.test!" .
1.1.1.2.3.2.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 10 10 "u" "E2U+mailto" "!^.*$!mailto:info@unisi.test!" .
1.1.1.2.3.2.7.7.5.0.9.3.e164.arpa. 300 IN NAPTR 200 10 "u" "E2U+sip" "!^\\+44(.*)$!sip:\\1@uk.test!" .

; +44 20 7946 0000: a non-terminal record leading to another domain.
0.0.0.0.6.4.9.7.0.2.4.4.e164.arpa. 600 IN NAPTR 100 10 "" "" "" uk.enum.test.
uk.enum.test. 120 IN NAPTR 100 10 "u" "E2U+sip" "!^\\+44(.*)$!sip:\\1@london.test!" .

; +39 06 1234: only a mail service: the number is "not in ENUM" for SIP.
4.3.2.1.6.0.9.3.e164.arpa. 90 IN NAPTR 100 10 "u" "E2U+mailto" "!^.*$!mailto:roma@test!" .

; +39 06 5555: a name with no NAPTR (NODATA).
5.5.5.5.6.0.9.3.e164.arpa. 300 IN TXT "nothing here"

; +39 06 7777: other delimiters, the i flag, a compound service.
7.7.7.7.6.0.9.3.e164.arpa. 300 IN NAPTR 10 10 "U" "E2U+voice:tel+sip" "/^\\+39(06)(.*)$/sip:\\2@rome.test;area=\\1/i" .
7.7.7.7.6.0.9.3.e164.arpa. 300 IN NAPTR 20 10 "u" "E2U+sip" "#^\\+39.*$#sip:hash\\#delim@rome.test#" .
7.7.7.7.6.0.9.3.e164.arpa. 300 IN NAPTR 30 10 "u" "E2U+sip" "!broken(!sip:x@y!" .

; +39 06 8888: a loop of non-terminal records (followed once each).
8.8.8.8.6.0.9.3.e164.arpa. 300 IN NAPTR 100 10 "" "E2U" "" loop1.test.
loop1.test. 300 IN NAPTR 100 10 "" "" "" loop2.test.
loop2.test. 300 IN NAPTR 100 10 "" "" "" loop1.test.
loop2.test. 300 IN NAPTR 200 10 "u" "E2U+sip" "!^.*$!sip:loop@end.test!" .

; +39 06 9999: a chain three non-terminal records deep.
9.9.9.9.6.0.9.3.e164.arpa. 300 IN NAPTR 100 10 "" "" "" d1.test.
d1.test. 300 IN NAPTR 100 10 "" "" "" d2.test.
d2.test. 300 IN NAPTR 100 10 "" "" "" d3.test.
d3.test. 300 IN NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:deep@d3.test!" .

; +39 02 1111: the name the slow server and the truncating server serve.
1.1.1.1.2.0.9.3.e164.arpa. 30 IN NAPTR 100 10 "u" "E2U+sip" "!^\\+39(.*)$!sip:\\1@milano.test!" .
`

func newTestResolver(t *testing.T, cfg Config, srv ...*dnsServer) *Resolver {
	t.Helper()
	for _, s := range srv {
		cfg.Servers = append(cfg.Servers, s.addr)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func uris(res []Result) []string {
	var u []string
	for _, r := range res {
		u = append(u, r.URI)
	}
	return u
}

func TestLookup(t *testing.T) {
	srv := newDNSServer(t, testZone)
	r := newTestResolver(t, Config{}, srv)
	tests := []struct {
		name    string
		number  string
		want    []string
		wantErr error
	}{
		{
			name:   "order then preference, legacy service, mailto and non-matching ignored",
			number: "+390577232111",
			want: []string{
				"sip:+390577232111@legacy.test",
				"sip:centralino@voip.unisi.test",
				"sip:0577232111@gw2.unisi.test",
			},
		},
		{name: "non-terminal record followed", number: "+442079460000", want: []string{"sip:2079460000@london.test"}},
		{
			name:   "other delimiters, i flag, compound service, broken regexp skipped",
			number: "+39067777",
			want:   []string{"sip:7777@rome.test;area=06", "sip:hash#delim@rome.test"},
		},
		{name: "loop followed once", number: "+39068888", want: []string{"sip:loop@end.test"}},
		{name: "only a non-SIP service", number: "+39061234", wantErr: ErrNotFound},
		{name: "NODATA", number: "+39065555", wantErr: ErrNotFound},
		{name: "NXDOMAIN", number: "+39061111", wantErr: ErrNotFound},
		{name: "not E.164", number: "0577232111", wantErr: ErrNotE164},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Lookup(context.Background(), tt.number)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Lookup(%s): got error %v, want %v", tt.number, err, tt.wantErr)
			}
			if got := uris(res); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Lookup(%s):\ngot  %q\nwant %q", tt.number, got, tt.want)
			}
		})
	}
}

func TestLookupResultFields(t *testing.T) {
	srv := newDNSServer(t, testZone)
	r := newTestResolver(t, Config{}, srv)
	res, err := r.Lookup(context.Background(), "+442079460000")
	if err != nil {
		t.Fatal(err)
	}
	// The TTL of a URI reached through a non-terminal record is the
	// smaller of the two records' (600 s and 120 s).
	want := []Result{{Order: 100, Preference: 10, Service: "E2U+sip", URI: "sip:2079460000@london.test", TTL: 120 * time.Second}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("got %+v, want %+v", res, want)
	}
	if got, want := res[0].String(), "order=100 pref=10 sip:2079460000@london.test"; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
}

func TestLookupMaxDepth(t *testing.T) {
	srv := newDNSServer(t, testZone)
	tests := []struct {
		name     string
		maxDepth int
		want     []string
		wantErr  error
	}{
		{name: "default depth reaches the end", maxDepth: 0, want: []string{"sip:deep@d3.test"}},
		{name: "exactly deep enough", maxDepth: 3, want: []string{"sip:deep@d3.test"}},
		{name: "one short", maxDepth: 2, wantErr: ErrNotFound},
		{name: "not followed", maxDepth: -1, wantErr: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestResolver(t, Config{MaxDepth: tt.maxDepth}, srv)
			res, err := r.Lookup(context.Background(), "+39069999")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if got := uris(res); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLookupSuffixAndService(t *testing.T) {
	srv := newDNSServer(t, `
1.1.1.2.3.2.7.7.5.0.9.3.e164.unisi.test. 60 IN NAPTR 10 10 "u" "E2U+sip" "!^.*$!sip:private@unisi.test!" .
1.1.1.2.3.2.7.7.5.0.9.3.e164.unisi.test. 60 IN NAPTR 20 10 "u" "E2U+h323" "!^.*$!h323:private@unisi.test!" .
`)
	tests := []struct {
		name, service string
		want          []string
	}{
		{name: "sip", service: "", want: []string{"sip:private@unisi.test"}},
		{name: "h323", service: "E2U+h323", want: []string{"h323:private@unisi.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestResolver(t, Config{Suffix: "E164.unisi.test", Service: tt.service}, srv)
			res, err := r.Lookup(context.Background(), "+390577232111")
			if err != nil {
				t.Fatal(err)
			}
			if got := uris(res); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// A server that does not answer in time makes the lookup fail with a
// timeout, within the budget, distinguishable from "not in ENUM".
func TestLookupTimeout(t *testing.T) {
	srv := newDNSServer(t, testZone)
	srv.setSlow("1.1.1.1.2.0.9.3.e164.arpa.", 10*time.Second)
	r := newTestResolver(t, Config{Timeout: 200 * time.Millisecond}, srv)

	start := time.Now()
	res, err := r.Lookup(context.Background(), "+39021111")
	elapsed := time.Since(start)
	if err == nil {
		t.Fatalf("got %v, want a timeout", res)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("got %v, want an error wrapping context.DeadlineExceeded and os.ErrDeadlineExceeded", err)
	}
	if errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, which says not found", err)
	}
	if elapsed > time.Second {
		t.Errorf("lookup took %v, want about the 200ms budget", elapsed)
	}
	// Failures are not cached: the next lookup asks again.
	_, _ = r.Lookup(context.Background(), "+39021111")
	if got := srv.count("udp", "1.1.1.1.2.0.9.3.e164.arpa.", dns.TypeNAPTR); got != 2 {
		t.Errorf("got %d queries, want 2", got)
	}
}

// A caller's shorter deadline wins over the configured budget, and a
// cancelled context (the caller sent CANCEL) stops the lookup at once.
func TestLookupContext(t *testing.T) {
	srv := newDNSServer(t, testZone)
	srv.setSlow("1.1.1.1.2.0.9.3.e164.arpa.", 10*time.Second)
	r := newTestResolver(t, Config{Timeout: 5 * time.Second}, srv)

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := r.Lookup(ctx, "+39021111")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("took %v, want about 100ms", d)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := r.Lookup(ctx, "+39021111")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("took %v, want about 100ms", d)
		}
	})
}

// A truncated UDP answer is asked again over TCP.
func TestLookupTruncated(t *testing.T) {
	srv := newDNSServer(t, testZone)
	const name = "1.1.1.1.2.0.9.3.e164.arpa."
	srv.setTruncate(name)
	reg := prometheus.NewRegistry()
	r, err := New(Config{Servers: []string{srv.addr}}, WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Lookup(context.Background(), "+39021111")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := uris(res), []string{"sip:021111@milano.test"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if u, tc := srv.count("udp", name, dns.TypeNAPTR), srv.count("tcp", name, dns.TypeNAPTR); u != 1 || tc != 1 {
		t.Errorf("got %d UDP and %d TCP queries, want 1 and 1", u, tc)
	}
	truncated := metricValue(t, reg, "palio_enum_dns_queries_total", map[string]string{"transport": "udp", "outcome": "truncated"})
	overTCP := metricValue(t, reg, "palio_enum_dns_queries_total", map[string]string{"transport": "tcp", "outcome": "noerror"})
	if truncated != 1 || overTCP != 1 {
		t.Errorf("metrics: got truncated=%v tcp noerror=%v, want 1 and 1", truncated, overTCP)
	}
}

// A server that fails (SERVFAIL) or does not answer leaves the rest of
// the budget to the next server.
func TestLookupServerFailover(t *testing.T) {
	const name = "1.1.1.1.2.0.9.3.e164.arpa."
	tests := []struct {
		name  string
		fault func(s *dnsServer)
	}{
		{name: "SERVFAIL", fault: func(s *dnsServer) { s.setRcode(name, dns.RcodeServerFailure) }},
		{name: "REFUSED", fault: func(s *dnsServer) { s.setRcode(name, dns.RcodeRefused) }},
		{name: "silent", fault: func(s *dnsServer) { s.setSlow(name, 10*time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad, good := newDNSServer(t, testZone), newDNSServer(t, testZone)
			tt.fault(bad)
			r := newTestResolver(t, Config{Timeout: time.Second}, bad, good)
			res, err := r.Lookup(context.Background(), "+39021111")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := uris(res), []string{"sip:021111@milano.test"}; !reflect.DeepEqual(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
			if n := bad.count("udp", name, dns.TypeNAPTR) + good.count("udp", name, dns.TypeNAPTR); n != 2 {
				t.Errorf("got %d queries, want 2 (one each)", n)
			}
		})
	}
	t.Run("all fail", func(t *testing.T) {
		bad := newDNSServer(t, testZone)
		bad.setRcode(name, dns.RcodeServerFailure)
		r := newTestResolver(t, Config{}, bad)
		_, err := r.Lookup(context.Background(), "+39021111")
		if err == nil || errors.Is(err, ErrNotFound) || isTimeout(err) || !strings.Contains(err.Error(), "SERVFAIL") {
			t.Errorf("got %v, want a SERVFAIL error", err)
		}
	})
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "bare IP gets port 53", cfg: Config{Servers: []string{"192.0.2.1"}}},
		{name: "IPv6", cfg: Config{Servers: []string{"[2001:db8::1]:5353", "2001:db8::2"}}},
		{name: "host name", cfg: Config{Servers: []string{"dns.example:53"}}, wantErr: "want an IP address"},
		{name: "bad port", cfg: Config{Servers: []string{"192.0.2.1:99999"}}, wantErr: "bad port"},
		{name: "bad suffix", cfg: Config{Servers: []string{"192.0.2.1"}, Suffix: "a..b"}, wantErr: "not a domain name"},
		{name: "bad country code", cfg: Config{Servers: []string{"192.0.2.1"}, Numbering: Numbering{CountryCode: "039"}}, wantErr: "country code"},
		{name: "same prefixes", cfg: Config{Servers: []string{"192.0.2.1"}, Numbering: Numbering{NationalPrefix: "0", InternationalPrefix: "0"}}, wantErr: "both"},
		{name: "letters in prefix", cfg: Config{Servers: []string{"192.0.2.1"}, Numbering: Numbering{InternationalPrefix: "+"}}, wantErr: "digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "enum: ") {
					t.Fatalf("got error %v, want one about %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := r.Config()
			if c.Suffix != DefaultSuffix || c.Service != DefaultService || c.Timeout != DefaultTimeout ||
				c.MaxDepth != DefaultMaxDepth || c.CacheSize != DefaultCacheSize || c.MaxTTL != DefaultMaxTTL {
				t.Errorf("defaults not filled in: %+v", c)
			}
			for _, s := range c.Servers {
				if !strings.HasSuffix(s, ":53") && !strings.HasSuffix(s, ":5353") {
					t.Errorf("server %q has no port", s)
				}
			}
		})
	}
}

// With no servers, New refuses: the library reads no file.
func TestNewNeedsServers(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New with no servers: no error")
	}
}
