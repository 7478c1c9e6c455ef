package sip_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/sip"
)

// startingStack reads palio_sip_goroutine_starting_stack_bytes from reg
// after a garbage collection (the runtime sets the starting stack at
// each); 0 when it is not registered.
func startingStack(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	runtime.GC()
	return gathered(t, reg, "palio_sip_goroutine_starting_stack_bytes")
}

// TestStackHolders: while a server runs, its stack holders make the
// runtime start new goroutines (each received message's) at 8 KB, and
// the gauge says so; they end with the server (leakCheck).
func TestStackHolders(t *testing.T) {
	leakCheck(t)
	for _, tt := range []struct {
		name    string
		holders int
		want    func(float64) bool
		what    string
	}{
		{"default", 0, func(v float64) bool { return v >= 8192 }, "at least 8192"},
		{"more", 64, func(v float64) bool { return v >= 8192 }, "at least 8192"},
		// This test process has a few dozen shallow goroutines: 2 or 4 KB.
		{"none", -1, func(v float64) bool { return v > 0 && v < 8192 }, "below 8192"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}}, StackHolders: tt.holders},
				sip.WithLogger(testLogger()), sip.WithRegisterer(reg))
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(sip.HandlerFunc(func(context.Context, sip.ResponseWriter, *sip.Request) error { return nil })); err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if v := startingStack(t, reg); !tt.want(v) {
				t.Errorf("starting stack with StackHolders %d: %v bytes, want %s", tt.holders, v, tt.what)
			}
		})
	}
}
