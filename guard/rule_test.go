package guard_test

import (
	"testing"

	"github.com/palio-voip/palio/guard"
)

func TestParseWindow(t *testing.T) {
	all := [7]bool{true, true, true, true, true, true, true}
	tests := []struct {
		name, start, end, days string
		want                   guard.Window
		err                    bool
	}{
		{name: "defaults", want: guard.Window{Start: 0, End: 23*60 + 59, Days: all}},
		{name: "OpenSIPS's defaults", start: "00:00", end: "23:59", days: "Mon-Sun", want: guard.Window{Start: 0, End: 1439, Days: all}},
		{name: "office hours", start: "08:30", end: "18:00", days: "Mon-Fri",
			want: guard.Window{Start: 510, End: 1080, Days: [7]bool{false, true, true, true, true, true, false}}},
		{name: "the night", start: "22:00", end: "06:59", days: "mon-fri",
			want: guard.Window{Start: 1320, End: 419, Days: [7]bool{false, true, true, true, true, true, false}}},
		{name: "a wrapping range and a list", days: "Fri-Mon, Wed",
			want: guard.Window{Start: 0, End: 1439, Days: [7]bool{true, true, false, true, false, true, true}}},
		{name: "hour 24", start: "24:00", err: true},
		{name: "minute 60", end: "10:60", err: true},
		{name: "no colon", start: "0800", err: true},
		{name: "unknown day", days: "Mon-Fry", err: true},
		{name: "empty day", days: "Mon,,Tue", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := guard.ParseWindow(tt.start, tt.end, tt.days)
			if tt.err {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v %v, want %+v", got, err, tt.want)
			}
		})
	}
}

func TestWindowContains(t *testing.T) {
	night, _ := guard.ParseWindow("22:00", "06:59", "Fri")
	tests := []struct {
		day, min int
		want     bool
	}{
		{5, 22 * 60, true},     // Friday 22:00
		{5, 21*60 + 59, false}, // Friday 21:59
		{6, 3 * 60, true},      // Saturday 03:00: Friday's night
		{6, 6*60 + 59, true},   // Saturday 06:59
		{6, 7 * 60, false},     // Saturday 07:00
		{6, 23 * 60, false},    // Saturday 23:00: no Saturday night
		{5, 3 * 60, false},     // Friday 03:00: Thursday's night
		{0, 0, false},          // Sunday midnight
	}
	for _, tt := range tests {
		if got := night.Contains(tt.day, tt.min); got != tt.want {
			t.Errorf("day %d minute %d: got %v, want %v", tt.day, tt.min, got, tt.want)
		}
	}
	if m := night.Minutes(); m != 9*60 {
		t.Errorf("Minutes: got %d, want 540", m)
	}
}

func TestRuleValidate(t *testing.T) {
	ok := guard.Rule{Prefix: "000", TotalCalls: guard.Threshold{Warning: 10, Critical: 20}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]guard.Rule{
		"letters in the prefix":  {Prefix: "00a"},
		"warning above critical": {TotalCalls: guard.Threshold{Warning: 20, Critical: 10}},
		"negative":               {CallsPerMinute: guard.Threshold{Warning: -1}},
		"a bad hour":             {StartHour: "25:00"},
		"a bad day":              {Days: "Someday"},
		"over the column's size": {TotalMinutes: guard.Threshold{Critical: 70000}},
		"a negative profile":     {Profile: -1},
	} {
		if err := r.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
