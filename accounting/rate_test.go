package accounting

import (
	"testing"
	"time"
)

// TestCost prices calls by hand: the billed seconds are the talk time
// rounded up to whole seconds, then raised to the increments; the price
// is billed × per-minute / 60, rounded to the millionth, plus the fee.
func TestCost(t *testing.T) {
	national := Rate{PerMinute: 15000, ConnectFee: 50000, Initial: 60, Increment: 60} // 0.015/min, 0.05 a call, 60/60
	perSecond := Rate{PerMinute: 15000, Initial: 1, Increment: 1}                     // 0.015/min, 1/1
	mobile := Rate{PerMinute: 120000, Initial: 30, Increment: 6}                      // 0.12/min, 30/6
	intl := Rate{PerMinute: MoneyUnit, Initial: 60, Increment: 1}                     // 1.00/min, 60/1
	tests := []struct {
		name     string
		r        Rate
		answered bool
		talk     time.Duration
		want     string
	}{
		// 61 s → two started minutes: 2 × 0.015 + 0.05.
		{"60/60, 61 s", national, true, 61 * time.Second, "0.08"},
		// 60 s → one minute: 0.015 + 0.05.
		{"60/60, 60 s", national, true, 60 * time.Second, "0.065"},
		// 1 s → the first minute whole.
		{"60/60, 1 s", national, true, time.Second, "0.065"},
		// 61 s at 0.015/60 = 0.00025 a second.
		{"1/1, 61 s", perSecond, true, 61 * time.Second, "0.01525"},
		// 61.2 s → 62 s (acc's duration rounds up).
		{"1/1, 61.2 s", perSecond, true, 61200 * time.Millisecond, "0.0155"},
		// 29 s → the first 30 s: 30 × 0.002.
		{"30/6, 29 s", mobile, true, 29 * time.Second, "0.06"},
		// 31 s → 30 + 6 = 36 s: 36 × 0.002.
		{"30/6, 31 s", mobile, true, 31 * time.Second, "0.072"},
		// 37 s → 30 + 12 = 42 s.
		{"30/6, 37 s", mobile, true, 37 * time.Second, "0.084"},
		// 75 s → 60 + 15 = 75 s at 1/60 a second.
		{"60/1, 75 s", intl, true, 75 * time.Second, "1.25"},
		// 0/60 bills started minutes, as 60/60.
		{"0/60, 61 s", Rate{PerMinute: 15000, Increment: 60}, true, 61 * time.Second, "0.03"},
		// 1 s at 0.0001/min = 1.67 millionths → 2.
		{"rounding", Rate{PerMinute: 100, Initial: 1, Increment: 1}, true, time.Second, "0.000002"},
		{"unanswered, fee not due", national, false, 0, "0.00"},
		{"answered, 0 ms: the fee", national, true, 0, "0.05"},
		{"free", Rate{PerMinute: 15000, ConnectFee: 50000, Initial: 60, Increment: 60, Free: true}, true, 5 * time.Minute, "0.00"},
		// 12 h at 1.00/min: 720.
		{"long", intl, true, 12 * time.Hour, "720.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Cost(tt.r, tt.answered, tt.talk).String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRateTableMatch(t *testing.T) {
	tab := NewRateTable([]Rate{
		{ID: 1, Class: "national", Increment: 1},
		{ID: 2, Prefix: "0039", Increment: 1},
		{ID: 3, Class: "mobile", Prefix: "03", Increment: 1},
		{ID: 4, Prefix: "00800", Free: true, Increment: 1},
		{ID: 5, Class: "national", Prefix: "00577", Increment: 1},
		{ID: 6, Prefix: "00577", Increment: 1},
		{ID: 7, Class: "national", Prefix: "00577", Increment: 1}, // same as 5: the lower ID wins
	})
	tests := []struct {
		class, number string
		want          int
	}{
		{"national", "00577232111", 5}, // the longest prefix, the class's rate before the any-class one
		{"international", "00577232111", 6},
		{"national", "00800123456", 4},
		{"national", "0612345678", 1},
		{"mobile", "03331234567", 3},
		{"legacy", "03331234567", 0},
		{"international", "003906123", 2},
		{"voip", "5003", 0},
	}
	for _, tt := range tests {
		r, ok := tab.Match(tt.class, tt.number)
		if got := r.ID; got != tt.want || ok != (tt.want != 0) {
			t.Errorf("%s %s: got rate %d (%v), want %d", tt.class, tt.number, got, ok, tt.want)
		}
	}
}

// TestPrice: only calls that leave the organisation are priced.
func TestPrice(t *testing.T) {
	tab := NewRateTable([]Rate{{ID: 9, PerMinute: 60 * 1000, Initial: 1, Increment: 1}}) // any call: 0.001 a second
	for _, tt := range []struct {
		dir  Direction
		want Money
		rate int
	}{{Out, 30000, 9}, {Transit, 30000, 9}, {In, 0, 0}, {Internal, 0, 0}} {
		c := CDR{Direction: tt.dir, Code: 200, MSDuration: 30000, Number: "0577", Cost: 5, Rate: 5}
		tab.Price(&c)
		if c.Cost != tt.want || c.Rate != tt.rate {
			t.Errorf("%s: cost %v rate %d, want %v rate %d", tt.dir, c.Cost, c.Rate, tt.want, tt.rate)
		}
	}
}

func TestMoney(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Money
		out  string
	}{
		{"0.015", 15000, "0.015"},
		{"1", MoneyUnit, "1.00"},
		{"2.5", 2500000, "2.50"},
		{".05", 50000, "0.05"},
		{"0.000001", 1, "0.000001"},
		{"-1.5", -1500000, "-1.50"},
	} {
		got, err := ParseMoney(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		if s := got.String(); s != tt.out {
			t.Errorf("%d.String() = %q, want %q", got, s, tt.out)
		}
	}
	for _, bad := range []string{"", ".", "0.0000001", "1,5", "abc", "1.2.3", "1e3"} {
		if _, err := ParseMoney(bad); err == nil {
			t.Errorf("ParseMoney(%q): no error", bad)
		}
	}
}

func TestParseBilling(t *testing.T) {
	for _, s := range []string{"60/60", "1/1", "30/6", "0/60"} {
		i, n, err := ParseBilling(s)
		if err != nil || (Rate{Initial: i, Increment: n}).Billing() != s {
			t.Errorf("%s: %d/%d %v", s, i, n, err)
		}
	}
	for _, s := range []string{"60", "60/0", "-1/1", "a/b", "1/3601"} {
		if _, _, err := ParseBilling(s); err == nil {
			t.Errorf("%s: no error", s)
		}
	}
}
