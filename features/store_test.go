package features_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/sip"
)

// TestListEntryValidate: a refused row names the field at fault.
func TestListEntryValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		e     features.ListEntry
		field string // empty: valid
	}{
		{"global", features.ListEntry{Prefix: "0039899", Description: "premium rate"}, ""},
		{"tab in description", features.ListEntry{Prefix: "00", Description: "international\tall"}, ""},
		{"user's", features.ListEntry{User: "5002", Domain: "voip.unisi.it", Prefix: "+39*#"}, ""},
		{"empty prefix", features.ListEntry{}, "prefix"},
		{"long prefix", features.ListEntry{Prefix: strings.Repeat("1", 65)}, "prefix"},
		{"letters", features.ListEntry{Prefix: "05x"}, "prefix"},
		{"user", features.ListEntry{User: "50 02", Prefix: "0577"}, "user"},
		{"long description", features.ListEntry{Prefix: "0577", Description: strings.Repeat("d", features.MaxDescription+1)}, "description"},
		{"control in description", features.ListEntry{Prefix: "0577", Description: "a\nb"}, "description"},
		{"invalid UTF-8", features.ListEntry{Prefix: "0577", Description: "caf\xe9"}, "description"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Validate()
			var fe *sip.FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tc.field != "" && !errors.As(err, &fe):
				t.Errorf("got %v, want a FieldError for %s", err, tc.field)
			case tc.field != "" && (fe.Field != tc.field || !strings.HasPrefix(err.Error(), "features: blacklist")):
				t.Errorf("got field %q (%v), want %q", fe.Field, err, tc.field)
			}
		})
	}
}
