package enum

import (
	"context"
	"errors"
	"testing"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// Allocation budgets (go test -bench . -benchmem ./enum/):
//   - a positive cache hit: 1 allocation, the caller's copy of the results;
//   - a negative cache hit: 0 allocations;
//   - a miss against the local test server: whatever miekg/dns and the
//     socket need (about a hundred), once per TTL per number.

func benchResolver(b *testing.B, cfg Config) *Resolver {
	b.Helper()
	srv := newDNSServer(b, testZone)
	cfg.Servers = []string{srv.addr}
	r, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func BenchmarkLookupCacheHit(b *testing.B) {
	r := benchResolver(b, Config{})
	ctx := context.Background()
	if _, err := r.Lookup(ctx, "+390577232111"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if res, err := r.Lookup(ctx, "+390577232111"); err != nil || len(res) != 3 {
			b.Fatal(res, err)
		}
	}
}

func BenchmarkLookupCacheHitParallel(b *testing.B) {
	r := benchResolver(b, Config{})
	ctx := context.Background()
	if _, err := r.Lookup(ctx, "+390577232111"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Lookup(ctx, "+390577232111"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkLookupNegativeHit(b *testing.B) {
	r := benchResolver(b, Config{})
	ctx := context.Background()
	_, _ = r.Lookup(ctx, "+39061111")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Lookup(ctx, "+39061111"); !errors.Is(err, ErrNotFound) {
			b.Fatal(err)
		}
	}
}

// A miss: one UDP exchange with the in-process server per lookup.
func BenchmarkLookupCacheMiss(b *testing.B) {
	r := benchResolver(b, Config{CacheSize: -1})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res, err := r.Lookup(ctx, "+390577232111"); err != nil || len(res) != 3 {
			b.Fatal(res, err)
		}
	}
}

// The Query stage on a cache hit: normalise, look up, parse the URI,
// rewrite, set the target, call next.
func BenchmarkQueryStageHit(b *testing.B) {
	r := benchResolver(b, Config{Numbering: italy})
	next := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) error { return nil })
	h := r.Query(QueryConfig{})(next)
	req := siptest.NewRequest(sip.INVITE, "sip:+442079460000@unisi.it")
	w := siptest.NewRecorder()
	ctx := context.Background()
	if err := h.ServeSIP(ctx, w, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		req.Recipient.User = "+442079460000"
		if err := h.ServeSIP(ctx, w, req); err != nil {
			b.Fatal(err)
		}
	}
}
