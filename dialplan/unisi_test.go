package dialplan

import (
	"context"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// TestUniSIClasses runs UniSI's real dialplan table through the stage: each
// dialled number gets its class, or 420 Invalid Destination.
func TestUniSIClasses(t *testing.T) {
	p, err := New(Config{}, NewMemStore(unisiRules(t)...))
	if err != nil {
		t.Fatal(err)
	}
	if rep := p.Rules().Report(); rep.Loaded != 9 || len(rep.Discarded) != 0 {
		t.Fatalf("UniSI table: got %v, want 9 rules loaded (0 discarded, 0 disabled)", rep)
	}
	tests := []struct {
		name   string
		number string
		class  string // "" means 420
		rule   int
	}{
		{"Siena VoIP extension", "5002", "voip", 2},
		{"Siena VoIP extension, 6xxx", "6123", "voip", 25},
		{"legacy PBX extension", "21456", "legacy", 6},
		{"legacy PBX, 80 prefix", "80123", "legacy", 10},
		{"Arezzo, outside line 0 + 0575", "00575123456", "national", 3},
		{"Siena landline, outside line 0 + 0577", "00577232111", "national", 3},
		{"toll-free 800 with outside line", "0800123456", "national", 3},
		{"mobile, outside line 0 + 335", "03351234567", "mobile", 15},
		{"international, 0 + 00 44", "00044207946000", "international", 16},
		{"media box IVR", "88100", "media", 13},
		{"ToIP DID", "05771530123", "toip", 14},
		{"five digits starting 5", "50021", "", 0},
		{"three digits", "500", "", 0},
		{"unknown 4xxx", "4000", "", 0},
		{"unknown 7xxx", "7123", "", 0},
		{"0044 is too short for national", "0044", "", 0},
		{"ToIP DID one digit short", "0577153012", "", 0},
		{"mobile too short", "03123", "", 0},
		{"000 without a country", "000", "", 0},
		{"letters", "alice", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Result
			var called bool
			next := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
				called = true
				got, _ = ResultFrom(ctx)
				return w.WriteResponse(sip.NewResponse(r, 200, ""))
			})
			req := siptest.NewRequest(sip.INVITE, "sip:"+tt.number+"@voip.unisi.it")
			rec, err := siptest.Serve(context.Background(), p.Wrap(next), req)
			if tt.class == "" {
				se, ok := sip.AsStatus(err)
				if !ok || se.Code != 420 || se.Reason != "Invalid Destination" || called {
					t.Fatalf("%s: got err %v (next called: %v), want 420 Invalid Destination and next not called", tt.number, err, called)
				}
				return
			}
			if code := siptest.Code(rec, err); code != 200 {
				t.Fatalf("%s: got status %d (err %v), want 200", tt.number, code, err)
			}
			want := Result{DPID: 0, RuleID: tt.rule, Input: tt.number, Output: tt.number, Attrs: tt.class}
			if got != want {
				t.Errorf("%s: got %+v, want %+v", tt.number, got, want)
			}
			if req.Recipient.User != tt.number {
				t.Errorf("%s: R-URI user became %q, want it unchanged", tt.number, req.Recipient.User)
			}
		})
	}
}

// TestUniSIExplain: the index offers only the rules whose required prefix
// the number has.
func TestUniSIExplain(t *testing.T) {
	rs, _ := Compile(unisiRules(t))
	e := rs.Explain(0, "00575123456", time.Now())
	if !e.OK || e.Result.RuleID != 3 || e.Result.Attrs != "national" {
		t.Fatalf("Explain(00575123456): got %+v, want rule 3, national", e.Result)
	}
	var ids []int
	for _, c := range e.Candidates {
		ids = append(ids, c.Rule.ID)
	}
	if len(ids) != 1 || ids[0] != 3 || e.Rules != 9 {
		t.Errorf("candidates: got %v of %d rules, want [3] of 9 (the only rule requiring prefix 0 the number has)", ids, e.Rules)
	}
	// national (rule 3) requires 00, 01, 02 or 080; toip requires 05771530.
	e = rs.Explain(0, "0577153012", time.Now())
	if e.OK || len(e.Candidates) != 1 || e.Candidates[0].Rule.ID != 14 || e.Candidates[0].Verdict != NoMatch {
		t.Errorf("Explain(0577153012): got %v, want no translation and one candidate, rule 14, no match", e)
	}
}
