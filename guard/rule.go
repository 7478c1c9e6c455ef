package guard

import (
	"errors"
	"fmt"
	"strings"
)

// Threshold is a warning and a critical value of one monitored figure;
// 0 turns a level off. A figure reaching a value (>=) raises that level,
// as in OpenSIPS's fraud_detection.
type Threshold struct {
	Warning, Critical int
}

// Rule is a fraud rule: a row of OpenSIPS's fraud_detection with Palio's
// daily-minutes pair. A call by a user matches the rules of the user's
// profile whose Prefix starts the called number, in their time window; the
// longest prefix with a rule in force wins (see the package
// documentation), and the call is counted against it.
type Rule struct {
	// ID is the rule's ruleid (0 for a rule not stored yet).
	ID int
	// Profile is the profileid: a set of rules, chosen per caller
	// (FraudConfig.Profile, ProfileOf).
	Profile int
	// Prefix starts the numbers the rule watches, as dialled ("000" for
	// UniSI's international calls, with the outside line); empty: every
	// number.
	Prefix string
	// StartHour and EndHour bound the window, "HH:MM", both minutes
	// included (default 00:00 and 23:59: all day). A start after the end
	// is a window over midnight (22:00–06:59: the night), which belongs
	// to the day it starts on.
	StartHour, EndHour string
	// Days are the days of the week the window opens on: "Mon-Sun" (the
	// default), "Mon-Fri", "Fri-Mon, Wed".
	Days string

	// The figures, per user and matched prefix, since the start of the
	// day (or since the rule in force for them changed):
	//
	// CallsPerMinute: calls begun in the last 60 seconds (cpm).
	CallsPerMinute Threshold
	// CallDuration: the talk time of one call, in seconds (checked when
	// the call ends).
	CallDuration Threshold
	// TotalCalls: calls begun today.
	TotalCalls Threshold
	// ConcurrentCalls: calls in progress, this one included.
	ConcurrentCalls Threshold
	// SequentialCalls: calls in a row to the same number.
	SequentialCalls Threshold
	// TotalMinutes: talk time today, in minutes (checked when a call
	// ends, and at the start of the next). Palio's: OpenSIPS has none.
	TotalMinutes Threshold
}

// The figures' names, as events, logs and metrics give them (OpenSIPS's
// parameter names, and total-minutes).
const (
	ParamCallsPerMinute  = "calls-per-minute"
	ParamCallDuration    = "call-duration"
	ParamTotalCalls      = "total-calls"
	ParamConcurrentCalls = "concurrent-calls"
	ParamSequentialCalls = "sequential-calls"
	ParamTotalMinutes    = "total-minutes"
)

// Params lists the figures in the order they are checked.
var Params = []string{ParamCallsPerMinute, ParamTotalCalls, ParamConcurrentCalls, ParamSequentialCalls, ParamTotalMinutes, ParamCallDuration}

// Threshold returns the rule's threshold of param.
func (r Rule) Threshold(param string) Threshold {
	switch param {
	case ParamCallsPerMinute:
		return r.CallsPerMinute
	case ParamCallDuration:
		return r.CallDuration
	case ParamTotalCalls:
		return r.TotalCalls
	case ParamConcurrentCalls:
		return r.ConcurrentCalls
	case ParamSequentialCalls:
		return r.SequentialCalls
	case ParamTotalMinutes:
		return r.TotalMinutes
	}
	return Threshold{}
}

// SetThreshold sets the rule's threshold of param; it reports whether
// param is one of Params.
func (r *Rule) SetThreshold(param string, t Threshold) bool {
	switch param {
	case ParamCallsPerMinute:
		r.CallsPerMinute = t
	case ParamCallDuration:
		r.CallDuration = t
	case ParamTotalCalls:
		r.TotalCalls = t
	case ParamConcurrentCalls:
		r.ConcurrentCalls = t
	case ParamSequentialCalls:
		r.SequentialCalls = t
	case ParamTotalMinutes:
		r.TotalMinutes = t
	default:
		return false
	}
	return true
}

// Window returns the rule's time window, parsed.
func (r Rule) Window() (Window, error) {
	return ParseWindow(r.StartHour, r.EndHour, r.Days)
}

// Validate reports why r cannot be stored: a prefix that is not made of
// dial characters or longer than 64, a bad hour or day list, a negative
// threshold or a warning above its critical.
func (r Rule) Validate() error {
	if len(r.Prefix) > 64 {
		return fmt.Errorf("guard: rule %d: prefix of %d characters: at most 64", r.ID, len(r.Prefix))
	}
	for _, c := range r.Prefix {
		if !(c >= '0' && c <= '9' || c == '+' || c == '*' || c == '#') {
			return fmt.Errorf("guard: rule %d: prefix %q: want digits, +, * or #", r.ID, r.Prefix)
		}
	}
	if r.Profile < 0 || r.ID < 0 {
		return fmt.Errorf("guard: rule %d: negative profile or ID", r.ID)
	}
	if _, err := r.Window(); err != nil {
		return fmt.Errorf("guard: rule %d: %w", r.ID, err)
	}
	for _, p := range Params {
		t := r.Threshold(p)
		if t.Warning < 0 || t.Critical < 0 {
			return fmt.Errorf("guard: rule %d: %s: negative threshold", r.ID, p)
		}
		if t.Warning > 0 && t.Critical > 0 && t.Warning > t.Critical {
			return fmt.Errorf("guard: rule %d: %s: warning %d above critical %d", r.ID, p, t.Warning, t.Critical)
		}
		if t.Warning > 65535 || t.Critical > 65535 {
			return fmt.Errorf("guard: rule %d: %s: at most 65535 (the column's size)", r.ID, p)
		}
	}
	return nil
}

// Window is when a rule is in force: minutes of the day (both included)
// on days of the week.
type Window struct {
	Start, End int // minutes after midnight
	Days       [7]bool
}

// Contains reports whether the minute of the day min on weekday day is in
// the window. A window over midnight belongs to the day it opens on: its
// early minutes are checked against the day before.
func (w Window) Contains(day int, min int) bool {
	if w.Start <= w.End {
		return min >= w.Start && min <= w.End && w.Days[day]
	}
	if min >= w.Start {
		return w.Days[day]
	}
	if min <= w.End {
		return w.Days[(day+6)%7]
	}
	return false
}

// Minutes is the window's length in minutes per week: a measure of how
// narrow a rule is (the narrower of two rules in force for one prefix wins).
func (w Window) Minutes() int {
	per := w.End - w.Start + 1
	if w.Start > w.End {
		per = 24*60 - w.Start + w.End + 1
	}
	n := 0
	for _, d := range w.Days {
		if d {
			n++
		}
	}
	return per * n
}

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseWindow parses a rule's start and end hours ("HH:MM"; empty: 00:00
// and 23:59) and its days ("Mon-Fri, Sun"; day ranges may wrap, "Fri-Mon";
// empty: every day). Days are the English three-letter names, in any case.
func ParseWindow(start, end, days string) (Window, error) {
	var w Window
	var err error
	if start == "" {
		start = "00:00"
	}
	if end == "" {
		end = "23:59"
	}
	if w.Start, err = parseHour(start); err != nil {
		return w, err
	}
	if w.End, err = parseHour(end); err != nil {
		return w, err
	}
	if strings.TrimSpace(days) == "" {
		for i := range w.Days {
			w.Days[i] = true
		}
		return w, nil
	}
	for part := range strings.SplitSeq(days, ",") {
		part = strings.TrimSpace(part)
		from, to, isRange := strings.Cut(part, "-")
		a, err := parseDay(from)
		if err != nil {
			return w, err
		}
		b := a
		if isRange {
			if b, err = parseDay(to); err != nil {
				return w, err
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			w.Days[d] = true
			if d == b {
				break
			}
		}
	}
	return w, nil
}

func parseHour(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' || !isDigit(s[0]) || !isDigit(s[1]) || !isDigit(s[3]) || !isDigit(s[4]) {
		return 0, fmt.Errorf("hour %q: want HH:MM", s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, fmt.Errorf("hour %q: want 00:00 to 23:59", s)
	}
	return h*60 + m, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func parseDay(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range dayNames {
		if s == n {
			return i, nil
		}
	}
	if s == "" {
		return 0, errors.New("days: an empty day in the list")
	}
	return 0, fmt.Errorf("days: %q is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", s)
}
