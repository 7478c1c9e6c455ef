package accounting_test

import (
	"testing"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/accounting/accountingtest"
)

func TestMemStore(t *testing.T) {
	accountingtest.TestStore(t, func(t *testing.T) accounting.Store { return accounting.NewMemStore() })
	accountingtest.TestDepartments(t, func(t *testing.T) accounting.DepartmentStore { return accounting.NewMemStore() })
}
