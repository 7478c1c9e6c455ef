package accounting

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rate is one row of the rate table (palio_rates): what calls of a class
// and/or to a number prefix cost. The rate of a call is the one with the
// longest prefix of its number among those of its class and those for
// any class; at equal length a rate naming the class wins over one that
// does not, then the lowest ID.
type Rate struct {
	// ID numbers the rate (the store assigns it).
	ID int `json:"id"`
	// Class is the call class the rate applies to ("national",
	// "international"); empty: any class.
	Class string `json:"class"`
	// Prefix is the number prefix it applies to, matched against the
	// number as the dialplan left it (CDR.Number, with UniSI's outside
	// line: "0039..." ); empty: any number of the class.
	Prefix string `json:"prefix"`
	// PerMinute is the price of a minute of talk; ConnectFee is added to
	// every answered call.
	PerMinute  Money `json:"per_minute"`
	ConnectFee Money `json:"connect_fee"`
	// Initial and Increment are the billing increments in seconds: the
	// first Initial seconds are billed whole (a shorter call pays them),
	// then every started Increment. 60/60 bills started minutes, 1/1
	// seconds, 30/6 a first half minute then six-second steps.
	Initial   int `json:"initial"`
	Increment int `json:"increment"`
	// Free makes the calls the rate matches cost nothing (toll-free
	// numbers, emergency services), whatever the prices say.
	Free bool `json:"free"`
	// Description says what the rate is for.
	Description string `json:"description"`
}

// Billing returns the increments as written: "60/60".
func (r Rate) Billing() string { return strconv.Itoa(r.Initial) + "/" + strconv.Itoa(r.Increment) }

// ParseBilling reads billing increments written "60/60", "1/1" or "30/6".
func ParseBilling(s string) (initial, increment int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "/")
	initial, err1 := strconv.Atoi(a)
	increment, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || initial < 0 || increment < 1 || initial > 3600 || increment > 3600 {
		return 0, 0, fmt.Errorf("accounting: billing %q: want INITIAL/INCREMENT in seconds, e.g. 60/60 or 1/1", s)
	}
	return initial, increment, nil
}

// Validate reports why r cannot be stored: a class or prefix that is
// not a name or a number, a negative price, increments out of 0–3600 s
// (Increment at least 1).
func (r Rate) Validate() error {
	for _, c := range r.Class {
		if len(r.Class) > 32 || c <= ' ' || c > '~' || strings.ContainsRune(",;\"'", c) {
			return fmt.Errorf("accounting: rate class %q: want a class name (ASCII, no space)", r.Class)
		}
	}
	if len(r.Prefix) > 32 {
		return fmt.Errorf("accounting: rate prefix %q: at most 32 characters", r.Prefix)
	}
	for _, c := range r.Prefix {
		if !(c >= '0' && c <= '9' || c == '+' || c == '*' || c == '#' || c >= 'A' && c <= 'Z' || c == '_') {
			return fmt.Errorf("accounting: rate prefix %q: want digits (+, *, #, or a media name's capitals)", r.Prefix)
		}
	}
	if r.PerMinute < 0 || r.ConnectFee < 0 {
		return fmt.Errorf("accounting: rate %s/%s: negative price", r.Class, r.Prefix)
	}
	if r.Initial < 0 || r.Increment < 1 || r.Initial > 3600 || r.Increment > 3600 {
		return fmt.Errorf("accounting: rate billing %s: want INITIAL 0-3600 and INCREMENT 1-3600 seconds", r.Billing())
	}
	if len(r.Description) > 255 {
		return fmt.Errorf("accounting: rate description: at most 255 characters")
	}
	return nil
}

// Cost returns what a call with talk time talk costs at rate r: nothing
// for an unanswered call (talk 0 and answered false) or a free rate;
// else the connection fee plus the billed seconds at PerMinute/60, the
// billed seconds being the talk time in whole seconds (rounded up, as
// acc's duration) raised to the billing increments, and the product
// rounded to the nearest millionth.
func Cost(r Rate, answered bool, talk time.Duration) Money {
	if !answered || r.Free {
		return 0
	}
	secs := int64((talk + time.Second - 1) / time.Second)
	billed := int64(0)
	if secs > 0 {
		inc := int64(max(r.Increment, 1))
		init := int64(r.Initial)
		switch {
		case secs <= init:
			billed = init
		default:
			billed = init + (secs-init+inc-1)/inc*inc
		}
	}
	return r.ConnectFee + Money((billed*int64(r.PerMinute)+30)/60)
}

// RateTable is a compiled rate table: the rates in the order they are
// tried. It is immutable; build a new one when the rates change.
type RateTable struct {
	rates []Rate
}

// NewRateTable compiles rates.
func NewRateTable(rates []Rate) *RateTable {
	rs := slices.Clone(rates)
	slices.SortStableFunc(rs, func(a, b Rate) int {
		if c := cmp.Compare(len(b.Prefix), len(a.Prefix)); c != 0 {
			return c
		}
		if c := boolCmp(a.Class != "", b.Class != ""); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return &RateTable{rates: rs}
}

// boolCmp orders true before false.
func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// Len returns the number of rates.
func (t *RateTable) Len() int {
	if t == nil {
		return 0
	}
	return len(t.rates)
}

// Match returns the rate of a call of class to number.
func (t *RateTable) Match(class, number string) (Rate, bool) {
	if t == nil {
		return Rate{}, false
	}
	for _, r := range t.rates {
		if (r.Class == "" || r.Class == class) && strings.HasPrefix(number, r.Prefix) {
			return r, true
		}
	}
	return Rate{}, false
}

// Price sets c's Cost and Rate. Only calls that leave the organisation
// (Out, Transit) are priced; the others cost nothing.
func (t *RateTable) Price(c *CDR) {
	c.Cost, c.Rate = 0, 0
	if c.Direction != Out && c.Direction != Transit {
		return
	}
	r, ok := t.Match(c.Class, c.Number)
	if !ok {
		return
	}
	c.Rate = r.ID
	c.Cost = Cost(r, c.Answered(), c.Talk())
}
