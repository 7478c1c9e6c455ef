package timerec

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

type freq uint8

const (
	noFreq freq = iota
	daily
	weekly
	monthly
	yearly
)

// unitLen is the length from which a duration covers a whole unit, as
// OpenSIPS counts it (the longest month, the longest year).
var unitLen = [...]time.Duration{
	daily:   24 * time.Hour,
	weekly:  7 * 24 * time.Hour,
	monthly: 31 * 24 * time.Hour,
	yearly:  366 * 24 * time.Hour,
}

// maxDuration caps durations so that time arithmetic cannot overflow;
// anything longer is as good as forever for a routing rule.
const maxDuration = 250 * 366 * 24 * time.Hour

// ordinalDay is one byday entry: a weekday and an ordinal (0 for every
// such weekday; 1 the first, -1 the last).
type ordinalDay struct {
	wd time.Weekday
	n  int
}

// rec is one parsed record.
type rec struct {
	always bool // no constraint at all

	loc   *time.Location
	start time.Time
	// start's parts in loc.
	sy       int
	sm       time.Month
	sd       int
	sh, smin int
	ssec     int
	sdays    int64 // civil day number of start's date
	smonday  int64 // civil day number of the Monday of start's week
	swoff    int   // days from that Monday to start's weekday

	end     time.Time // non-recurring: end of the single interval
	forever bool      // non-recurring, without an end

	dur   time.Duration // length of an occurrence, unless toEnd
	toEnd bool          // occurrences last to the end of their unit
	whole bool          // dur covers a whole unit
	freq  freq
	unit  freq

	until    time.Time
	hasUntil bool
	interval int

	byday    []ordinalDay
	bymday   []int
	byyday   []int
	byweekno []int
	bymonth  []int
}

// fieldError is a record parse error, reported with the record's text.
type fieldError struct{ msg string }

func (e *fieldError) Error() string { return e.msg }

func fieldErrorf(field, format string, args ...any) error {
	return &fieldError{msg: field + ": " + fmt.Sprintf(format, args...)}
}

// The fields after tz, in order.
const (
	fDtstart = iota
	fDtend
	fDuration
	fFreq
	fUntil
	fInterval
	fByday
	fBymday
	fByyday
	fByweekno
	fBymonth
	nFields
)

func parseRec(s string) (*rec, error) {
	fields := strings.Split(s, "|")
	r := &rec{loc: time.Local, interval: 1}
	// The zone is optional: it is there when the first field is empty and
	// more follow, or begins with an upper-case letter.
	if f := fields[0]; (f == "" && len(fields) > 1) || (f != "" && f[0] >= 'A' && f[0] <= 'Z') {
		if f != "" {
			loc, err := loadZone(f)
			if err != nil {
				return nil, err
			}
			r.loc = loc
		}
		fields = fields[1:]
	}
	if len(fields) > nFields {
		return nil, &fieldError{msg: fmt.Sprintf("%d fields, at most 12 are allowed (tz and 11 more)", len(fields)+1)}
	}
	var f [nFields]string
	copy(f[:], fields)

	var err error
	if f[fFreq] != "" {
		if r.freq, err = parseFreq(f[fFreq]); err != nil {
			return nil, err
		}
	}
	if f[fDtstart] == "" {
		if r.freq == noFreq && f[fDtend] == "" && f[fDuration] == "" {
			return &rec{always: true}, nil
		}
		r.start = time.Date(1970, 1, 1, 0, 0, 0, 0, r.loc)
	} else if r.start, err = parseDateTime("dtstart", f[fDtstart], r.loc); err != nil {
		return nil, err
	}

	switch {
	case f[fDuration] != "":
		if r.dur, err = parseDuration(f[fDuration]); err != nil {
			return nil, err
		}
	case f[fDtend] != "":
		end, err := parseDateTime("dtend", f[fDtend], r.loc)
		if err != nil {
			return nil, err
		}
		if !end.After(r.start) {
			return nil, fieldErrorf("dtend", "%s is not after dtstart", f[fDtend])
		}
		r.dur = min(end.Sub(r.start), maxDuration)
	case r.freq == noFreq:
		r.forever = true
	default:
		r.toEnd = true
	}

	if r.freq == noFreq {
		// The fields after freq mean nothing without it.
		r.end = r.start.Add(r.dur)
		return r, nil
	}

	if f[fUntil] != "" {
		if r.until, err = parseDateTime("until", f[fUntil], r.loc); err != nil {
			return nil, err
		}
		r.hasUntil = true
	}
	if f[fInterval] != "" {
		if r.interval, err = parseNumber("interval", f[fInterval], 1, 1_000_000); err != nil {
			return nil, err
		}
	}
	if f[fByday] != "" {
		if r.byday, err = parseByday(f[fByday]); err != nil {
			return nil, err
		}
	}
	lists := []struct {
		name     string
		text     string
		dst      *[]int
		max      int
		negative bool
	}{
		{"bymday", f[fBymday], &r.bymday, 31, true},
		{"byyday", f[fByyday], &r.byyday, 366, true},
		{"byweekno", f[fByweekno], &r.byweekno, 53, true},
		{"bymonth", f[fBymonth], &r.bymonth, 12, false},
	}
	for _, l := range lists {
		if l.text != "" {
			if *l.dst, err = parseList(l.name, l.text, l.max, l.negative); err != nil {
				return nil, err
			}
		}
	}
	if r.freq != yearly {
		r.byweekno = nil // RFC 2445: only meaningful with a yearly rule
	}

	switch {
	case r.freq == daily || len(r.byday) > 0 || len(r.bymday) > 0 || len(r.byyday) > 0:
		r.unit = daily
	case r.freq == weekly || len(r.byweekno) > 0:
		r.unit = weekly
	case r.freq == monthly || len(r.bymonth) > 0:
		r.unit = monthly
	default:
		r.unit = yearly
	}
	r.whole = !r.toEnd && r.dur >= unitLen[r.unit]

	r.sy, r.sm, r.sd = r.start.Date()
	r.sh, r.smin, r.ssec = r.start.Clock()
	r.sdays = civilDay(r.sy, r.sm, r.sd)
	r.swoff = mondayOffset(r.start.Weekday())
	r.smonday = r.sdays - int64(r.swoff)
	return r, nil
}

var zones sync.Map // zone name → *time.Location

func loadZone(name string) (*time.Location, error) {
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fieldErrorf("tz", "unknown time zone %q", name)
	}
	zones.Store(name, loc)
	return loc, nil
}

func parseFreq(s string) (freq, error) {
	switch strings.ToLower(s) {
	case "daily":
		return daily, nil
	case "weekly":
		return weekly, nil
	case "monthly":
		return monthly, nil
	case "yearly":
		return yearly, nil
	}
	return noFreq, fieldErrorf("freq", "%q is not daily, weekly, monthly or yearly", s)
}

// parseDateTime reads YYYYMMDDThhmmss as a wall-clock time in loc.
func parseDateTime(field, s string, loc *time.Location) (time.Time, error) {
	bad := func(why string) (time.Time, error) {
		return time.Time{}, fieldErrorf(field, "%q: %s", s, why)
	}
	if len(s) != 15 || (s[8] != 'T' && s[8] != 't') {
		return bad("want YYYYMMDDThhmmss")
	}
	num := func(i, j int) int {
		v := 0
		for _, c := range []byte(s[i:j]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d := num(0, 4), num(4, 6), num(6, 8)
	h, mi, sec := num(9, 11), num(11, 13), num(13, 15)
	switch {
	case y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0:
		return bad("want YYYYMMDDThhmmss")
	case y < 1970:
		return bad("year before 1970")
	case mo < 1 || mo > 12:
		return bad("month out of range")
	case d < 1 || d > daysIn(time.Month(mo), y):
		return bad("day out of range")
	case h > 23 || mi > 59 || sec > 59:
		return bad("time of day out of range")
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, 0, loc), nil
}

// parseDuration reads an RFC 2445 duration (P1W, P2D, PT8H30M, P1DT2H) or
// OpenSIPS's unprefixed form (8H, 90M, 3600S). Hours, minutes and seconds
// are also taken after P without T (P8H).
func parseDuration(s string) (time.Duration, error) {
	p := s
	prefixed := p[0] == 'P' || p[0] == 'p'
	if prefixed {
		p = p[1:]
	}
	var total, num int64
	digits, units, timePart := 0, 0, !prefixed
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= '0' && c <= '9' {
			if digits++; digits > 9 {
				return 0, fieldErrorf("duration", "%q: number too large", s)
			}
			num = num*10 + int64(c-'0')
			continue
		}
		var unit int64
		switch c | 0x20 { // ASCII lower case
		case 't':
			if !prefixed || timePart || digits > 0 {
				return 0, fieldErrorf("duration", "%q: misplaced T", s)
			}
			timePart = true
			continue
		case 'w':
			unit = 7 * 86400
		case 'd':
			unit = 86400
		case 'h':
			unit = 3600
		case 'm':
			unit = 60
		case 's':
			unit = 1
		default:
			return 0, fieldErrorf("duration", "%q: unexpected %q", s, c)
		}
		if unit >= 86400 && timePart {
			return 0, fieldErrorf("duration", "%q: weeks and days go before T", s)
		}
		if digits == 0 {
			return 0, fieldErrorf("duration", "%q: %q without a number", s, c)
		}
		total += num * unit
		num, digits = 0, 0
		units++
	}
	if digits > 0 {
		return 0, fieldErrorf("duration", "%q: number without a unit", s)
	}
	if units == 0 {
		return 0, fieldErrorf("duration", "%q: no length given", s)
	}
	if total == 0 {
		return 0, fieldErrorf("duration", "%q: must be longer than zero", s)
	}
	if total > int64(maxDuration/time.Second) {
		return maxDuration, nil
	}
	return time.Duration(total) * time.Second, nil
}

func parseNumber(field, s string, lo, hi int) (int, error) {
	if len(s) > 9 {
		return 0, fieldErrorf(field, "%q: want a number from %d to %d", s, lo, hi)
	}
	v := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fieldErrorf(field, "%q: want a number from %d to %d", s, lo, hi)
		}
		v = v*10 + int(c-'0')
	}
	if v < lo || v > hi {
		return 0, fieldErrorf(field, "%q: want a number from %d to %d", s, lo, hi)
	}
	return v, nil
}

// parseSigned reads [+|-]digits and checks 1 <= |v| <= max.
func parseSigned(field, s string, max int, negative bool) (int, error) {
	sign := 1
	t := s
	if t != "" && (t[0] == '+' || t[0] == '-') {
		if t[0] == '-' {
			if !negative {
				return 0, fieldErrorf(field, "%q: negative values are not allowed", s)
			}
			sign = -1
		}
		t = t[1:]
	}
	v, err := parseNumber(field, t, 1, max)
	if err != nil {
		if negative {
			return 0, fieldErrorf(field, "%q: want 1..%d or -%d..-1", s, max, max)
		}
		return 0, fieldErrorf(field, "%q: want 1..%d", s, max)
	}
	return sign * v, nil
}

func parseList(field, s string, max int, negative bool) ([]int, error) {
	var out []int
	for _, item := range strings.Split(s, ",") {
		v, err := parseSigned(field, item, max, negative)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

var weekdays = map[string]time.Weekday{
	"mo": time.Monday, "tu": time.Tuesday, "we": time.Wednesday, "th": time.Thursday,
	"fr": time.Friday, "sa": time.Saturday, "su": time.Sunday,
}

func parseByday(s string) ([]ordinalDay, error) {
	var out []ordinalDay
	for _, item := range strings.Split(s, ",") {
		if len(item) < 2 {
			return nil, fieldErrorf("byday", "%q: want a weekday such as MO, 1MO or -1SU", item)
		}
		wd, ok := weekdays[strings.ToLower(item[len(item)-2:])]
		if !ok {
			return nil, fieldErrorf("byday", "%q: want a weekday such as MO, 1MO or -1SU", item)
		}
		n := 0
		if ord := item[:len(item)-2]; ord != "" {
			var err error
			if n, err = parseSigned("byday", ord, 53, true); err != nil {
				return nil, fieldErrorf("byday", "%q: the ordinal must be 1..53 or -53..-1", item)
			}
		}
		out = append(out, ordinalDay{wd: wd, n: n})
	}
	return out, nil
}
