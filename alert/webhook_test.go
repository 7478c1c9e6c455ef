package alert_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/alert"
)

// fastRetry retries quickly, for tests.
var fastRetry = alert.Retry{Attempts: 3, Timeout: time.Second, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}

var trunkEvent = alert.Event{
	Kind: alert.KindTrunkNearLimit, Severity: alert.SeverityWarning, Time: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC),
	Subject: "gw-siena-1", Message: "24 of 30 channels in use", Fields: map[string]string{"calls": "24", "channels": "30"},
}

// hookServer is a webhook receiver on loopback answering each request
// with the next status of its script (the last one repeats).
type hookServer struct {
	*httptest.Server
	requests atomic.Int32
	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
}

func newHookServer(t *testing.T, statuses ...int) *hookServer {
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(h.requests.Add(1))
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.headers = append(h.headers, r.Header.Clone())
		h.mu.Unlock()
		st := statuses[min(n, len(statuses))-1]
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(h.Close)
	return h
}

// TestWebhook posts events to a real local HTTP server: the JSON shape
// and headers of a delivery; retries after 5xx and 429 until it succeeds;
// giving up after the attempts; no retry on a 4xx.
func TestWebhook(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		wantErr  string // "" for a delivery
		requests int32
	}{
		{"delivered", []int{204}, "", 1},
		{"retried after 5xx", []int{503, 502, 200}, "", 3},
		{"retried after 429", []int{429, 200}, "", 2},
		{"gives up", []int{500}, "HTTP 500", 3},
		{"4xx not retried", []int{400}, "HTTP 400", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newHookServer(t, tt.statuses...)
			w, err := alert.NewWebhook(alert.WebhookConfig{URL: srv.URL + "/hooks/palio", Header: http.Header{"Authorization": {"Bearer t0k"}}, Retry: fastRetry})
			if err != nil {
				t.Fatal(err)
			}
			err = w.Notify(context.Background(), trunkEvent)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want a delivery", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
			if got := srv.requests.Load(); got != tt.requests {
				t.Errorf("got %d requests, want %d", got, tt.requests)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			var got map[string]any
			if err := json.Unmarshal(srv.bodies[0], &got); err != nil {
				t.Fatalf("body %q: %v", srv.bodies[0], err)
			}
			want := map[string]any{"kind": "trunk-near-limit", "severity": "warning", "time": "2026-12-04T10:00:00Z",
				"subject": "gw-siena-1", "message": "24 of 30 channels in use", "fields": map[string]any{"calls": "24", "channels": "30"}}
			if gb, wb := mustJSON(t, got), mustJSON(t, want); gb != wb {
				t.Errorf("body got %s, want %s", gb, wb)
			}
			if h := srv.headers[0]; h.Get("Content-Type") != "application/json" || h.Get("Authorization") != "Bearer t0k" {
				t.Errorf("headers %v", h)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hangingServer accepts requests and never answers until the test ends.
func hangingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, &n
}

// TestWebhookTimeout: a server that never answers costs each attempt its
// Timeout, and the delivery fails after the attempts.
func TestWebhookTimeout(t *testing.T) {
	srv, n := hangingServer(t)
	w, err := alert.NewWebhook(alert.WebhookConfig{URL: srv.URL, Retry: alert.Retry{Attempts: 2, Timeout: 100 * time.Millisecond, Backoff: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = w.Notify(context.Background(), trunkEvent)
	el := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("got %v, want no answer within 100ms", err)
	}
	if el < 200*time.Millisecond || el > 2*time.Second {
		t.Errorf("took %v, want two attempts of 100ms", el)
	}
	if n.Load() != 2 {
		t.Errorf("%d requests, want 2", n.Load())
	}
}

// TestHangingWebhookNeverBlocks: behind the Dispatcher, a webhook whose
// server hangs fills its queue; Publish never waits, the log notifier
// beside it gets every event, and the overflow is counted as dropped.
func TestHangingWebhookNeverBlocks(t *testing.T) {
	srv, _ := hangingServer(t)
	w, err := alert.NewWebhook(alert.WebhookConfig{URL: srv.URL, Retry: alert.Retry{Attempts: 1, Timeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	logged := &recorder{name: "log"}
	reg := prometheus.NewRegistry()
	d, err := alert.New(alert.Config{Queue: 256, DrainTimeout: 50 * time.Millisecond, Routes: []alert.Route{{Notifier: w}, {Notifier: logged}}},
		alert.WithLogger(quiet()), alert.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	var slowest time.Duration
	for i := range 2000 {
		start := time.Now()
		d.Publish(trunkEvent)
		slowest = max(slowest, time.Since(start))
		if i%20 == 19 {
			time.Sleep(time.Millisecond) // the log notifier keeps up
		}
	}
	if slowest > 50*time.Millisecond {
		t.Errorf("slowest Publish %v: it waited on the webhook", slowest)
	}
	d.Close()
	if got := len(logged.events()); got != 2000 {
		t.Errorf("log notifier got %d, want 2000", got)
	}
	dropped := counter(t, reg, "palio_alert_notifications_total", map[string]string{"notifier": "webhook", "result": "dropped"})
	if dropped < 2000-256-1 {
		t.Errorf("webhook dropped %v, want at least %d", dropped, 2000-256-1)
	}
}
