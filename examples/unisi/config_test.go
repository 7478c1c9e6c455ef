package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
)

// TestSIPStreamLimits: the [sip] stream limits reach sip.StreamLimits with
// their defaults, and 0 in the file turns a limit off.
func TestSIPStreamLimits(t *testing.T) {
	tests := []struct {
		name, body string
		want       sip.StreamLimits
	}{
		{"defaults", "", sip.StreamLimits{IdleTimeout: 120 * time.Second, MessageTimeout: 10 * time.Second, MaxConns: 2048, MaxConnsPerIP: 64}},
		{"set", "[sip]\nidle_timeout = \"300s\"\nmessage_timeout = \"4s\"\nmax_connections = 10000\nmax_connections_per_ip = 500\n",
			sip.StreamLimits{IdleTimeout: 300 * time.Second, MessageTimeout: 4 * time.Second, MaxConns: 10000, MaxConnsPerIP: 500}},
		{"off", "[sip]\nidle_timeout = \"0s\"\nmessage_timeout = \"0s\"\nmax_connections = 0\nmax_connections_per_ip = 0\n",
			sip.StreamLimits{IdleTimeout: -1, MessageTimeout: -1, MaxConns: -1, MaxConnsPerIP: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "unisi.toml")
			if err := os.WriteFile(p, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := loadConfig(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.SIP.streams(); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
