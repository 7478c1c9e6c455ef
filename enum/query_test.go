package enum

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// attempt is what the handler after the stage saw of one attempt.
type attempt struct {
	ruri     string
	targets  []string
	decision Decision
	marked   bool // the request carried the header an earlier attempt added
}

// scripted returns a handler that answers attempt i with codes[i] (0: a
// 200 upstream) and records what it saw. It adds a header to the request
// it gets, so that the test can tell whether later attempts get a clean
// copy.
func scripted(codes []int, seen *[]attempt) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		a := attempt{ruri: r.Recipient.String(), marked: r.GetHeader("X-Tried") != nil}
		for _, t := range sip.TargetsFrom(ctx) {
			a.targets = append(a.targets, t.String())
		}
		if d, ok := DecisionFrom(ctx); ok {
			a.decision = *d
		}
		r.AppendHeader(sipmsg.NewHeader("X-Tried", "yes"))
		i := len(*seen)
		*seen = append(*seen, a)
		if i < len(codes) && codes[i] != 0 {
			return sip.Reject(codes[i], "")
		}
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	})
}

func newStageResolver(t *testing.T, cfg Config) (*Resolver, *dnsServer) {
	t.Helper()
	srv := newDNSServer(t, testZone)
	cfg.Numbering = italy
	return newTestResolver(t, cfg, srv), srv
}

// Serial failover over the ENUM results of the UniSI switchboard, in order,
// each attempt with a fresh copy of the request.
func TestQueryFailover(t *testing.T) {
	all := []string{
		"sip:+390577232111@legacy.test",
		"sip:centralino@voip.unisi.test",
		"sip:0577232111@gw2.unisi.test",
	}
	tests := []struct {
		name     string
		codes    []int // what each attempt answers; 0 is a 200
		wantURIs []string
		wantCode int
	}{
		{name: "first answers", codes: []int{0}, wantURIs: all[:1], wantCode: 200},
		{name: "503 then 408 then answered", codes: []int{503, 408, 0}, wantURIs: all, wantCode: 200},
		{name: "500 fails over", codes: []int{500, 0}, wantURIs: all[:2], wantCode: 200},
		{name: "busy ends it", codes: []int{486}, wantURIs: all[:1], wantCode: 486},
		{name: "404 ends it", codes: []int{503, 404}, wantURIs: all[:2], wantCode: 404},
		{name: "6xx ends it", codes: []int{603}, wantURIs: all[:1], wantCode: 603},
		{name: "all fail: the best outcome", codes: []int{503, 408, 503}, wantURIs: all, wantCode: 408},
		{name: "all fail: 503 comes last", codes: []int{503, 502, 503}, wantURIs: all, wantCode: 502},
		{name: "501 is an answer", codes: []int{501}, wantURIs: all[:1], wantCode: 501},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newStageResolver(t, Config{})
			var seen []attempt
			h := r.Query(QueryConfig{})(scripted(tt.codes, &seen))
			rec, err := siptest.Serve(context.Background(), h, siptest.NewRequest(sip.INVITE, "sip:0577232111@unisi.it"))
			if got := siptest.Code(rec, err); got != tt.wantCode {
				t.Errorf("got %d, want %d", got, tt.wantCode)
			}
			var got []string
			for i, a := range seen {
				got = append(got, a.ruri)
				if !reflect.DeepEqual(a.targets, []string{a.ruri}) {
					t.Errorf("attempt %d: got targets %q, want just the R-URI %q", i, a.targets, a.ruri)
				}
				if a.decision.Used != i || a.decision.Outcome != OutcomeFound || a.decision.E164 != "+390577232111" ||
					a.decision.Input != "0577232111" || len(a.decision.Results) != 3 {
					t.Errorf("attempt %d: got decision %+v", i, a.decision)
				}
				if a.marked {
					t.Errorf("attempt %d got the request an earlier attempt had changed", i)
				}
			}
			if !reflect.DeepEqual(got, tt.wantURIs) {
				t.Errorf("attempts:\ngot  %q\nwant %q", got, tt.wantURIs)
			}
		})
	}
}

// When the caller cancels, no further URI is tried.
func TestQueryStopsWhenCancelled(t *testing.T) {
	r, _ := newStageResolver(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	next := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) error {
		n++
		cancel() // the caller's CANCEL arrives during the first attempt
		return sip.Reject(503, "")
	})
	_, err := siptest.Serve(ctx, r.Query(QueryConfig{})(next), siptest.NewRequest(sip.INVITE, "sip:+390577232111@unisi.it"))
	if n != 1 || sip.StatusOf(err) != 503 {
		t.Errorf("got %d attempts and %v, want 1 and the 503", n, err)
	}
}

// Calls ENUM does not route go on unchanged (or are rejected, if asked),
// with a decision saying why.
func TestQueryNotRouted(t *testing.T) {
	tests := []struct {
		name        string
		cfg         QueryConfig
		ruri        string
		slow        bool
		wantOutcome Outcome
		wantCode    int  // the outcome: 200 when next answered
		wantNext    bool // next was called
	}{
		{name: "not in ENUM", ruri: "sip:061111@unisi.it", wantOutcome: OutcomeNotFound, wantCode: 200, wantNext: true},
		{name: "only mailto", ruri: "sip:061234@unisi.it", wantOutcome: OutcomeNotFound, wantCode: 200, wantNext: true},
		{name: "not in ENUM, rejected", cfg: QueryConfig{NotFound: 604}, ruri: "sip:061111@unisi.it", wantCode: 604},
		{name: "extension", cfg: QueryConfig{NotFound: 604}, ruri: "sip:5002@unisi.it", wantOutcome: OutcomeNotE164, wantCode: 200, wantNext: true},
		{name: "name", ruri: "sip:alice@unisi.it", wantOutcome: OutcomeNotE164, wantCode: 200, wantNext: true},
		{name: "timeout", cfg: QueryConfig{NotFound: 604}, ruri: "sip:021111@unisi.it", slow: true, wantOutcome: OutcomeError, wantCode: 200, wantNext: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, srv := newStageResolver(t, Config{Timeout: 150 * time.Millisecond})
			if tt.slow {
				srv.setSlow("1.1.1.1.2.0.9.3.e164.arpa.", 10*time.Second)
			}
			var seen []attempt
			req := siptest.NewRequest(sip.INVITE, tt.ruri)
			start := time.Now()
			rec, err := siptest.Serve(context.Background(), r.Query(tt.cfg)(scripted(nil, &seen)), req)
			if d := time.Since(start); d > time.Second {
				t.Errorf("the stage held the call %v", d)
			}
			if got := siptest.Code(rec, err); got != tt.wantCode {
				t.Errorf("got %d (%v), want %d", got, err, tt.wantCode)
			}
			if (len(seen) == 1) != tt.wantNext || len(seen) > 1 {
				t.Fatalf("next called %d times, want it called: %v", len(seen), tt.wantNext)
			}
			if !tt.wantNext {
				return
			}
			a := seen[0]
			if a.ruri != tt.ruri || a.targets != nil {
				t.Errorf("got R-URI %q and targets %q, want %q unchanged and none", a.ruri, a.targets, tt.ruri)
			}
			if a.decision.Outcome != tt.wantOutcome || a.decision.Used != -1 {
				t.Errorf("got decision %+v, want outcome %q and Used -1", a.decision, tt.wantOutcome)
			}
			if tt.slow && !errors.Is(a.decision.Err, context.DeadlineExceeded) {
				t.Errorf("got decision error %v, want a timeout", a.decision.Err)
			}
		})
	}
}

// Found takes the calls ENUM routes; the rest go to next.
func TestQueryFoundHandler(t *testing.T) {
	r, _ := newStageResolver(t, Config{})
	var found, rest []attempt
	h := r.Query(QueryConfig{Found: scripted(nil, &found)})(scripted(nil, &rest))
	for _, ruri := range []string{"sip:+442079460000@unisi.it", "sip:5002@unisi.it"} {
		if _, err := siptest.Serve(context.Background(), h, siptest.NewRequest(sip.INVITE, ruri)); err != nil {
			t.Fatal(err)
		}
	}
	if len(found) != 1 || found[0].ruri != "sip:2079460000@london.test" {
		t.Errorf("Found got %+v, want the ENUM call", found)
	}
	if len(rest) != 1 || rest[0].ruri != "sip:5002@unisi.it" {
		t.Errorf("next got %+v, want the extension", rest)
	}
}

// Number picks what to look up; the second call is a cache hit.
func TestQueryNumberAndCache(t *testing.T) {
	r, _ := newStageResolver(t, Config{})
	toUser := func(req *sip.Request) string { return req.To().Address.User }
	var seen []attempt
	h := r.Query(QueryConfig{Number: toUser})(scripted(nil, &seen))
	for range 2 {
		req := siptest.NewRequest(sip.INVITE, "sip:+442079460000@unisi.it")
		req.To().Address.User = "0039 0577 232111"
		if _, err := siptest.Serve(context.Background(), h, req); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("got %d attempts, want 2", len(seen))
	}
	for i, wantHit := range []bool{false, true} {
		d := seen[i].decision
		if d.Input != "0039 0577 232111" || d.E164 != "+390577232111" || d.CacheHit != wantHit || seen[i].ruri != "sip:+390577232111@legacy.test" {
			t.Errorf("call %d: got %q and decision %+v, want the To number, cache hit %v", i, seen[i].ruri, d, wantHit)
		}
	}
}

// With Fallback, a number whose ENUM URIs all fail goes on to next (the
// PSTN gateways) with the request as it came; an answer or a non-failover
// outcome does not.
func TestQueryFallback(t *testing.T) {
	tests := []struct {
		name     string
		codes    []int // the ENUM attempts' answers
		wantNext bool
		wantCode int
	}{
		{name: "all fail: to the gateways", codes: []int{503, 408, 500}, wantNext: true, wantCode: 200},
		{name: "answered: no fallback", codes: []int{503, 0}, wantCode: 200},
		{name: "busy: no fallback", codes: []int{486}, wantCode: 486},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newStageResolver(t, Config{})
			var seen []attempt
			var nextGot *sip.Request
			next := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
				nextGot = r
				return w.WriteResponse(sip.NewResponse(r, 200, ""))
			})
			h := r.Query(QueryConfig{Found: scripted(tt.codes, &seen), Fallback: true})(next)
			rec, err := siptest.Serve(context.Background(), h, siptest.NewRequest(sip.INVITE, "sip:0577232111@unisi.it"))
			if got := siptest.Code(rec, err); got != tt.wantCode {
				t.Errorf("got %d, want %d", got, tt.wantCode)
			}
			if (nextGot != nil) != tt.wantNext {
				t.Fatalf("next called: %v, want %v", nextGot != nil, tt.wantNext)
			}
			if nextGot != nil && (nextGot.Recipient.String() != "sip:0577232111@unisi.it" || nextGot.GetHeader("X-Tried") != nil) {
				t.Errorf("next got %s (tried header %v), want the request as it came", nextGot.Recipient.String(), nextGot.GetHeader("X-Tried") != nil)
			}
		})
	}
}
