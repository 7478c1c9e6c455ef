package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// testNode is the deployment built as serve builds it, in the test's
// process, so that the test can watch its dialog table.
type testNode struct {
	a   *app
	srv *sip.Server
}

func startTestNode(t *testing.T, edit func(*Config)) *testNode {
	t.Helper()
	return startTestNodeLog(t, edit, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// startTestNodeLog is startTestNode logging to log.
func startTestNodeLog(t *testing.T, edit func(*Config), log *slog.Logger) *testNode {
	t.Helper()
	cfg := defaultConfig()
	cfg.Store.SQLite = filepath.Join(t.TempDir(), "unisi.db")
	cfg.SIP.Listen = "127.0.0.1:0"
	zero := Duration{}
	cfg.Routing.ProbeInterval = &zero
	if edit != nil {
		edit(&cfg)
	}
	ctx := context.Background()
	a, err := serverApp(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	srv, mux, stop, err := a.sipServer(ctx, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &testNode{a: a, srv: srv}
}

func (n *testNode) addr() string { return n.srv.Local().Addr("udp") }

// TestCallRecordOfUniSICalls: every stage of the UniSI pipeline writes
// what it decided into the call's record, which the terminated event of
// the real call carries: a call between two phones, and a call through a
// gateway.
func TestCallRecordOfUniSICalls(t *testing.T) {
	n := startTestNode(t, nil)
	ctx := ctxT(t, 10*time.Second)
	var mu sync.Mutex
	ended := map[string]sip.Dialog{}
	defer n.srv.Dialogs().Subscribe(func(ev sip.DialogEvent) {
		if ev.Kind == sip.EventTerminated {
			mu.Lock()
			ended[ev.Dialog.CallID] = ev.Dialog
			mu.Unlock()
		}
	}, sip.Async(16), sip.SubscriberName("test"))()

	callee := siptest.NewUA(t, siptest.WithUser("5003"))
	if res, err := callee.Register(ctx, n.addr(), "sip:5003@voip.unisi.it", "unisi5003", 300); err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER: %v %v", res, err)
	}
	gw := siptest.NewGateway(t, siptest.Respond(180), siptest.Respond(200))
	if err := n.a.router.SetGatewayAddress(ctx, "gw-grosseto", gw.Addr()); err != nil {
		t.Fatal(err)
	}
	caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(n.addr()), siptest.WithCredentials("5002", "unisi5002"))

	tests := []struct {
		name, number  string
		class, callee string
		rule          string
		gateway       string
		trace         []string
	}{
		{"phone to phone", "5003", "voip", "5003@voip.unisi.it", "", "",
			[]string{"source\tuntrusted 127.0.0.1:", "auth\tcaller 5002@voip.unisi.it", "alias\t5003 is no alias",
				"dialplan\trule 2: 5003 -> 5003, class voip", "class\toutbound call needs local", "destination\tregistrar lookup of 5003@voip.unisi.it: 1 contacts"}},
		{"through a gateway", "00564123456", "national", "", "12", "gw-grosseto",
			[]string{"dialplan\trule 3: 00564123456 -> 00564123456, class national", "class\toutbound call needs national",
				"routing\tgroup 0, number 00564123456: rule 12", "destination\t1\tgw-grosseto\t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call, err := caller.Invite(ctx, "sip:"+tt.number+"@"+n.addr())
			if code := finalCode(t, call, err); code != 200 {
				t.Fatalf("got %d, want 200", code)
			}
			if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
				t.Fatalf("BYE: %v %v", res, err)
			}
			var d sip.Dialog
			for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				mu.Lock()
				d = ended[call.CallID()]
				mu.Unlock()
				if d.Call != nil || time.Now().After(deadline) {
					break
				}
			}
			if d.Call == nil {
				t.Fatal("no terminated event with the call's record")
			}
			info := d.Call.Info()
			if !info.Source.Checked || info.Source.Trusted || info.Caller.AOR() != "5002@voip.unisi.it" ||
				info.Dialled != tt.number || info.Class != tt.class || info.Callee != tt.callee || info.Rule != tt.rule {
				t.Errorf("record: got %+v", info)
			}
			if d.Gateway != tt.gateway || d.Cause != sip.CauseByeCaller {
				t.Errorf("dialog: gateway %q cause %q, want %q bye-caller", d.Gateway, d.Cause, tt.gateway)
			}
			trace := d.Call.TraceString()
			for _, w := range tt.trace {
				if !strings.Contains(trace, w) {
					t.Errorf("trace lacks %q:\n%s", w, trace)
				}
			}
		})
	}
}
