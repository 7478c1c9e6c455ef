package sqlstore_test

import (
	"context"
	"testing"

	"github.com/palio-voip/palio/provisioning"
	"github.com/palio-voip/palio/provisioning/provisioningtest"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

func TestDeviceStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		provisioningtest.TestStore(t, func(t *testing.T) provisioning.Store { return open(t).Devices() })
	})
}

// TestDeviceCounter: a resync request moves the "devices" change counter
// (a running server sends it within [store] poll); a device's fetch does
// not.
func TestDeviceCounter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		st := db.Devices()
		version := func() int64 {
			t.Helper()
			v, err := db.Versions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n, ok := v["devices"]
			if !ok {
				t.Fatalf("palio_changes has no devices row: %v", v)
			}
			return n
		}
		d := provisioningtest.Devices()[1]
		if err := st.PutDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		before := version()
		if err := st.RecordFetch(ctx, provisioning.Fetch{MAC: d.MAC, IP: "10.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		if v := version(); v != before {
			t.Errorf("a fetch moved the counter from %d to %d", before, v)
		}
		if err := st.RequestResync(ctx, d.MAC); err != nil {
			t.Fatal(err)
		}
		if v := version(); v <= before {
			t.Errorf("a resync request left the counter at %d", v)
		}
	})
}
