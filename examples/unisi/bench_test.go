package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// BenchmarkPipeline runs the UniSI pipeline of the example (source check →
// authentication → alias → dialplan → call class → destination) on one
// INVITE, in memory: the data snapshots and the location cache the server
// reads, with a handler that records the targets in the place of the
// Forwarder (BenchmarkServeInvite in sip measures that part). The calls
// are those of the SIPp harness (5002 from a trusted 127.0.0.1, class
// voip, a registered phone) and two that go through dynamic routing.
//
//	go test ./examples/unisi -run '^$' -bench Pipeline -benchmem -cpuprofile cpu.out
func BenchmarkPipeline(b *testing.B) {
	ctx := context.Background()
	cfg := defaultConfig()
	cfg.Store.SQLite = filepath.Join(b.TempDir(), "unisi.db")
	a, err := serverApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer a.close()
	if _, err := a.db.Addresses().AddAddress(ctx, permission.Address{Group: 1, IP: "127.0.0.1", Mask: 32, ContextInfo: "bench"}); err != nil {
		b.Fatal(err)
	}
	a.reload(ctx, "address")
	// The national call goes to the Siena PRIs: addresses on loopback in
	// the place of the seed's placeholders (nothing is sent).
	for i, id := range []string{"gw-siena-1", "gw-siena-2", "gw-siena-3", "gw-siena-4"} {
		if err := a.router.SetGatewayAddress(ctx, id, "127.0.0.1:"+strconv.Itoa(5071+i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := a.loc.Put(ctx, registrar.Binding{AOR: "5002", Contact: "sip:5002@127.0.0.1:5090", Transport: "UDP", Q: 1, CallID: "bench", CSeq: 1}); err != nil {
		b.Fatal(err)
	}

	var (
		targets int
		sent    string // the Request-URI user of the last request forwarded
	)
	forward := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		targets += len(sip.TargetsFrom(ctx))
		sent = r.Recipient.User
		return w.WriteResponse(sip.NewResponse(r, 200, "OK"))
	})
	h := a.pipeline(a.regr.Authenticate, forward)

	for _, bc := range []struct{ name, number, want string }{
		{"voip", "5002", "5002"},
		{"national", "00577232111", "0577232111"},
		{"media alias", "5500", "FAX_5500"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := siptest.NewRequest(sip.INVITE, "sip:"+bc.number+"@voip.unisi.it")
			targets = 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := raw.Clone()
				i++
				cid := sipmsg.CallIDHeader("bench-" + strconv.Itoa(i))
				r.ReplaceHeader(&cid)
				w := siptest.NewRecorder()
				// The server gives every INVITE its call record; the stages
				// write into it.
				if err := h.ServeSIP(sip.WithCall(ctx, sip.NewCall(r)), w, r); err != nil || w.Status() != 200 {
					b.Fatalf("%s: %v, status %d", bc.number, err, w.Status())
				}
				if sent != bc.want {
					b.Fatalf("%s was sent as %s, want %s", bc.number, sent, bc.want)
				}
			}
			if targets < b.N {
				b.Fatalf("%d targets for %d calls", targets, b.N)
			}
		})
	}
}
