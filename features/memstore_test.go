package features_test

import (
	"testing"

	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/features/featurestest"
)

func TestMemStore(t *testing.T) {
	featurestest.TestStore(t, func(t *testing.T) features.Store { return features.NewMemStore() })
}
