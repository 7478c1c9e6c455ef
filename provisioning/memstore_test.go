package provisioning_test

import (
	"testing"

	"github.com/palio-voip/palio/provisioning"
	"github.com/palio-voip/palio/provisioning/provisioningtest"
)

func TestMemStore(t *testing.T) {
	provisioningtest.TestStore(t, func(t *testing.T) provisioning.Store { return provisioning.NewMemStore() })
}
