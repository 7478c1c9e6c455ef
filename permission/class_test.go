package permission_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

type callerKey struct{}

func TestClassStage(t *testing.T) {
	callees := map[string][]string{"5002": nil, "5003": {"pstn"}, "5004": {"internal"}, "5005": {"all"}}
	cfg := permission.ClassConfig{
		Required: permission.UniSIClasses,
		Caller: func(ctx context.Context) ([]string, bool) {
			c, ok := ctx.Value(callerKey{}).([]string)
			return c, ok
		},
		Callee: func(ctx context.Context, user, domain string) ([]string, bool, error) {
			if user == "broken" {
				return nil, false, errors.New("database is gone")
			}
			c, ok := callees[user]
			return c, ok, nil
		},
		SourceClasses: map[int]string{1: "pstn"},
	}
	var decision permission.ClassDecision
	next := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		decision, _ = permission.ClassFrom(ctx)
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	})
	stage := permission.Class(cfg)(next)
	tests := []struct {
		name     string
		callType string // "" = the dialplan did not run
		caller   []string
		noCaller bool
		trusted  int // source group when trusted, 0 = untrusted
		callee   string
		want     int
		wantDir  string
	}{
		{"local call, new account", "voip", nil, false, 0, "5002", 200, "outbound"},
		{"national without the class", "national", []string{"local"}, false, 0, "0577", 403, "outbound"},
		{"national with the class", "national", []string{"local", "national"}, false, 0, "0577", 200, "outbound"},
		{"international, full account", "international", []string{"local", "national", "mobile", "international"}, false, 0, "0044", 200, "outbound"},
		{"mobile, only national", "mobile", []string{"local", "national"}, false, 0, "3351", 403, "outbound"},
		{"media box needs local", "media", []string{"local"}, false, 0, "88", 200, "outbound"},
		{"not authenticated", "national", nil, true, 0, "0577", 403, ""},
		{"unmapped type passes", "premium", []string{"local"}, false, 0, "899", 200, "outbound"},
		{"not classified passes", "", nil, true, 0, "x", 200, ""},
		{"gateway to an account taking all", "voip", nil, true, 1, "5002", 200, "inbound"},
		{"gateway to an account taking pstn", "voip", nil, true, 1, "5003", 200, "inbound"},
		{"gateway to an internal-only account", "voip", nil, true, 1, "5004", 403, "inbound"},
		{"unmapped gateway group is external", "voip", nil, true, 7, "5003", 403, "inbound"},
		{"'all' takes everything", "voip", nil, true, 7, "5005", 200, "inbound"},
		{"gateway to a number that is no account", "legacy", nil, true, 1, "2145", 200, "inbound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decision = permission.ClassDecision{}
			ctx := context.Background()
			if tt.callType != "" {
				ctx = dialplan.NewContext(ctx, dialplan.Result{Attrs: tt.callType, Input: tt.callee, Output: tt.callee})
			}
			if !tt.noCaller {
				ctx = context.WithValue(ctx, callerKey{}, tt.caller)
			}
			if tt.trusted != 0 {
				ctx = permission.NewContext(ctx, permission.Source{IP: netip.MustParseAddr("10.10.1.1"), Trusted: true, Group: tt.trusted})
			}
			rec, err := siptest.Serve(ctx, stage, siptest.NewRequest(sip.INVITE, "sip:"+tt.callee+"@voip.unisi.it"))
			if got := siptest.Code(rec, err); got != tt.want {
				t.Fatalf("got %d (%v), want %d", got, err, tt.want)
			}
			if tt.want == 403 {
				if se, _ := sip.AsStatus(err); se == nil || se.Reason == "" {
					t.Errorf("403 without a reason: %v", err)
				}
				return
			}
			if tt.callType == "" {
				if decision.Direction != "" {
					t.Errorf("a decision without a dialplan result: %+v", decision)
				}
				return
			}
			if decision.Direction != tt.wantDir || !decision.Allowed {
				t.Errorf("decision: got %+v, want direction %q allowed", decision, tt.wantDir)
			}
		})
	}
	// With InboundTypes, only calls to local accounts look the callee up.
	only := cfg
	only.InboundTypes = []string{"voip"}
	ctxLegacy := permission.NewContext(dialplan.NewContext(context.Background(), dialplan.Result{Attrs: "legacy"}),
		permission.Source{Trusted: true, Group: 1})
	if rec, err := siptest.Serve(ctxLegacy, permission.Class(only)(next), siptest.NewRequest(sip.INVITE, "sip:broken@voip.unisi.it")); siptest.Code(rec, err) != 200 {
		t.Errorf("a legacy call from a gateway looked the callee up: %v", err)
	}
	// A store failure is an error (the edge answers 500), not a 403.
	ctx := permission.NewContext(dialplan.NewContext(context.Background(), dialplan.Result{Attrs: "voip"}),
		permission.Source{Trusted: true, Group: 1})
	_, err := siptest.Serve(ctx, stage, siptest.NewRequest(sip.INVITE, "sip:broken@voip.unisi.it"))
	if err == nil || sip.StatusOf(err) != 500 {
		t.Errorf("callee lookup failure: got %v, want a plain error", err)
	}
}

func TestClassConfigCheckAccount(t *testing.T) {
	cfg := permission.ClassConfig{Required: permission.UniSIClasses, SourceClasses: map[int]string{1: "pstn", 2: "toip", 3: "local"}}
	if got, want := strings.Join(cfg.OutboundClasses(), ","), "international,local,mobile,national"; got != want {
		t.Errorf("OutboundClasses = %s, want %s", got, want)
	}
	if got, want := strings.Join(cfg.InboundClasses(), ","), "all,external,local,pstn,toip"; got != want {
		t.Errorf("InboundClasses = %s, want %s", got, want)
	}
	for _, tt := range []struct {
		out, in []string
		bad     string
	}{
		{[]string{"local", "national"}, nil, ""},
		{nil, []string{"pstn", "all"}, ""},
		{[]string{"local", "bogus"}, nil, `unknown outbound class "bogus"`},
		{[]string{"local"}, []string{"national"}, `unknown inbound class "national"`},
		{[]string{"pstn"}, nil, `unknown outbound class "pstn"`},
	} {
		err := cfg.CheckAccount(tt.out, tt.in)
		if tt.bad == "" && err != nil || tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad)) {
			t.Errorf("CheckAccount(%v, %v) = %v, want %q", tt.out, tt.in, err, tt.bad)
		}
	}
}
