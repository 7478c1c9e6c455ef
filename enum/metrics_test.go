package enum

import (
	"context"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
	"github.com/prometheus/client_golang/prometheus"
)

// metricValue returns the value of the counter (or the sample count of the
// histogram) called name with the given label values in reg, or -1 when
// there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	srv := newDNSServer(t, testZone+callerZone)
	srv.setSlow("1.1.1.1.2.0.9.3.e164.arpa.", 10*time.Second)
	reg := prometheus.NewRegistry()
	r, err := New(Config{Servers: []string{srv.addr}, Timeout: 100 * time.Millisecond}, WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	// A second resolver on the same registry shares the collectors.
	if _, err := New(Config{Servers: []string{srv.addr}}, WithRegisterer(reg)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []string{"+390577232111", "+390577232111", "+39061111", "+39061111", "+39021111", "0577"} {
		_, _ = r.Lookup(ctx, n)
	}
	req := siptest.NewRequest(sip.INVITE, "sip:5002@unisi.it")
	req.From().Address.User = "+390577111111"
	if _, err := r.CheckCaller(ctx, req, true); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"palio_enum_lookups_total", map[string]string{"outcome": "found"}, 3}, // two, and the caller check's
		{"palio_enum_lookups_total", map[string]string{"outcome": "not_found"}, 2},
		{"palio_enum_lookups_total", map[string]string{"outcome": "timeout"}, 1},
		{"palio_enum_lookups_total", map[string]string{"outcome": "invalid"}, 1},
		{"palio_enum_lookups_total", map[string]string{"outcome": "error"}, 0},
		{"palio_enum_cache_hits_total", nil, 2},
		{"palio_enum_cache_misses_total", nil, 4},
		{"palio_enum_lookup_seconds", nil, 4},
		{"palio_enum_dns_queries_total", map[string]string{"transport": "udp", "outcome": "noerror"}, 3}, // two NAPTR, one A
		{"palio_enum_dns_queries_total", map[string]string{"transport": "udp", "outcome": "nxdomain"}, 1},
		{"palio_enum_dns_queries_total", map[string]string{"transport": "udp", "outcome": "timeout"}, 1},
		{"palio_enum_caller_checks_total", map[string]string{"outcome": "verified"}, 1},
	}
	for _, tt := range tests {
		if got := metricValue(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v: got %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}
