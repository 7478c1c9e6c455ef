package sqlstore_test

import (
	"testing"

	"github.com/palio-voip/palio/admin"
	"github.com/palio-voip/palio/admin/admintest"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// TestAdminStore: palio_admin_notice, palio_admin_audit and
// palio_admin_logins pass the admin's conformance suites, on SQLite and
// (with PALIO_MYSQL_DSN) MariaDB.
func TestAdminStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		admintest.TestStore(t, func(t *testing.T) admin.Store { return open(t).Admin() })
		admintest.TestLoginStore(t, func(t *testing.T) admin.LoginStore { return open(t).Admin() })
	})
}
