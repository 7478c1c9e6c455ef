package guard_test

import (
	"testing"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/guard/guardtest"
)

func TestMemStore(t *testing.T) {
	guardtest.TestStore(t, func(t *testing.T) guard.Store { return guard.NewMemStore() })
}
