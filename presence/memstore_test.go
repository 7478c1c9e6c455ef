package presence_test

import (
	"testing"

	"github.com/palio-voip/palio/presence"
	"github.com/palio-voip/palio/presence/presencetest"
)

func TestMemStore(t *testing.T) {
	presencetest.TestStore(t, func(t *testing.T) presence.Store { return presence.NewMemStore() })
}
