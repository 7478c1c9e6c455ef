package provisioning

import (
	"testing"

	"github.com/palio-voip/palio/registrar"
)

// A resync NOTIFY goes where the registrar's lookup sends calls: through
// the binding's Path (the cluster node holding a TCP phone's connection),
// to its received address at the end of it.
func TestBindingTargetPath(t *testing.T) {
	b := registrar.Binding{Contact: "sip:5002@10.0.0.5:5070;transport=tcp", Transport: "TCP", Received: "10.0.0.5:41000",
		Path: "<sip:TOKEN@10.0.0.1:5060;transport=tcp;lr>"}
	tg, err := bindingTarget(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(tg.Route) != 1 || tg.Route[0].Host != "10.0.0.1" || tg.Route[0].User != "TOKEN" || tg.NextHop != "10.0.0.5:41000" || tg.Transport != "TCP" {
		t.Errorf("got %v (transport %s), want through sip:TOKEN@10.0.0.1:5060 via 10.0.0.5:41000 over TCP", tg, tg.Transport)
	}
	b.Path = "<sip:10.0.0.1;lr"
	if _, err := bindingTarget(b); err == nil {
		t.Error("a garbled Path: no error")
	}
	b.Path = ""
	if tg, err := bindingTarget(b); err != nil || len(tg.Route) != 0 {
		t.Errorf("no Path: got %v %v, want no route set", tg, err)
	}
}
