package mediabridge

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{Bind: loopback}
	c.setDefaults()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Advertise != loopback || c.PortMin != 20000 || c.PortMax != 29999 || c.NoMediaTimeout != time.Minute ||
		c.HoldTimeout != time.Hour || c.OfferTimeout != 3*time.Minute || c.Workers < 1 {
		t.Fatalf("defaults: %+v", c)
	}
	if c.sweepInterval() != time.Second {
		t.Fatalf("sweep every %v, want 1s", c.sweepInterval())
	}
}

func TestConfigErrors(t *testing.T) {
	any4 := netip.MustParseAddr("0.0.0.0")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no bind", Config{}, "Bind: required"},
		{"unspecified without advertise", Config{Bind: any4}, "Advertise: required when Bind is 0.0.0.0"},
		{"v6 advertise on v4", Config{Bind: loopback, Advertise: netip.MustParseAddr("2001:db8::1")}, "is IPv6 but Bind 127.0.0.1 is IPv4"},
		{"min above max", Config{Bind: loopback, PortMin: 30000, PortMax: 20000}, "PortMin 30000 above PortMax 20000"},
		{"max out of range", Config{Bind: loopback, PortMin: 20000, PortMax: 70000}, "PortMax 70000: out of 1-65535"},
		{"too few ports", Config{Bind: loopback, PortMin: 20001, PortMax: 20004}, "a stream needs two even/odd pairs"},
		{"negative timeout", Config{Bind: loopback, NoMediaTimeout: -1}, "NoMediaTimeout -1ns: negative"},
		{"negative hold", Config{Bind: loopback, HoldTimeout: -time.Second}, "HoldTimeout -1s: negative"},
		{"too many workers", Config{Bind: loopback, Workers: 1000}, "Workers 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "mediabridge: config: ") {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestConfigUnspecifiedBind(t *testing.T) {
	cfg := testConfig(4)
	cfg.Bind = netip.MustParseAddr("0.0.0.0")
	cfg.Advertise = loopback
	r := newTestRelay(t, cfg)
	_, st, a, b := call(t, r, "any")
	if st.Local(LegA).Addr() != loopback {
		t.Fatalf("Local = %v, want the advertised %v", st.Local(LegA), loopback)
	}
	a.send(st.Local(LegA), rtp(1, 0, 1))
	b.mustRecv("through a relay bound to 0.0.0.0")
}
