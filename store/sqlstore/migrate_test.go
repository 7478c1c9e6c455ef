package sqlstore_test

import (
	"context"
	"testing"

	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

func TestMigrations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		ctx := context.Background()
		v, err := db.SchemaVersion(ctx)
		if err != nil || v < 1 {
			t.Fatalf("schema version: got %d %v, want ≥ 1", v, err)
		}
		vers, err := db.Versions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := vers["dialplan"]; !ok {
			t.Fatalf("palio_changes has no dialplan row: %v", vers)
		}
	})
}
