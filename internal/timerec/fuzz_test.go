package timerec

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary text to the parser. Whatever parses must
// evaluate without panicking, parse again from its String, and obey the
// algebra of the combinators: !(e) is the negation of e, and (e) & (e)
// and (e) / (e) are e.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"UTC",
		"20260101T000000|20261231T235959",
		"Europe/Rome|20260105T080000||PT10H|weekly|||MO,TU,WE,TH,FR",
		"UTC|20260105T220000||PT8H|daily|||MO,TU,WE,TH,FR",
		"UTC|20260101T000000||P1D|monthly|||-1SU",
		"UTC|20261224T000000||P1D|yearly||||24,25,26|||12",
		"UTC|20260101T000000||P1W|yearly||||||-1",
		"UTC|20260105T000000||P1D|weekly|20270101T000000|2|WE",
		"UTC|20260131T000000||P30D|monthly",
		"UTC|20260115T000000|||monthly",
		"20121101T000000||p30d",
		"UTC|20260101T000000|20260102T000000/UTC|20260601T000000|20260602T000000",
		"(UTC|20260101T000000|20270101T000000 & !(UTC||||weekly|||SA,SU)) / UTC|20300101T000000",
		"!!UTC|20260101T000000",
		"(",
		"UTC|20260101T000000||PT1D|daily",
	} {
		f.Add(s)
	}
	times := []time.Time{
		time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC), // Rome changes to summer time
		time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(e.String())
		if err != nil {
			t.Fatalf("Parse(%q) succeeded, Parse of its String failed: %v", s, err)
		}
		if strings.TrimSpace(s) == "" {
			if !e.Match(time.Now()) {
				t.Errorf("Parse(%q) is blank but does not always match", s)
			}
			return // "()" is not an expression
		}
		not, err := Parse("!(" + s + "\n)")
		if err != nil {
			t.Fatalf("Parse(%q) succeeded, its negation failed: %v", s, err)
		}
		and, err1 := Parse("(" + s + "\n) & (" + s + "\n)")
		or, err2 := Parse("(" + s + "\n)/(" + s + "\n)")
		if err1 != nil || err2 != nil {
			t.Fatalf("Parse(%q) succeeded, (e)&(e) or (e)/(e) failed: %v, %v", s, err1, err2)
		}
		for _, when := range times {
			m := e.Match(when)
			if again.Match(when) != m {
				t.Errorf("%q at %s: reparsed expression disagrees", s, when)
			}
			if not.Match(when) == m {
				t.Errorf("%q at %s: !(e) = e = %v", s, when, m)
			}
			if and.Match(when) != m || or.Match(when) != m {
				t.Errorf("%q at %s: (e)&(e) or (e)/(e) differs from e = %v", s, when, m)
			}
		}
	})
}
