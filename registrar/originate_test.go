package registrar_test

import (
	"testing"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// TestNotifyToPhoneOnTCP: the proxy sends a request of its own (a NOTIFY,
// as presence and provisioning's check-sync do) to a phone registered over
// TCP: it goes over the connection the phone registered on, the only way to
// reach a phone whose connection comes from an ephemeral port (or through a
// NAT).
func TestNotifyToPhoneOnTCP(t *testing.T) {
	leakCheck(t)
	p := newProxy(t, registrar.Config{}, nil)
	ctx := ctxT(t, 10*time.Second)
	phone := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithTransport("tcp"))
	register(t, ctx, phone, p.tcp(), "5002", 300)

	aor, _ := sip.ParseURI("sip:5002@" + domain)
	targets, err := p.reg.Targets(ctx, aor)
	if err != nil || len(targets) != 1 {
		t.Fatalf("targets: %v %v", targets, err)
	}
	tg := targets[0]
	if tg.Transport != "TCP" || tg.NextHop == "" || tg.NextHop == phone.Addr() {
		t.Fatalf("target %+v: want TCP with the connection's ephemeral address as the next hop, not %s", tg, phone.Addr())
	}
	from, _ := sip.ParseURI("sip:presence@" + domain)
	req := p.srv.NewRequest(sip.NOTIFY, tg.URI, from, aor)
	req.AppendHeader(sip.NewHeader("Event", "check-sync"))
	req.AppendHeader(sip.NewHeader("Subscription-State", "terminated"))
	res, err := p.srv.Send(ctx, req, tg)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("NOTIFY: %v %v", res, err)
	}
	got := phone.Received(sip.NOTIFY)
	if len(got) != 1 || got[0].GetHeader("Event").Value() != "check-sync" {
		t.Fatalf("the phone got %d NOTIFYs", len(got))
	}
}
