package timerec

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests must not depend on the host's zoneinfo
)

func at(t *testing.T, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMatch(t *testing.T) {
	const (
		office = "Europe/Rome|20260105T080000||PT10H|weekly|||MO,TU,WE,TH,FR"
		night  = "UTC|20260105T220000||PT8H|daily|||MO,TU,WE,TH,FR"
	)
	tests := []struct {
		name string
		rec  string
		zone string // of when
		when string
		want bool
	}{
		{"empty is always", "", "UTC", "2030-06-01 12:00", true},
		{"zone only is always", "Europe/Rome", "UTC", "2030-06-01 12:00", true},
		{"single interval inside", "UTC|20260101T000000|20261231T235959", "UTC", "2026-07-01 12:00", true},
		{"single interval after", "UTC|20260101T000000|20261231T235959", "UTC", "2027-01-01 00:00", false},
		{"single interval before", "UTC|20260101T000000|20261231T235959", "UTC", "2025-12-31 23:59", false},
		{"30 days from dtstart", "UTC|20121101T000000||p30d", "UTC", "2012-11-30 23:59", true},
		{"30 days from dtstart, day 31", "UTC|20121101T000000||p30d", "UTC", "2012-12-01 00:00", false},
		{"no end, no freq: forever", "UTC|20260101T000000", "UTC", "2099-01-01 00:00", true},

		{"office hours, Monday morning", office, "Europe/Rome", "2026-03-02 09:00", true},
		{"office hours, last minute", office, "Europe/Rome", "2026-03-02 17:59", true},
		{"office hours, end is exclusive", office, "Europe/Rome", "2026-03-02 18:00", false},
		{"office hours, before opening", office, "Europe/Rome", "2026-03-02 07:59", false},
		{"office hours, Saturday", office, "Europe/Rome", "2026-03-07 09:00", false},
		{"office hours, before dtstart", office, "Europe/Rome", "2026-01-02 09:00", false},
		{"office hours, in summer time", office, "Europe/Rome", "2026-07-01 08:30", true},
		{"office hours, read in UTC", office, "UTC", "2026-07-01 06:30", true},
		{"office hours, UTC before summer opening", office, "UTC", "2026-07-01 05:30", false},
		{"OpenSIPS #2616: 07:30 before an 8H window", "UTC|20210104T080000||8H|WEEKLY|||MO,TU,WE,TH,FR", "UTC", "2021-08-30 07:30", false},
		{"OpenSIPS #2616: inside the 8H window", "UTC|20210104T080000||8H|WEEKLY|||MO,TU,WE,TH,FR", "UTC", "2021-08-30 08:30", true},

		{"night shift, Friday night", night, "UTC", "2026-03-06 23:00", true},
		{"night shift, into Saturday", night, "UTC", "2026-03-07 03:00", true},
		{"night shift, Saturday night", night, "UTC", "2026-03-07 23:00", false},
		{"night shift, Sunday into Monday", night, "UTC", "2026-03-09 03:00", false},
		{"night shift, ends at six", night, "UTC", "2026-03-10 06:00", false},

		{"last Sunday of the month", "UTC|20260101T000000||P1D|monthly|||-1SU", "UTC", "2026-03-29 10:00", true},
		{"not the last Sunday", "UTC|20260101T000000||P1D|monthly|||-1SU", "UTC", "2026-03-22 10:00", false},
		{"first Monday of the month", "UTC|20260101T000000||P1D|monthly|||1MO", "UTC", "2026-03-02 10:00", true},
		{"second Monday is not the first", "UTC|20260101T000000||P1D|monthly|||1MO", "UTC", "2026-03-09 10:00", false},
		{"second Wednesday", "UTC|20260101T000000||P1D|monthly|||2WE", "UTC", "2026-03-11 10:00", true},
		{"plain MO monthly: every Monday", "UTC|20260101T000000||P1D|monthly|||MO", "UTC", "2026-03-16 10:00", true},
		{"20th Friday of the year", "UTC|20260101T000000||P1D|yearly|||20FR", "UTC", "2026-05-15 10:00", true},
		{"last day of February", "UTC|20260101T000000||P1D|monthly||||-1", "UTC", "2026-02-28 10:00", true},
		{"not the last day", "UTC|20260101T000000||P1D|monthly||||-1", "UTC", "2026-02-27 10:00", false},
		{"the 31st of a 31-day month", "UTC|20260101T000000||P1D|monthly||||31", "UTC", "2026-01-31 10:00", true},
		{"last day of the year", "UTC|20260101T000000||P1D|yearly|||||-1", "UTC", "2026-12-31 10:00", true},
		{"first day of the year is not -1", "UTC|20260101T000000||P1D|yearly|||||-1", "UTC", "2027-01-01 10:00", false},
		{"day 100 of the year", "UTC|20260101T000000||P1D|yearly|||||100", "UTC", "2026-04-10 10:00", true},
		{"last Sunday of March", "UTC|20260101T000000||P1D|yearly|||-1SU||||3", "UTC", "2027-03-28 10:00", true},
		{"not the last Sunday of March", "UTC|20260101T000000||P1D|yearly|||-1SU||||3", "UTC", "2027-03-21 10:00", false},
		{"Christmas", "UTC|20261224T000000||P1D|yearly||||24,25,26|||12", "UTC", "2027-12-25 10:00", true},
		{"not Christmas", "UTC|20261224T000000||P1D|yearly||||24,25,26|||12", "UTC", "2027-11-25 10:00", false},
		{"ISO week 1", "UTC|20260101T000000||P1W|yearly||||||1", "UTC", "2026-01-02 10:00", true},
		{"ISO week 2", "UTC|20260101T000000||P1W|yearly||||||1", "UTC", "2026-01-05 10:00", false},
		{"ISO week 1 of 2027 starts on 4 January", "UTC|20260101T000000||P1W|yearly||||||1", "UTC", "2027-01-04 10:00", true},
		{"3 January 2027 is in week 53", "UTC|20260101T000000||P1W|yearly||||||1", "UTC", "2027-01-03 10:00", false},
		{"last ISO week", "UTC|20260101T000000||P1W|yearly||||||-1", "UTC", "2027-01-03 10:00", true},
		{"byweekno ignored without yearly", "UTC|20260101T000000||P1D|daily||||||1", "UTC", "2026-06-01 10:00", true},
		{"bymonth alone: first of March", "UTC|20260101T080000||PT2H|yearly|||||||3", "UTC", "2026-03-01 09:00", true},
		{"bymonth alone: not the second", "UTC|20260101T080000||PT2H|yearly|||||||3", "UTC", "2026-03-02 09:00", false},

		{"every other week, week 0", "UTC|20260105T000000||P1D|weekly||2", "UTC", "2026-01-05 10:00", true},
		{"every other week, week 1", "UTC|20260105T000000||P1D|weekly||2", "UTC", "2026-01-12 10:00", false},
		{"every other week, week 2", "UTC|20260105T000000||P1D|weekly||2", "UTC", "2026-01-19 10:00", true},
		{"every other week with byday", "UTC|20260105T000000||P1D|weekly||2|WE", "UTC", "2026-01-21 10:00", true},
		{"every other week with byday, off week", "UTC|20260105T000000||P1D|weekly||2|WE", "UTC", "2026-01-14 10:00", false},
		{"every third day", "UTC|20260105T080000||PT1H|daily||3", "UTC", "2026-01-11 08:30", true},
		{"every third day, off day", "UTC|20260105T080000||PT1H|daily||3", "UTC", "2026-01-10 08:30", false},
		{"interval 12 read whole", "UTC|20260105T080000||PT1H|daily||12", "UTC", "2026-01-17 08:30", true},
		{"interval 12, 3 days later", "UTC|20260105T080000||PT1H|daily||12", "UTC", "2026-01-08 08:30", false},
		{"every other month", "UTC|20260110T000000||P1D|monthly||2", "UTC", "2026-03-10 10:00", true},
		{"every other month, off month", "UTC|20260110T000000||P1D|monthly||2", "UTC", "2026-04-10 10:00", false},
		{"every other year", "UTC|20260110T000000||P1D|yearly||2", "UTC", "2028-01-10 10:00", true},
		{"every other year, off year", "UTC|20260110T000000||P1D|yearly||2", "UTC", "2027-01-10 10:00", false},

		{"until, before", "UTC|20260105T080000||PT1H|daily|20260110T000000", "UTC", "2026-01-09 08:30", true},
		{"until, after", "UTC|20260105T080000||PT1H|daily|20260110T000000", "UTC", "2026-01-10 08:30", false},
		{"dtend gives the length", "UTC|20260105T080000|20260105T170000||daily", "UTC", "2026-02-05 16:59", true},
		{"dtend gives the length, after", "UTC|20260105T080000|20260105T170000||daily", "UTC", "2026-02-05 17:00", false},
		{"no length: to the end of the week", "UTC|20260105T080000|||weekly", "UTC", "2026-03-08 23:59", true},
		{"no length: not before Monday 08:00", "UTC|20260105T080000|||weekly", "UTC", "2026-03-09 07:59", false},
		{"no length: to the end of the day", "UTC|20260105T080000|||weekly|||MO", "UTC", "2026-03-09 23:59", true},
		{"no length: not Tuesday", "UTC|20260105T080000|||weekly|||MO", "UTC", "2026-03-10 00:00", false},
		{"no length: to the end of the month", "UTC|20260115T000000|||monthly", "UTC", "2026-02-28 23:00", true},
		{"no length: the month from the 15th", "UTC|20260115T000000|||monthly", "UTC", "2026-02-14 23:00", false},
		{"no length: to the end of the year", "UTC|20260701T000000|||yearly", "UTC", "2027-12-31 23:00", true},
		{"29 February, leap year", "UTC|20240229T000000||P1D|yearly", "UTC", "2028-02-29 10:00", true},
		{"29 February, common year", "UTC|20240229T000000||P1D|yearly", "UTC", "2027-03-01 10:00", false},
		{"the 31st, monthly, March", "UTC|20260131T100000||PT1H|monthly", "UTC", "2026-03-31 10:30", true},
		{"the 31st, monthly, April has none", "UTC|20260131T100000||PT1H|monthly", "UTC", "2026-04-30 10:30", false},
		{"30 days from the 31st spans February", "UTC|20260131T000000||P30D|monthly", "UTC", "2026-03-01 12:00", true},
		{"whole months", "UTC|20260101T000000||P31D|monthly|||||||1,7", "UTC", "2026-07-19 12:00", true},
		{"whole months, other month", "UTC|20260101T000000||P31D|monthly|||||||1,7", "UTC", "2026-08-19 12:00", false},
		{"summer time: 08:30 local after the change", "Europe/Rome|20260105T080000||PT1H|daily", "Europe/Rome", "2026-03-30 08:30", true},
		{"summer time: 07:30 local after the change", "Europe/Rome|20260105T080000||PT1H|daily", "Europe/Rome", "2026-03-30 07:30", false},

		{"empty dtstart with freq: every Monday", "UTC||||weekly|||MO", "UTC", "2026-03-09 12:00", true},
		{"empty dtstart with freq: not Tuesday", "UTC||||weekly|||MO", "UTC", "2026-03-10 12:00", false},
		{"empty dtstart and a duration: 1970 only", "UTC|||P1D", "UTC", "2026-03-10 12:00", false},
		{"empty leading zone field", "|20260101T000000|20260102T000000", "Local", "2026-01-01 12:00", true},
		{"no zone: the local zone", "20260101T000000|20260102T000000", "Local", "2026-01-01 12:00", true},
		{"no zone: the local zone, after", "20260101T000000|20260102T000000", "Local", "2026-01-02 12:00", false},
		{"fields after freq ignored without it", "UTC|20260101T000000|20260102T000000|||junk||XX", "UTC", "2026-01-01 12:00", true},

		{"and", "UTC|20260105T080000||PT10H|weekly|||MO,TU,WE,TH,FR & !(UTC|20261225T000000|20261226T000000)", "UTC", "2026-12-24 09:00", true},
		{"and not a holiday", "UTC|20260105T080000||PT10H|weekly|||MO,TU,WE,TH,FR & !(UTC|20261225T000000|20261226T000000)", "UTC", "2026-12-25 09:00", false},
		{"or, first", "UTC|20260101T000000|20260102T000000 / UTC|20260601T000000|20260602T000000", "UTC", "2026-01-01 12:00", true},
		{"or, second, no spaces", "UTC|20260101T000000|20260102T000000/UTC|20260601T000000|20260602T000000", "UTC", "2026-06-01 12:00", true},
		{"or, neither", "UTC|20260101T000000|20260102T000000/UTC|20260601T000000|20260602T000000", "UTC", "2026-03-01 12:00", false},
		{"not", "!UTC|20260101T000000|20260102T000000", "UTC", "2026-01-01 12:00", false},
		{"not not", "! ! UTC|20260101T000000|20260102T000000", "UTC", "2026-01-01 12:00", true},
		{"nested", "(UTC|20260101T000000|20270101T000000 & !(UTC||||weekly|||SA,SU)) / UTC|20300101T000000", "UTC", "2026-03-07 12:00", false},
		{"nested, weekday", "(UTC|20260101T000000|20270101T000000 & !(UTC||||weekly|||SA,SU)) / UTC|20300101T000000", "UTC", "2026-03-06 12:00", true},
		{"nested, second branch", "(UTC|20260101T000000|20270101T000000 & !(UTC||||weekly|||SA,SU)) / UTC|20300101T000000", "UTC", "2031-03-07 12:00", true},
		{"zone with a slash", "Europe/Rome|20260101T000000|20260102T000000", "UTC", "2025-12-31 23:30", true},
		{"zone with a slash, next day in Rome", "Europe/Rome|20260101T000000|20260102T000000", "UTC", "2026-01-01 23:30", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.rec)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.rec, err)
			}
			when := at(t, tt.zone, tt.when)
			if got := e.Match(when); got != tt.want {
				t.Errorf("Parse(%q).Match(%s) = %v, want %v", tt.rec, when, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, rec, want string
	}{
		{"bad date", "UTC|2026-01-01", "dtstart"},
		{"month 13", "UTC|20261301T000000", "month out of range"},
		{"30 February", "UTC|20260230T000000", "day out of range"},
		{"hour 24", "UTC|20260101T240000", "time of day out of range"},
		{"before 1970", "UTC|19690101T000000", "before 1970"},
		{"unknown zone", "Mars/Olympus|20260101T000000", "unknown time zone"},
		{"duration P alone", "UTC|20260101T000000||P|daily", "no length"},
		{"duration without unit", "UTC|20260101T000000||8|daily", "number without a unit"},
		{"days after T", "UTC|20260101T000000||PT1D|daily", "before T"},
		{"T without P", "UTC|20260101T000000||T1H|daily", "misplaced T"},
		{"zero duration", "UTC|20260101T000000||PT0S|daily", "longer than zero"},
		{"stray letter in duration", "UTC|20260101T000000||PT1X|daily", "unexpected"},
		{"unknown freq", "UTC|20260101T000000||PT1H|hourly", "freq"},
		{"interval zero", "UTC|20260101T000000||PT1H|daily||0", "interval"},
		{"interval not a number", "UTC|20260101T000000||PT1H|daily||x", "interval"},
		{"unknown weekday", "UTC|20260101T000000||PT1H|daily|||XX", "byday"},
		{"ordinal zero", "UTC|20260101T000000||PT1H|monthly|||0MO", "byday"},
		{"ordinal 54", "UTC|20260101T000000||PT1H|monthly|||54MO", "byday"},
		{"empty list item", "UTC|20260101T000000||PT1H|weekly|||MO,,TU", "byday"},
		{"bymday 32", "UTC|20260101T000000||PT1H|monthly||||32", "bymday"},
		{"bymday 0", "UTC|20260101T000000||PT1H|monthly||||0", "bymday"},
		{"bymonth 13", "UTC|20260101T000000||PT1H|yearly|||||||13", "bymonth"},
		{"negative bymonth", "UTC|20260101T000000||PT1H|yearly|||||||-1", "negative"},
		{"dtend before dtstart", "UTC|20260101T000000|20251231T000000", "not after dtstart"},
		{"too many fields", "UTC|20260101T000000||P1D|yearly|||||||1|1", "at most 12"},
		{"mixed operators", "UTC|20260101T000000 & UTC|20260101T000000 / UTC|20260101T000000", "mixed"},
		{"unclosed parenthesis", "(UTC|20260101T000000", "missing )"},
		{"stray closing parenthesis", "UTC|20260101T000000)", "unexpected"},
		{"leading operator", "& UTC|20260101T000000", "unexpected"},
		{"trailing operator", "UTC|20260101T000000 &", "missing operand"},
		{"lone not", "!", "missing operand"},
		{"two records without operator", "UTC|20260101T000000 UTC|20260101T000000", "want & or /"},
		{"empty parentheses", "()", "unexpected"},
		{"too deep", strings.Repeat("(", 40) + "UTC" + strings.Repeat(")", 40), "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.rec)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, nil; want an error containing %q", tt.rec, e, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "timerec: ") {
				t.Errorf("Parse(%q) error = %q, want one starting \"timerec: \" and containing %q", tt.rec, err, tt.want)
			}
		})
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"P1W", 7 * 24 * time.Hour},
		{"p30d", 30 * 24 * time.Hour},
		{"PT8H", 8 * time.Hour},
		{"P8H", 8 * time.Hour},
		{"8H", 8 * time.Hour},
		{"90M", 90 * time.Minute},
		{"3600S", time.Hour},
		{"PT1H30M15S", time.Hour + 30*time.Minute + 15*time.Second},
		{"P1DT12H", 36 * time.Hour},
		{"P999999999W", maxDuration},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("parseDuration(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNilAndString(t *testing.T) {
	var e *Expr
	if !e.Match(time.Now()) {
		t.Errorf("nil Expr: Match = false, want true")
	}
	if got := e.String(); got != "" {
		t.Errorf("nil Expr: String() = %q, want \"\"", got)
	}
	const src = " UTC|20260101T000000 / UTC|20270101T000000 "
	p, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.String(); got != src {
		t.Errorf("String() = %q, want %q", got, src)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	e, err := Parse("Europe/Rome|20260105T080000||PT10H|weekly||2|MO,TU,WE,TH,FR||||1,2,3 & !(Europe/Rome|20261225T000000|20261226T000000)")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	if allocs := testing.AllocsPerRun(100, func() { e.Match(now) }); allocs != 0 {
		t.Errorf("Match allocated %v times a run, want 0", allocs)
	}
}

// BenchmarkMatch: budget 0 allocs/op.
func BenchmarkMatch(b *testing.B) {
	e, err := Parse("Europe/Rome|20260105T080000||PT10H|weekly|||MO,TU,WE,TH,FR")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		e.Match(now)
	}
}
