package main

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip/siptest"
)

// TestCallLogLines: each call through the example leaves one "sip: call"
// line at Info with its Call-ID, from, to, class, gateway, status and
// durations; with [log] calls = false, none. A call to an account whose
// phone is off gets 480, one to a number nobody has 404.
func TestCallLogLines(t *testing.T) {
	tests := []struct {
		name    string
		calls   bool
		number  string
		status  int
		class   string
		gateway string
		cause   string
	}{
		{"through a gateway", true, "00564123456", 200, "national", "gw-grosseto", "bye-caller"},
		{"known user not registered", true, "5004", 480, "voip", "", "rejected"},
		{"unknown number", true, "5999", 404, "voip", "", "rejected"},
		{"lines off", false, "5004", 480, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &syncBuffer{}
			n := startTestNodeLog(t, func(c *Config) { c.Log.Calls = tt.calls },
				slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
			ctx := ctxT(t, 10*time.Second)
			gw := siptest.NewGateway(t, siptest.Respond(180), siptest.Respond(200))
			if err := n.a.router.SetGatewayAddress(ctx, "gw-grosseto", gw.Addr()); err != nil {
				t.Fatal(err)
			}
			caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(n.addr()), siptest.WithCredentials("5002", "unisi5002"))
			call, err := caller.Invite(ctx, "sip:"+tt.number+"@"+n.addr())
			if code := finalCode(t, call, err); code != tt.status {
				t.Fatalf("got %d, want %d", code, tt.status)
			}
			if tt.status == 200 {
				if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
					t.Fatalf("BYE: %v %v", res, err)
				}
			}
			var line string
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				for _, l := range strings.Split(logs.String(), "\n") {
					if strings.Contains(l, `msg="sip: call"`) && strings.Contains(l, "callid="+call.CallID()) && !strings.Contains(l, "status=407") {
						line = l
					}
				}
				if line != "" || !tt.calls {
					break
				}
			}
			if !tt.calls {
				time.Sleep(50 * time.Millisecond)
				if strings.Contains(logs.String(), `msg="sip: call"`) {
					t.Fatalf("[log] calls = false, got a call line:\n%s", logs.String())
				}
				return
			}
			if line == "" {
				t.Fatalf("no call line for %s:\n%s", call.CallID(), logs.String())
			}
			if strings.Contains(logs.String(), "status=407") {
				t.Errorf("a call line for the challenge, which is not a call's end:\n%s", logs.String())
			}
			gateway := "gateway=" + tt.gateway + " "
			if tt.gateway == "" {
				gateway = `gateway="" `
			}
			for _, want := range []string{
				"level=INFO", "from=sip:5002@", "to=sip:" + tt.number + "@", "caller=5002@voip.unisi.it",
				"class=" + tt.class, gateway, fmt.Sprintf("status=%d ", tt.status),
				"cause=" + tt.cause, "setup=", "duration=",
			} {
				if !strings.Contains(line, want) {
					t.Errorf("call line lacks %q: %s", want, line)
				}
			}
		})
	}
}
