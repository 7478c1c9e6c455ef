package routing_test

import (
	"reflect"
	"testing"

	"github.com/palio-voip/palio/routing"
)

func TestParseGWList(t *testing.T) {
	type e = routing.ListEntry
	tests := []struct {
		name string
		in   string
		want []routing.ListEntry
		err  bool
	}{
		{name: "empty", in: "", want: nil},
		{name: "blank", in: "  \t ", want: nil},
		{name: "one gateway", in: "gw-siena-1", want: []e{{ID: "gw-siena-1"}}},
		{name: "comma and bar", in: "a,b|c", want: []e{{ID: "a"}, {ID: "b"}, {ID: "c"}}},
		{name: "carrier", in: "#pstn-siena", want: []e{{ID: "pstn-siena", Carrier: true}}},
		{name: "weights", in: "a=70,#b=20|c=0", want: []e{{ID: "a", Weight: 70}, {ID: "b", Carrier: true, Weight: 20}, {ID: "c"}}},
		{name: "blanks everywhere", in: " a = 5 , #b\t|\tc ", want: []e{{ID: "a", Weight: 5}, {ID: "b", Carrier: true}, {ID: "c"}}},
		{name: "trailing separator", in: "a,b,", want: []e{{ID: "a"}, {ID: "b"}}},
		{name: "id alphabet", in: "GW_1.siena-x", want: []e{{ID: "GW_1.siena-x"}}},
		{name: "duplicates kept", in: "a,a", want: []e{{ID: "a"}, {ID: "a"}}},
		{name: "empty entry", in: "a,,b", err: true},
		{name: "leading separator", in: ",a", err: true},
		{name: "space inside list without separator", in: "a b", err: true},
		{name: "missing weight", in: "a=", err: true},
		{name: "negative weight", in: "a=-1", err: true},
		{name: "weight with letters", in: "a=1x", err: true},
		{name: "huge weight", in: "a=99999999999999999999", err: true},
		{name: "bad id char", in: "gw@siena", err: true},
		{name: "lone carrier mark", in: "#", err: true},
		{name: "semicolon", in: "a;b", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := routing.ParseGWList(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("ParseGWList(%q): got error %v, want error %v", tt.in, err, tt.err)
			}
			if !tt.err && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseGWList(%q): got %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseGroupIDs(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		err  bool
	}{
		{in: "0", want: []int{0}},
		{in: "0,1|2", want: []int{0, 1, 2}},
		{in: " 3 , 4 ", want: []int{3, 4}},
		{in: "2147483647", want: []int{2147483647}},
		{in: "", err: true},
		{in: "1,", err: true},
		{in: "-1", err: true},
		{in: "a", err: true},
		{in: "1 2", err: true},
		{in: "2147483648", err: true},
	}
	for _, tt := range tests {
		got, err := routing.ParseGroupIDs(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseGroupIDs(%q): got error %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if !tt.err && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseGroupIDs(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestListEntryString(t *testing.T) {
	for _, tt := range []struct {
		e    routing.ListEntry
		want string
	}{
		{routing.ListEntry{ID: "a"}, "a"},
		{routing.ListEntry{ID: "pstn", Carrier: true, Weight: 25}, "#pstn=25"},
	} {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("%+v.String(): got %q, want %q", tt.e, got, tt.want)
		}
	}
}

func TestValidID(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"gw-siena-1", true}, {"a.b_c", true}, {"", false}, {"a b", false}, {"#a", false}, {"ü", false},
		{string(make([]byte, 65)), false},
	} {
		if got := routing.ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q): got %v, want %v", tt.id, got, tt.want)
		}
	}
}
