package sip_test

import (
	"crypto/tls"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// BenchmarkCallTransport places whole calls (INVITE, 200, ACK, BYE, 200)
// from a caller on UDP, TCP or TLS through a proxy to a callee on UDP,
// eight calls at a time, all in this process: what it reports as
// cpu-µs/call is the CPU of the proxy and both user agents together (the
// TLS caller pays its own encryption too), so the transports compare with
// each other, not with a proxy alone. The TLS connection is set up once,
// as a phone's is. "tls-out" is a caller on UDP and a callee (a gateway)
// on TLS at an IP address, dialled by the proxy's own TLS dialer once and
// reused. Allocation budget: none noted (sipgo's user agents dominate).
//
//	go test ./sip -run '^$' -bench CallTransport -benchtime 2000x
func BenchmarkCallTransport(b *testing.B) {
	p := newPKI(b)
	for _, network := range []string{"udp", "tcp", "tls", "tls-out"} {
		b.Run(network, func(b *testing.B) {
			px := &testProxy{routes: map[string][]sip.Target{}, serial: map[string]bool{}}
			tp := siptest.NewProxy(b, siptest.ProxyConfig{
				Networks: []string{"udp", "tcp", "tls"},
				Server:   sip.Config{TLS: newTLS(b, p.tlsConfig())},
				Stages:   []sip.Middleware{px.routeStage},
			})
			px.srv, px.fwd = tp.Server, tp.Forwarder
			calleeOpts := []siptest.Option{siptest.WithUser("5002"), siptest.WithScript(siptest.Respond(200))}
			from := network // the caller's transport
			if network == "tls-out" {
				calleeOpts = append(calleeOpts, siptest.WithTLS(&tls.Config{Certificates: []tls.Certificate{p.local.TLS}}))
				from = "udp"
			}
			callee := siptest.NewUA(b, calleeOpts...)
			u, _ := sip.ParseURI(callee.URI())
			px.route("5002", sip.Target{URI: u})
			opts := []siptest.Option{siptest.WithUser("5001"), siptest.WithProxy(tp.Addr(from))}
			switch from {
			case "tcp":
				opts = append(opts, siptest.WithTransport("tcp"))
			case "tls":
				opts = append(opts, siptest.WithTLS(p.clientConf("voip.unisi.it")))
			}
			caller := siptest.NewUA(b, opts...)
			ctx := siptest.Context(b, 10*time.Minute)
			call := func() {
				c, err := caller.Invite(ctx, "sip:5002@voip.unisi.it")
				if err != nil {
					b.Error(err)
					return
				}
				res, err := c.WaitFinal(ctx)
				if err != nil || res.StatusCode != 200 {
					b.Errorf("final: %v %v", res, err)
					return
				}
				if _, err := c.Bye(ctx); err != nil {
					b.Error(err)
				}
			}
			call() // the connection, set up once
			const workers = 8
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			var wg sync.WaitGroup
			next := make(chan struct{})
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range next {
						call()
					}
				}()
			}
			for range b.N {
				next <- struct{}{}
			}
			close(next)
			wg.Wait()
			elapsed := time.Since(start)
			cpu := cpuTime() - cpu0
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/call")
		})
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTLSHandshake is a TLS connection's set-up against the server
// (ECDSA P-256 certificate, TLS 1.3, both sides in this process): what a
// phone costs each time it reconnects.
func BenchmarkTLSHandshake(b *testing.B) {
	p := newPKI(b)
	srv, err := sip.NewServer(sip.Config{TLS: newTLS(b, p.tlsConfig()),
		Listen: []sip.Listen{{Network: "tls", Addr: "127.0.0.1:0"}}}, sip.WithLogger(testLogger()))
	if err != nil {
		b.Fatal(err)
	}
	startProxy(b, srv, sip.ForwarderConfig{})
	addr := srv.Local().Addr("tls")
	conf := p.clientConf("voip.unisi.it")
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		c, err := handshake(addr, conf)
		if err != nil || c == "" {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/handshake")
}
