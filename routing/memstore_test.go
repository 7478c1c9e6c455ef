package routing_test

import (
	"testing"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/routing/routingtest"
)

func TestMemStore(t *testing.T) {
	routingtest.TestStore(t, func(t *testing.T, seed routing.Data) routing.Store {
		return routing.NewMemStore(seed)
	})
}

func TestMemStoreSetReplaces(t *testing.T) {
	s := routing.NewMemStore(routingtest.UniSI())
	s.Set(routing.Data{Gateways: []routing.Gateway{{ID: 1, GWID: "only", Address: "10.0.0.1"}}})
	d, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Gateways) != 1 || d.Gateways[0].GWID != "only" || len(d.Rules) != 0 || len(d.Carriers) != 0 || len(d.Groups) != 0 {
		t.Errorf("after Set: got %+v, want only gateway \"only\"", d)
	}
}
