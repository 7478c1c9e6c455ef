package guard_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/sip"
)

// TestMetrics: each way to a ban counts once in palio_guard_bans_total
// under its kind (and in no other), the fraud thresholds reached in
// palio_guard_fraud_events_total by level and figure, the refusals in
// palio_guard_blocked_total; a ban a reload finds in the store was not
// decided here and does not count, though it is in force
// (palio_guard_bans).
func TestMetrics(t *testing.T) {
	rule := guard.Rule{ID: 3, Prefix: "000", TotalCalls: guard.Threshold{Warning: 2, Critical: 3}}
	tests := []struct {
		name  string
		cfg   guard.Config
		store []guard.Ban
		do    func(t *testing.T, e *env)
		kind  string // the bans_total that counts one; "": none
		want  map[string]float64
	}{
		{name: "auth failures of a source", cfg: authCfg, kind: "ip",
			do: func(t *testing.T, e *env) {
				for range 5 {
					e.g.AuthFailed(netip.MustParseAddr("203.0.113.9"), "5002", "wrong-password")
				}
				for range 2 {
					if v := e.g.Admit(ap("203.0.113.9:5060"), "udp"); v != sip.Drop {
						t.Fatalf("the banned source: %v, want Drop", v)
					}
				}
			},
			want: map[string]float64{"palio_guard_bans kind=ip": 1, "palio_guard_blocked_total reason=ip-ban": 2}},
		{name: "auth failures of an account", cfg: authCfg, kind: "user",
			do: func(t *testing.T, e *env) {
				for i := range 8 {
					e.g.AuthFailed(netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}), "5002", "wrong-password")
				}
			},
			want: map[string]float64{"palio_guard_bans kind=user": 1}},
		{name: "a flood", cfg: guard.Config{Flood: guard.FloodConfig{SamplingUnit: time.Second, Density: 10}}, kind: "flood",
			do: func(t *testing.T, e *env) {
				for range 15 {
					e.g.Admit(ap("127.0.0.2:5060"), "udp")
				}
			},
			want: map[string]float64{"palio_guard_flood_sources": 1, "palio_guard_blocked_total reason=flood": 6}},
		{name: "a fraud critical with Block", cfg: guard.Config{Flood: guard.FloodConfig{Off: true}, Fraud: guard.FraudConfig{Block: true}}, kind: "fraud",
			do: func(t *testing.T, e *env) {
				for i, want := range []int{0, 0, 403, 403} {
					if code, end := e.call(t, "000442079460000"); code != want {
						t.Fatalf("call %d: %d, want %d", i+1, code, want)
					} else {
						end(0)
					}
				}
			},
			want: map[string]float64{"palio_guard_bans kind=fraud": 1, "palio_guard_blocked_total reason=fraud": 1,
				"palio_guard_fraud_events_total level=warning param=total-calls":  1,
				"palio_guard_fraud_events_total level=critical param=total-calls": 1}},
		{name: "a fraud critical without Block", cfg: guard.Config{Flood: guard.FloodConfig{Off: true}},
			do: func(t *testing.T, e *env) {
				for i := range 5 {
					if code, end := e.call(t, "000442079460000"); code != 0 {
						t.Fatalf("call %d: %d, want 0", i+1, code)
					} else {
						end(0)
					}
				}
			},
			want: map[string]float64{"palio_guard_bans kind=fraud": 0, "palio_guard_blocked_total reason=fraud": 0,
				"palio_guard_fraud_events_total level=warning param=total-calls":  1,
				"palio_guard_fraud_events_total level=critical param=total-calls": 1}},
		{name: "bans found in the store", cfg: authCfg,
			store: []guard.Ban{
				{Kind: guard.BanIP, Subject: "203.0.113.9", Created: t0, Until: t0.Add(time.Hour), Reason: "another node's"},
				{Kind: guard.BanFraud, Subject: "5004", Created: t0, Reason: "another node's"},
			},
			do: func(t *testing.T, e *env) {
				if _, err := e.g.Reload(context.Background()); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]float64{"palio_guard_bans kind=ip": 1, "palio_guard_bans kind=fraud": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := guard.NewMemStore(rule)
			for _, b := range tt.store {
				if err := store.PutBan(context.Background(), b); err != nil {
					t.Fatal(err)
				}
			}
			tt.cfg.Fraud.Location = time.UTC
			e := newEnv(t, tt.cfg, store)
			tt.do(t, e)
			for _, k := range []guard.BanKind{guard.BanFlood, guard.BanIP, guard.BanUser, guard.BanFraud} {
				want := 0.0
				if string(k) == tt.kind {
					want = 1
				}
				if got := e.metric(t, "palio_guard_bans_total", "kind", string(k)); got != want {
					t.Errorf("palio_guard_bans_total{kind=%q} = %v, want %v", k, got, want)
				}
			}
			for key, want := range tt.want {
				name, labels := splitMetricKey(key)
				got := e.metric(t, name, labels...)
				if got == -1 && want == 0 {
					continue // a label set never used
				}
				if got != want {
					t.Errorf("%s = %v, want %v", key, got, want)
				}
			}
		})
	}
}

// splitMetricKey splits "name k=v k=v" into the name and label pairs.
func splitMetricKey(key string) (string, []string) {
	var parts []string
	start := 0
	for i := 0; i <= len(key); i++ {
		if i == len(key) || key[i] == ' ' || key[i] == '=' {
			parts = append(parts, key[start:i])
			start = i + 1
		}
	}
	return parts[0], parts[1:]
}
