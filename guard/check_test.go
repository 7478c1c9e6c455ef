package guard_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/sip"
)

// asCaller stands for authentication: the call's caller is 5002.
func asCaller(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		sip.CallFrom(ctx).SetCaller(caller5002)
		return next.ServeSIP(ctx, w, r)
	})
}

// outcome runs an INVITE from src to number through before, asCaller and
// after (sip.RunDry) and returns "CODE REASON" and the guard's trace lines.
func outcome(t *testing.T, number, src string, withCredentials bool, before sip.Middleware, after sip.Middleware) (string, []string) {
	t.Helper()
	req, err := sip.NewDryRunInvite(number, "5002", "voip.unisi.it", src)
	if err != nil {
		t.Fatal(err)
	}
	if withCredentials {
		req.AppendHeader(sip.NewHeader("Proxy-Authorization",
			`Digest username="5002", realm="voip.unisi.it", nonce="n", uri="sip:`+number+`@voip.unisi.it", response="0123456789abcdef0123456789abcdef"`))
	}
	d, err := sip.RunDry(context.Background(), func(next sip.Handler) sip.Handler {
		return sip.Chain(before, asCaller, after)(next)
	}, req)
	if err != nil {
		t.Fatal(err)
	}
	var trace []string
	for _, e := range d.Trace {
		if e.Stage == "guard" || e.Stage == "fraud" {
			trace = append(trace, e.String())
		}
	}
	return fmt.Sprintf("%d %s", d.Code, d.Reason), trace
}

// TestCheckAsTheStages: the check-only stages refuse what Bans and Wrap
// refuse, with the same answer and trace, and count nothing: the metrics
// and the fraud figures are as they were, however often the dry run is
// repeated; the real call after them still gets what it would have got.
func TestCheckAsTheStages(t *testing.T) {
	far := t0.Add(24 * time.Hour)
	tests := []struct {
		name      string
		bans      []guard.Ban
		calls     int // real calls made before
		src       string
		want      string
		wantTrace string
	}{
		{name: "banned source", bans: []guard.Ban{{Kind: guard.BanIP, Subject: "203.0.113.9", Created: t0, Until: far, Reason: "10 auth failures"}},
			src: "203.0.113.9:5060", want: "503 Service Unavailable", wantTrace: "guard\trefused: source 203.0.113.9 banned: 10 auth failures"},
		{name: "locked account", bans: []guard.Ban{{Kind: guard.BanUser, Subject: "5002", Created: t0, Until: far, Reason: "20 auth failures"}},
			want: "403 Account Locked", wantTrace: "guard\trefused: account 5002 locked: 20 auth failures"},
		{name: "fraud-blocked account", bans: []guard.Ban{{Kind: guard.BanFraud, Subject: "5002", Created: t0, Reason: "total-calls 3 >= 3"}},
			want: "403 Forbidden: Blocked by Fraud Check", wantTrace: "fraud\trefused: 5002's outbound calls are blocked"},
		{name: "a call under the thresholds", calls: 0,
			want: "200 " + sip.DryRunReason, wantTrace: `fraud	rule 3 (prefix "000"): 1 calls today, 1 this minute, 1 at once`},
		{name: "a call to a warning", calls: 1,
			want: "200 " + sip.DryRunReason, wantTrace: "fraud\twarning: 5002 total-calls 2 >= 2"},
		{name: "a call to a critical", calls: 2,
			want: "403 Forbidden: Blocked by Fraud Check", wantTrace: "fraud\trefused: 5002 total-calls 3 >= 3 (rule 3, prefix \"000\", calling 000442079460000)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := guard.NewMemStore(guard.Rule{ID: 3, Prefix: "000", TotalCalls: guard.Threshold{Warning: 2, Critical: 3}})
			for _, b := range tt.bans {
				if err := store.PutBan(context.Background(), b); err != nil {
					t.Fatal(err)
				}
			}
			e := newEnv(t, guard.Config{Fraud: guard.FraudConfig{Block: true, Location: time.UTC}}, store)
			for i := 0; i < tt.calls; i++ {
				if code, end := e.call(t, "000442079460000"); code != 0 {
					t.Fatalf("call %d before: %d", i+1, code)
				} else {
					end(0)
				}
			}
			e.took()
			src := tt.src
			if src == "" {
				src = "172.20.1.26:5060"
			}
			metrics, stats := e.metricsText(t), e.g.FraudStats("")
			for i := 0; i < 3; i++ {
				got, trace := outcome(t, "000442079460000", src, false, e.g.CheckBans("5002"), e.g.CheckFraud)
				if got != tt.want || len(trace) != 1 || !strings.HasPrefix(trace[0], tt.wantTrace) {
					t.Fatalf("dry run %d: got %s, trace %q; want %s, trace %q", i+1, got, trace, tt.want, tt.wantTrace)
				}
			}
			if after := e.metricsText(t); after != metrics {
				t.Errorf("the dry runs moved metrics: before\n%s\nafter\n%s", metrics, after)
			}
			if after := e.g.FraudStats(""); !slices.Equal(after, stats) {
				t.Errorf("the dry runs counted: figures %+v, before %+v", after, stats)
			}
			if evs := e.took(); len(evs) != 0 {
				t.Errorf("the dry runs published %v", evs)
			}
			// The real stages, the call carrying 5002's credentials.
			got, trace := outcome(t, "000442079460000", src, true, e.g.Bans, e.g.Wrap)
			if got != tt.want || len(trace) != 1 || !strings.HasPrefix(trace[0], tt.wantTrace) {
				t.Errorf("the real call: got %s, trace %q; want %s, trace %q", got, trace, tt.want, tt.wantTrace)
			}
		})
	}
}
