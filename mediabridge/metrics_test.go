package mediabridge

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	r := newTestRelay(t, testConfig(4), WithRegisterer(reg))
	_, st, a, b := call(t, r, "m")
	a.send(st.Local(LegA), rtp(1, 0, 1))
	b.mustRecv("packet")
	newPhone(t).send(st.Local(LegA), rtp(1, 0, 9)) // another source: dropped
	eventually(t, "drop counted", func() bool { return r.Counters().Dropped == 1 })
	s2, _ := r.NewSession("m2")
	s2.Stream(0)
	if _, err := s2.Stream(1); err == nil {
		t.Fatal("third stream in a two-stream range: no error")
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetValue() + "}"
			}
			switch {
			case m.Counter != nil:
				got[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				got[key] = m.GetGauge().GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"palio_mediabridge_sessions":               2,
		"palio_mediabridge_ports_in_use":           8,
		"palio_mediabridge_packets_total{rtp}":     1,
		"palio_mediabridge_packets_total{rtcp}":    0,
		"palio_mediabridge_bytes_total{rtp}":       172,
		"palio_mediabridge_dropped_total{source}":  1,
		"palio_mediabridge_dropped_total{no_peer}": 0,
		"palio_mediabridge_port_exhausted_total":   1,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
}
