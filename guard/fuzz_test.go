package guard_test

import (
	"strings"
	"testing"

	"github.com/palio-voip/palio/guard"
)

// FuzzDigestUsername: any header value is read without a panic, and a
// username written as a quoted-string (escaping " and \) reads back.
func FuzzDigestUsername(f *testing.F) {
	for _, s := range []string{"5002", `a"b`, `x\y`, "mario.rossi", ""} {
		f.Add(s, `realm="voip.unisi.it"`)
	}
	f.Fuzz(func(t *testing.T, user, other string) {
		guard.DigestUsername(user)
		guard.DigestUsername("Digest " + other)
		if user == "" || strings.ContainsAny(user, "\r\n") {
			return
		}
		q := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(user)
		got, ok := guard.DigestUsername(`Digest username="` + q + `", realm="voip.unisi.it"`)
		if !ok || got != user {
			t.Fatalf("username %q written %q read back as %q, %v", user, q, got, ok)
		}
	})
}

// FuzzParseWindow: any hours and days parse or fail without a panic; a
// window parsed has valid minutes and contains its own start.
func FuzzParseWindow(f *testing.F) {
	f.Add("22:00", "06:59", "Mon-Fri")
	f.Add("", "", "Fri-Mon, Wed")
	f.Add("00:00", "23:59", "sun")
	f.Fuzz(func(t *testing.T, start, end, days string) {
		w, err := guard.ParseWindow(start, end, days)
		if err != nil {
			return
		}
		if w.Start < 0 || w.Start >= 1440 || w.End < 0 || w.End >= 1440 {
			t.Fatalf("%q %q: minutes out of range: %+v", start, end, w)
		}
		for d := range 7 {
			if w.Days[d] && !w.Contains(d, w.Start) {
				t.Fatalf("%+v does not contain its own start on day %d", w, d)
			}
		}
	})
}
