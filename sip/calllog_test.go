package sip_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// jsonLog is a goroutine-safe buffer of JSON log lines.
type jsonLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *jsonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the lines whose msg is msg, decoded.
func (l *jsonLog) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestCallLog: with WithCallLog, every call leaves one Info line when it
// ends, carrying what the call's record and dialog say (an answered call
// through a gateway, a busy one, one a stage rejected); requests leave
// Debug lines with their final status.
func TestCallLog(t *testing.T) {
	leakCheck(t)
	var logs jsonLog
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}}},
		sip.WithLogger(log), sip.WithCallLog(true))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, srv, sip.ForwarderConfig{})
	p.before = func(ctx context.Context, r *sip.Request) {
		c := sip.CallFrom(ctx)
		c.SetClass(r.Recipient.User, "national")
		if r.Recipient.User == "0577111" {
			// A relay anchors this call's media.
			c.SetMediaStats(func() sip.MediaStats { return sip.MediaStats{Packets: 1500, Lost: 3} })
		}
	}
	answer := siptest.NewGateway(t, siptest.Respond(180), siptest.Respond(200))
	busy := siptest.NewGateway(t, siptest.Respond(486))
	tg := target(t, answer.URI())
	tg.Gateway = "gw-answer"
	p.route("0577111", tg)
	tb := target(t, busy.URI())
	tb.Gateway = "gw-busy"
	p.route("0577222", tb)
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	ctx := ctxT(t, 10*time.Second)

	tests := []struct {
		name    string
		number  string
		status  int
		bye     bool
		gateway string
		cause   string
	}{
		{"answered", "0577111", 200, true, "gw-answer", "bye-caller"},
		{"busy", "0577222", 486, false, "gw-busy", "rejected"},
		{"no route", "0577999", 404, false, "", "rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call, err := caller.Invite(ctx, "sip:"+tt.number+"@"+p.udp())
			if err != nil {
				t.Fatal(err)
			}
			final, err := call.WaitFinal(ctx)
			if err != nil || final.StatusCode != tt.status {
				t.Fatalf("final: got %v %v, want %d", final, err, tt.status)
			}
			if tt.bye {
				time.Sleep(20 * time.Millisecond) // a talk time
				if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
					t.Fatalf("BYE: %v %v", res, err)
				}
			}
			var line map[string]any
			if err := waitFor(ctx, func() bool {
				for _, l := range logs.lines("sip: call") {
					if l["callid"] == call.CallID() {
						line = l
						return true
					}
				}
				return false
			}); err != nil {
				t.Fatal("no call line")
			}
			want := map[string]any{
				"level": "INFO", "to": "sip:" + tt.number + "@" + p.udp(),
				"class": "national", "number": tt.number, "gateway": tt.gateway, "status": float64(tt.status), "cause": tt.cause,
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s: got %v, want %v (line %v)", k, line[k], v, line)
				}
			}
			if tt.bye && (line["media_packets"] != float64(1500) || line["media_lost"] != float64(3) || line["one_way"] != false) {
				t.Errorf("media: got packets %v lost %v one_way %v, want the relay's 1500, 3, false", line["media_packets"], line["media_lost"], line["one_way"])
			}
			if _, ok := line["media_packets"]; !tt.bye && ok {
				t.Errorf("a call without a relay has media fields: %v", line)
			}
			if from, _ := line["from"].(string); !strings.HasPrefix(from, "sip:5001@") {
				t.Errorf("from: got %q, want the caller's URI", from)
			}
			d, _ := line["duration"].(float64) // nanoseconds in JSON
			if tt.bye && d <= 0 || !tt.bye && d != 0 {
				t.Errorf("duration: got %v, want >0 only for the answered call", line["duration"])
			}
			// The request's line is written once the handler has returned,
			// which may be just after the caller has its answer.
			var req map[string]any
			for deadline := time.Now().Add(2 * time.Second); req == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				for _, l := range logs.lines("sip: request") {
					if l["callid"] == call.CallID() && l["method"] == "INVITE" {
						req = l
					}
				}
			}
			if req == nil || req["level"] != "DEBUG" || req["status"] != float64(tt.status) || req["src"] == "" ||
				!strings.HasPrefix(req["ruri"].(string), "sip:"+tt.number+"@") {
				t.Errorf("request line: got %v, want DEBUG INVITE status %d with ruri and src", req, tt.status)
			}
		})
	}
	// One line per call, not one per event.
	if n := len(logs.lines("sip: call")); n != len(tests) {
		t.Errorf("got %d call lines, want %d", n, len(tests))
	}
}

// TestCallLogOff: without WithCallLog, calls leave no Info line.
func TestCallLogOff(t *testing.T) {
	leakCheck(t)
	var logs jsonLog
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}}}, sip.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, srv, sip.ForwarderConfig{})
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(p.udp()))
	ctx := ctxT(t, 5*time.Second)
	call, err := caller.Invite(ctx, "sip:0577999@"+p.udp())
	if err != nil {
		t.Fatal(err)
	}
	if final, err := call.WaitFinal(ctx); err != nil || final.StatusCode != 404 {
		t.Fatalf("final: got %v %v, want 404", final, err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(logs.lines("sip: call")); n != 0 {
		t.Errorf("got %d call lines, want none", n)
	}
}
