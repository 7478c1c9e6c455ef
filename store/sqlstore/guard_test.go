package sqlstore_test

import (
	"testing"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/guard/guardtest"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// TestGuardStore: palio_guard_bans and fraud_detection pass the guard's
// conformance suite, on SQLite and (with PALIO_MYSQL_DSN) MariaDB.
func TestGuardStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		guardtest.TestStore(t, func(t *testing.T) guard.Store { return open(t).Guard() })
	})
}
