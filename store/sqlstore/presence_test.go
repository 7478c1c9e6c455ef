package sqlstore_test

import (
	"testing"

	"github.com/palio-voip/palio/presence/presencetest"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// TestPresenceRouteSet: a route set of several entries, one with a comma
// inside its <>, comes back as it went in.
func TestPresenceRouteSet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		s := open(t).Presence()
		sub := presencetest.Sample("r")
		sub.RouteSet = []string{"<sip:10.0.0.9;lr>", "<sip:proxy.example;lr;x=a,b>", "<sip:10.0.0.10;lr>"}
		if err := s.Put(t.Context(), sub); err != nil {
			t.Fatal(err)
		}
		got, err := s.Subscriptions(t.Context())
		if err != nil || len(got) != 1 {
			t.Fatalf("%v %v", got, err)
		}
		if r := got[0].RouteSet; len(r) != 3 || r[1] != "<sip:proxy.example;lr;x=a,b>" {
			t.Errorf("route set: %q", r)
		}
	})
}
