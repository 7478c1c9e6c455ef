package registrar

import (
	"testing"
	"time"
)

// TestSIPDate checks the once-a-second Date cache: each second reads as
// time.Format would put it (GMT, whatever the zone of the clock), within a
// second the text is the same, and a clock that steps back is not answered
// from the cache.
func TestSIPDate(t *testing.T) {
	rome := time.FixedZone("CET", 3600)
	t0 := time.Date(2026, 12, 7, 18, 59, 59, 0, rome)
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{t0, "Mon, 07 Dec 2026 17:59:59 GMT"},
		{t0.Add(900 * time.Millisecond), "Mon, 07 Dec 2026 17:59:59 GMT"},
		{t0.Add(time.Second), "Mon, 07 Dec 2026 18:00:00 GMT"},
		{t0.Add(-24 * time.Hour), "Sun, 06 Dec 2026 17:59:59 GMT"},
		{t0, "Mon, 07 Dec 2026 17:59:59 GMT"},
	} {
		if got := sipDate(c.at); got != c.want {
			t.Errorf("sipDate(%v) = %q, want %q", c.at, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = sipDate(t0) }); n != 0 {
		t.Errorf("sipDate allocates %v times within a second", n)
	}
}
