package sqlstore_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// BenchmarkRegister measures authenticated REGISTER refreshes through the
// registrar, many phones at once (b.RunParallel), on the memory store and
// on SQLite, where the group commit batches the location writes of
// concurrent REGISTERs into shared transactions. Compare the reg/s metric.
func BenchmarkRegister(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		mem := registrar.NewMemStore()
		benchRegister(b, mem, mem, func(s registrar.Subscriber) { mem.AddSubscriber(context.Background(), s) })
	})
	for _, batch := range []int{256, 1} {
		b.Run(fmt.Sprintf("sqlite-batch%d", batch), func(b *testing.B) {
			db := storetest.SQLite(b)
			loc := db.Location(sqlstore.LocationOptions{Batch: batch})
			b.Cleanup(loc.Close)
			subs := db.Subscribers(0)
			benchRegister(b, loc, subs, func(s registrar.Subscriber) { subs.AddSubscriber(context.Background(), s) })
		})
	}
}

func benchRegister(b *testing.B, loc registrar.Store, subs registrar.Subscribers, add func(registrar.Subscriber)) {
	const realm = "voip.unisi.it"
	for i := range 1000 {
		add(registrar.NewSubscriber(fmt.Sprintf("user%d", 1000+i), realm, fmt.Sprintf("secret%d", 1000+i)))
	}
	reg, err := registrar.New(registrar.Config{Realm: realm}, loc, subs, registrar.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Close() })
	var next atomic.Int64
	b.SetParallelism(32) // 32 goroutines per CPU: many phones refreshing at once
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := next.Add(1) - 1
		user := fmt.Sprintf("user%d", 1000+n%1000)
		pw := fmt.Sprintf("secret%d", 1000+n%1000)
		p := &phone{user: user, pw: pw, callID: fmt.Sprintf("bench-%d", n), port: 20000 + int(n)}
		for pb.Next() {
			if code := p.register(reg); code != 200 {
				b.Errorf("%s: REGISTER got %d", user, code)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reg/s")
}

// phone refreshes its registration, answering challenges like a SNOM.
type phone struct {
	user, pw, callID string
	port             int
	seq              uint32
	chal             *digest.Challenge
	nc               int
}

func (p *phone) request() *sip.Request {
	p.seq++
	r := siptest.NewRequest(sip.REGISTER, "sip:voip.unisi.it")
	aor := sip.URI{Scheme: "sip", User: p.user, Host: "voip.unisi.it"}
	r.From().Address, r.To().Address = aor, aor
	*r.CallID() = sipmsg.CallIDHeader(p.callID)
	r.CSeq().SeqNo = p.seq
	r.Contact().Address = sip.URI{Scheme: "sip", User: p.user, Host: "10.1.2.3", Port: p.port}
	r.AppendHeader(sipmsg.NewHeader("Expires", "3600"))
	return r
}

func (p *phone) register(reg *registrar.Registrar) int {
	ctx := context.Background()
	for range 2 {
		r := p.request()
		if p.chal != nil {
			p.nc++
			cred, err := digest.Digest(p.chal, digest.Options{Method: "REGISTER", URI: r.Recipient.String(), Username: p.user, Password: p.pw, Count: p.nc, Cnonce: "0a4f113b"})
			if err != nil {
				return 0
			}
			r.AppendHeader(sipmsg.NewHeader("Authorization", cred.String()))
		}
		rec, err := siptest.Serve(ctx, reg, r)
		code := siptest.Code(rec, err)
		if code != 401 {
			return code
		}
		se, _ := sip.AsStatus(err)
		ch, perr := digest.ParseChallenge(se.Response.GetHeader("WWW-Authenticate").Value())
		if perr != nil {
			return 0
		}
		p.chal, p.nc = ch, 0
	}
	return 401
}
