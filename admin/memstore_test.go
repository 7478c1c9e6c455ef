package admin_test

import (
	"testing"

	"github.com/palio-voip/palio/admin"
	"github.com/palio-voip/palio/admin/admintest"
)

func TestMemStore(t *testing.T) {
	admintest.TestStore(t, func(t *testing.T) admin.Store { return admin.NewMemStore() })
	admintest.TestLoginStore(t, func(t *testing.T) admin.LoginStore { return admin.NewMemStore() })
	admintest.TestAccountInfoStore(t, func(t *testing.T) admin.AccountInfoStore { return admin.NewMemStore() })
}
