package sqlstore_test

import (
	"context"
	"testing"

	"github.com/palio-voip/palio/admin"
	"github.com/palio-voip/palio/admin/admintest"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// TestAdminStore: palio_admin_notice, palio_admin_audit,
// palio_admin_logins and palio_account_info pass the admin's conformance
// suites, on SQLite and (with PALIO_MYSQL_DSN) MariaDB.
func TestAdminStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		admintest.TestStore(t, func(t *testing.T) admin.Store { return open(t).Admin() })
		admintest.TestLoginStore(t, func(t *testing.T) admin.LoginStore { return open(t).Admin() })
		admintest.TestAccountInfoStore(t, func(t *testing.T) admin.AccountInfoStore { return open(t).Admin() })
	})
}

// TestDeleteSubscriberDeletesInfo: deleting an account (as `unisi user
// del` and the API do) deletes its owner and note, and only its own.
func TestDeleteSubscriberDeletesInfo(t *testing.T) {
	ctx := context.Background()
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		subs, infos := db.Subscribers(-1), db.Admin()
		for _, u := range []string{"5002", "5003"} {
			if err := subs.AddSubscriber(ctx, registrar.NewSubscriberIn(u, "voip.unisi.it", "voip.unisi.it", "pw-"+u)); err != nil {
				t.Fatal(err)
			}
			if err := infos.PutAccountInfo(ctx, admin.AccountInfo{Username: u, Domain: "voip.unisi.it", Owner: "owner of " + u}); err != nil {
				t.Fatal(err)
			}
		}
		if err := subs.DeleteSubscriber(ctx, "5003", "voip.unisi.it"); err != nil {
			t.Fatal(err)
		}
		list, err := infos.AccountInfos(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Username != "5002" || list[0].Owner != "owner of 5002" {
			t.Errorf("after deleting 5003: got %+v, want 5002's info only", list)
		}
	})
}
