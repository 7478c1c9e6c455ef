package timerec

import "time"

// match reports whether t falls within the record.
func (r *rec) match(t time.Time) bool {
	if r.always {
		return true
	}
	if t.Before(r.start) {
		return false
	}
	if r.freq == noFreq {
		return r.forever || t.Before(r.end)
	}
	if r.hasUntil && t.After(r.until) {
		return false
	}
	lt := t.In(r.loc)
	y, m, d := lt.Date()
	if r.whole {
		return r.accept(y, m, d)
	}
	// An occurrence that covers t began in t's unit or in one of the two
	// before it (a month-long occurrence can span a short February).
	for k := 0; k < 3; k++ {
		s, ok := r.occurrence(y, m, d, lt.Weekday(), k)
		if !ok || s.Before(r.start) || t.Before(s) {
			continue
		}
		if t.Before(r.occurrenceEnd(s)) {
			sy, sm, sd := s.Date()
			if r.accept(sy, sm, sd) {
				return true
			}
		}
	}
	return false
}

// occurrence returns the start of the occurrence in the k-th unit before
// the one holding the date y-m-d (weekday wd); false when that unit has no
// such date (the 31st of April, the 29th of February of 2027).
func (r *rec) occurrence(y int, m time.Month, d int, wd time.Weekday, k int) (time.Time, bool) {
	switch r.unit {
	case daily:
		return time.Date(y, m, d-k, r.sh, r.smin, r.ssec, 0, r.loc), true
	case weekly:
		monday := d - mondayOffset(wd)
		return time.Date(y, m, monday+r.swoff-7*k, r.sh, r.smin, r.ssec, 0, r.loc), true
	case monthly:
		mm := int(m) - 1 - k
		yy := y + floorDiv(mm, 12)
		month := time.Month(mod(mm, 12) + 1)
		if r.sd > daysIn(month, yy) {
			return time.Time{}, false
		}
		return time.Date(yy, month, r.sd, r.sh, r.smin, r.ssec, 0, r.loc), true
	default:
		yy := y - k
		if r.sd > daysIn(r.sm, yy) {
			return time.Time{}, false
		}
		return time.Date(yy, r.sm, r.sd, r.sh, r.smin, r.ssec, 0, r.loc), true
	}
}

// occurrenceEnd returns when the occurrence starting at s ends.
func (r *rec) occurrenceEnd(s time.Time) time.Time {
	if !r.toEnd {
		return s.Add(r.dur)
	}
	y, m, d := s.Date()
	switch r.unit {
	case daily:
		return time.Date(y, m, d+1, 0, 0, 0, 0, r.loc)
	case weekly:
		return time.Date(y, m, d-mondayOffset(s.Weekday())+7, 0, 0, 0, 0, r.loc)
	case monthly:
		return time.Date(y, m+1, 1, 0, 0, 0, 0, r.loc)
	default:
		return time.Date(y+1, 1, 1, 0, 0, 0, 0, r.loc)
	}
}

// accept reports whether an occurrence may start on the date y-m-d: it
// passes every by-list and the interval.
func (r *rec) accept(y int, m time.Month, d int) bool {
	if len(r.bymonth) > 0 && !contains(r.bymonth, int(m)) {
		return false
	}
	dim := daysIn(m, y)
	if len(r.bymday) > 0 && !contains(r.bymday, d) && !contains(r.bymday, d-dim-1) {
		return false
	}
	noon := time.Date(y, m, d, 12, 0, 0, 0, time.UTC)
	yd, diy := noon.YearDay(), daysInYear(y)
	if len(r.byyday) > 0 && !contains(r.byyday, yd) && !contains(r.byyday, yd-diy-1) {
		return false
	}
	if len(r.byweekno) > 0 {
		iy, wk := noon.ISOWeek()
		_, weeks := time.Date(iy, 12, 28, 12, 0, 0, 0, time.UTC).ISOWeek()
		if !contains(r.byweekno, wk) && !contains(r.byweekno, wk-weeks-1) {
			return false
		}
	}
	if len(r.byday) > 0 && !r.acceptWeekday(noon.Weekday(), d, dim, yd, diy) {
		return false
	}
	return r.intervalOK(y, m, d)
}

// acceptWeekday checks byday. An ordinal counts within the month for a
// monthly rule (and a yearly one with bymonth), within the year for a
// yearly rule; daily and weekly rules ignore it.
func (r *rec) acceptWeekday(wd time.Weekday, d, dim, yd, diy int) bool {
	for _, b := range r.byday {
		if b.wd != wd {
			continue
		}
		switch {
		case b.n == 0:
			return true
		case r.freq == monthly || (r.freq == yearly && len(r.bymonth) > 0):
			if b.n == (d-1)/7+1 || -b.n == (dim-d)/7+1 {
				return true
			}
		case r.freq == yearly:
			if b.n == (yd-1)/7+1 || -b.n == (diy-yd)/7+1 {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// intervalOK reports whether the date falls in a unit counted by
// interval from dtstart's.
func (r *rec) intervalOK(y int, m time.Month, d int) bool {
	if r.interval <= 1 {
		return true
	}
	var n int64
	switch r.freq {
	case daily:
		n = civilDay(y, m, d) - r.sdays
	case weekly:
		day := civilDay(y, m, d)
		monday := day - mod64(day+3, 7) // day 0, 1970-01-01, was a Thursday
		n = (monday - r.smonday) / 7
	case monthly:
		n = int64((y-r.sy)*12 + int(m) - int(r.sm))
	case yearly:
		n = int64(y - r.sy)
	}
	return mod64(n, int64(r.interval)) == 0
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// mondayOffset returns how many days wd comes after Monday.
func mondayOffset(wd time.Weekday) int { return (int(wd) + 6) % 7 }

func daysIn(m time.Month, y int) int {
	switch m {
	case time.February:
		if isLeap(y) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

func daysInYear(y int) int {
	if isLeap(y) {
		return 366
	}
	return 365
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// civilDay numbers days from 1970-01-01 (day 0), whatever the zone.
func civilDay(y int, m time.Month, d int) int64 {
	return floorDiv64(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix(), 86400)
}

func mod(a, b int) int { return ((a % b) + b) % b }

func mod64(a, b int64) int64 { return ((a % b) + b) % b }

func floorDiv(a, b int) int { return (a - mod(a, b)) / b }

func floorDiv64(a, b int64) int64 { return (a - mod64(a, b)) / b }
