//go:build unix

package presence

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// BenchmarkFanOut is the cost of one call state change of an AOR with 10
// watchers, among 1000 watchers of 100 AORs: the documents built and the
// 10 NOTIFYs sent over UDP on loopback and answered (by one siptest UA
// standing for every watcher's phone). An op is one state change and its
// 10 answered NOTIFYs; divide by 10 for one NOTIFY.
func BenchmarkFanOut(b *testing.B) {
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}}}, sip.WithLogger(siptest.Logger()))
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(sip.NotFound); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	p, err := New(Config{Queue: 64}, NewMemStore(), srv, WithLogger(siptest.Logger()))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	phone := siptest.NewUA(b, siptest.WithUser("phones"))
	contact := phone.Contact()
	const aors, perAOR = 100, 10
	p.mu.Lock()
	for a := range aors {
		for w := range perAOR {
			s := &subscription{aor: fmt.Sprintf("5%03d@voip.unisi.it", a), contact: contact}
			s.Subscription = Subscription{
				Key:           Key{CallID: fmt.Sprintf("w-%d-%d", a, w), ToTag: "ps", FromTag: "w"},
				PresentityURI: "sip:" + s.aor, WatcherURI: "sip:6000@voip.unisi.it", ToURI: "sip:" + s.aor,
				Event: "dialog", Contact: contact.String(), Received: phone.Addr(), Transport: "UDP",
				LocalContact: "sip:" + srv.Local().Addr("udp"), Expires: time.Now().Add(time.Hour),
			}
			p.add(s)
		}
	}
	p.started = true
	p.mu.Unlock()

	ok := func() float64 {
		var m dto.Metric
		if err := p.metrics.notifies.WithLabelValues("ok").Write(&m); err != nil {
			b.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	states := []sip.EventKind{sip.EventCreated, sip.EventEarly, sip.EventConfirmed, sip.EventTerminated}
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		a := i % aors
		req := siptest.NewRequest(sip.INVITE, fmt.Sprintf("sip:5%03d@voip.unisi.it", a))
		call := sip.NewCall(req)
		call.SetCallee(fmt.Sprintf("5%03d@voip.unisi.it", a))
		d := sip.Dialog{CallID: fmt.Sprintf("call-%d", i), FromTag: "c", ToTag: "e", Call: call, State: sip.DialogEarly,
			From: "sip:7000@voip.unisi.it", To: "sip:" + fmt.Sprintf("5%03d@voip.unisi.it", a)}
		want := ok() + perAOR
		p.onDialog(sip.DialogEvent{Kind: states[i%len(states)], Dialog: d})
		deadline := time.Now().Add(5 * time.Second)
		for ok() < want {
			if time.Now().After(deadline) {
				b.Fatalf("NOTIFYs answered: %v, want %v", ok(), want)
			}
			time.Sleep(20 * time.Microsecond)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/perAOR, "ns/notify")
	// The process's CPU (the proxy's side and the answering UA's together).
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/perAOR, "cpu-ns/notify")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
