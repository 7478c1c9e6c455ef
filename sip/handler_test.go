package sip_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// tagStage appends its name to the trace header, then calls next.
func tagStage(name string, trace *[]string) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			*trace = append(*trace, name)
			return next.ServeSIP(ctx, w, r)
		})
	}
}

func TestChainOrder(t *testing.T) {
	var trace []string
	final := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		trace = append(trace, "final")
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	})
	h := sip.Chain(tagStage("a", &trace), tagStage("b", &trace), tagStage("c", &trace))(final)
	rec, err := siptest.Serve(context.Background(), h, siptest.NewRequest(sip.INVITE, "sip:5002@127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(trace, ","), "a,b,c,final"; got != want {
		t.Errorf("order: got %s, want %s", got, want)
	}
	if rec.Status() != 200 {
		t.Errorf("status: got %d, want 200", rec.Status())
	}
	// An empty chain is the handler itself.
	trace = nil
	if _, err := siptest.Serve(context.Background(), sip.Chain()(final), siptest.NewRequest(sip.INVITE, "sip:x@y")); err != nil || len(trace) != 1 {
		t.Errorf("empty chain: trace %v err %v", trace, err)
	}
}

// TestStatusErrorPropagation checks the outcome contract: a rejection
// travels back up through every stage, a stage may try an alternative on a
// failover status, and a wrapped StatusError keeps its code.
func TestStatusErrorPropagation(t *testing.T) {
	attempts := 0
	gateway := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		attempts++
		if r.Recipient.Host == "gw-a" {
			return sip.Reject(503, "Service Unavailable")
		}
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	})
	failover := func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			var err error
			for _, host := range []string{"gw-a", "gw-b"} {
				c := r.Clone()
				c.Recipient.Host = host
				err = next.ServeSIP(ctx, w, c)
				if sip.StatusOf(err) != 503 {
					return err
				}
			}
			return err
		})
	}
	var seen []int
	observe := func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			err := next.ServeSIP(ctx, w, r)
			seen = append(seen, siptestCode(w, err))
			return err
		})
	}
	tests := []struct {
		name     string
		h        sip.Handler
		wantCode int
		attempts int
	}{
		{"failover reaches gw-b", sip.Chain(observe, failover)(gateway), 200, 2},
		{"reject stops the chain", sip.Chain(observe, func(sip.Handler) sip.Handler {
			return sip.HandlerFunc(func(context.Context, sip.ResponseWriter, *sip.Request) error {
				return fmt.Errorf("class check: %w", sip.Reject(403, "Forbidden: class not allowed"))
			})
		}, failover)(gateway), 403, 0},
		{"plain errors are 500", sip.Chain(observe)(sip.HandlerFunc(func(context.Context, sip.ResponseWriter, *sip.Request) error {
			return errors.New("database is gone")
		})), 500, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attempts, seen = 0, nil
			rec, err := siptest.Serve(context.Background(), tt.h, siptest.NewRequest(sip.INVITE, "sip:0577123456@unisi"))
			if got := siptest.Code(rec, err); got != tt.wantCode {
				t.Errorf("outcome: got %d, want %d", got, tt.wantCode)
			}
			if attempts != tt.attempts {
				t.Errorf("attempts: got %d, want %d", attempts, tt.attempts)
			}
			if len(seen) != 1 || seen[0] != tt.wantCode {
				t.Errorf("the outer stage saw %v, want [%d]", seen, tt.wantCode)
			}
		})
	}
	se, ok := sip.AsStatus(fmt.Errorf("wrapped: %w", sip.Reject(486, "")))
	if !ok || se.Code != 486 || !strings.Contains(se.Error(), "Busy Here") {
		t.Errorf("AsStatus of a wrapped rejection: got %v %v", se, ok)
	}
	if sip.StatusOf(nil) != 0 {
		t.Errorf("StatusOf(nil): got %d, want 0", sip.StatusOf(nil))
	}
}

func siptestCode(w sip.ResponseWriter, err error) int {
	if err == nil {
		return w.Status()
	}
	return sip.StatusOf(err)
}

func TestServeMuxDispatch(t *testing.T) {
	named := func(name string) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			res := sip.NewResponse(r, 200, name)
			return w.WriteResponse(res)
		})
	}
	full := &sip.ServeMux{
		Local:    sip.NewLocal("127.0.0.1:5060"),
		Register: named("registrar"),
		Presence: named("presence"),
		InDialog: named("relay"),
		Initial:  named("pipeline"),
	}
	bare := &sip.ServeMux{Local: sip.NewLocal("127.0.0.1:5060"), Initial: named("pipeline"), Methods: []sip.Method{sip.INVITE}}
	inDialog := func(m sip.Method) *sip.Request {
		r := siptest.NewRequest(m, "sip:5002@127.0.0.1:5090")
		r.To().Params.Add("tag", "callee")
		return r
	}
	tests := []struct {
		name       string
		mux        *sip.ServeMux
		req        *sip.Request
		wantCode   int
		wantReason string
		wantAllow  string
	}{
		{"INVITE to the pipeline", full, siptest.NewRequest(sip.INVITE, "sip:5002@127.0.0.1"), 200, "pipeline", ""},
		{"MESSAGE to the pipeline", full, siptest.NewRequest(sip.MESSAGE, "sip:5002@127.0.0.1"), 200, "pipeline", ""},
		{"REGISTER to the registrar", full, siptest.NewRequest(sip.REGISTER, "sip:127.0.0.1"), 200, "registrar", ""},
		{"SUBSCRIBE to presence", full, siptest.NewRequest(sip.SUBSCRIBE, "sip:5002@127.0.0.1"), 200, "presence", ""},
		{"SUBSCRIBE refresh to presence", full, inDialog(sip.SUBSCRIBE), 200, "presence", ""},
		{"PUBLISH to presence", full, siptest.NewRequest(sip.PUBLISH, "sip:5002@127.0.0.1"), 200, "presence", ""},
		{"BYE in dialog to the relay", full, inDialog(sip.BYE), 200, "relay", ""},
		{"re-INVITE to the relay", full, inDialog(sip.INVITE), 200, "relay", ""},
		{"OPTIONS to us answered here", full, siptest.NewRequest(sip.OPTIONS, "sip:127.0.0.1:5060"), 200, "OK", ""},
		{"OPTIONS to a user goes on", full, siptest.NewRequest(sip.OPTIONS, "sip:5002@127.0.0.1"), 200, "pipeline", ""},
		{"unmatched CANCEL", full, siptest.NewRequest(sip.CANCEL, "sip:5002@127.0.0.1"), 481, "Call/Transaction Does Not Exist", ""},
		{"BYE outside a dialog", full, siptest.NewRequest(sip.BYE, "sip:5002@127.0.0.1"), 481, "Call/Transaction Does Not Exist", ""},
		{"unknown method", full, siptest.NewRequest("FOO", "sip:5002@127.0.0.1"), 405, "Method Not Allowed",
			"INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, REFER, INFO, MESSAGE, PRACK, UPDATE"},
		{"REGISTER without a registrar", bare, siptest.NewRequest(sip.REGISTER, "sip:127.0.0.1"), 405, "Method Not Allowed", "INVITE, ACK, CANCEL, OPTIONS"},
		{"MESSAGE not accepted", bare, siptest.NewRequest(sip.MESSAGE, "sip:5002@127.0.0.1"), 405, "Method Not Allowed", "INVITE, ACK, CANCEL, OPTIONS"},
		{"in-dialog without a relay", bare, inDialog(sip.BYE), 405, "Method Not Allowed", "INVITE, ACK, CANCEL, OPTIONS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := siptest.Serve(context.Background(), tt.mux, tt.req)
			var res *sip.Response
			if err == nil {
				rs := rec.Responses()
				if len(rs) == 0 {
					t.Fatal("no response and no error")
				}
				res = rs[len(rs)-1]
			} else {
				se, ok := sip.AsStatus(err)
				if !ok {
					t.Fatalf("error without a status: %v", err)
				}
				res = se.Response
				if res == nil {
					res = sip.NewResponse(tt.req, se.Code, se.Reason)
				}
			}
			if res.StatusCode != tt.wantCode || res.Reason != tt.wantReason {
				t.Errorf("got %d %q, want %d %q", res.StatusCode, res.Reason, tt.wantCode, tt.wantReason)
			}
			if tt.wantAllow != "" {
				h := res.GetHeader("Allow")
				if h == nil || h.Value() != tt.wantAllow {
					t.Errorf("Allow: got %v, want %q", h, tt.wantAllow)
				}
			}
		})
	}
	// An ACK is never answered, in a dialog or not.
	for _, r := range []*sip.Request{siptest.NewRequest(sip.ACK, "sip:5002@127.0.0.1"), inDialog(sip.ACK)} {
		rec, err := siptest.Serve(context.Background(), bare, r)
		if err != nil || len(rec.Responses()) != 0 {
			t.Errorf("ACK: got %v %v, want nothing", rec.Codes(), err)
		}
	}
}

func TestRecover(t *testing.T) {
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	boom := sip.HandlerFunc(func(context.Context, sip.ResponseWriter, *sip.Request) error {
		var m map[string]int
		m["x"]++ // nil map write: a real panic
		return nil
	})
	rec, err := siptest.Serve(context.Background(), sip.Recover(log)(boom), siptest.NewRequest(sip.INVITE, "sip:5002@127.0.0.1"))
	if got := siptest.Code(rec, err); got != 500 {
		t.Errorf("outcome: got %d, want 500", got)
	}
	if n := strings.Count(logged.String(), "handler panic"); n != 1 {
		t.Errorf("panic logged %d times, want once:\n%s", n, logged.String())
	}
	if !strings.Contains(logged.String(), "assignment to entry in nil map") {
		t.Errorf("log lacks the panic value:\n%s", logged.String())
	}
	// A handler that does not panic passes through untouched.
	ok := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error { return sip.Reject(486, "") })
	if _, err := siptest.Serve(context.Background(), sip.Recover(nil)(ok), siptest.NewRequest(sip.INVITE, "sip:x@y")); sip.StatusOf(err) != 486 {
		t.Errorf("got %v, want 486", err)
	}
}

func TestTargetsInContext(t *testing.T) {
	ctx := context.Background()
	if got := sip.TargetsFrom(ctx); got != nil {
		t.Errorf("empty context: got %v", got)
	}
	a, _ := sip.ParseURI("sip:5002@10.0.0.1")
	b, _ := sip.ParseURI("sip:5002@10.0.0.2;transport=tcp")
	ctx = sip.WithTargets(ctx, sip.Target{URI: a, NextHop: "192.0.2.1:5060"})
	ctx = sip.WithTargets(ctx, sip.Target{URI: a}, sip.Target{URI: b, Gateway: "siena-1"})
	got := sip.TargetsFrom(ctx)
	if len(got) != 2 || got[1].Gateway != "siena-1" {
		t.Fatalf("got %v, want the second set", got)
	}
	if s := (sip.Target{URI: a, NextHop: "192.0.2.1:5060"}).String(); s != "sip:5002@10.0.0.1 via 192.0.2.1:5060" {
		t.Errorf("String: got %q", s)
	}
}
