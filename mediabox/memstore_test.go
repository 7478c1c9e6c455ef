package mediabox_test

import (
	"testing"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabox/mediaboxtest"
)

func TestMemStore(t *testing.T) {
	mediaboxtest.TestStore(t, func(t *testing.T) mediabox.Store { return mediabox.NewMemStore() })
}
