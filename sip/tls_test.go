package sip_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
	"github.com/prometheus/client_golang/prometheus"
)

// pki is a test CA with the certificates the TLS tests use.
type pki struct {
	ca      *siptest.CA
	unisi   siptest.Cert // voip.unisi.it and *.unisi.it, the default
	example siptest.Cert // sip.example.org
	local   siptest.Cert // 127.0.0.1: what a dialled UA presents
	trunk   siptest.Cert // the PSTN trunk's client certificate
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	ca := siptest.NewCA(t, "Palio test CA")
	return &pki{
		ca:      ca,
		unisi:   ca.Issue("voip.unisi.it", siptest.CertOptions{DNSNames: []string{"voip.unisi.it", "*.unisi.it"}}),
		example: ca.Issue("sip.example.org", siptest.CertOptions{}),
		local:   ca.Issue("127.0.0.1", siptest.CertOptions{}),
		trunk:   ca.Issue("pstn-trunk", siptest.CertOptions{Client: true}),
	}
}

// tlsConfig is the TLSConfig of the test proxy: unisi first (it also takes
// a ClientHello without SNI), example.org by its name.
func (p *pki) tlsConfig() sip.TLSConfig {
	return sip.TLSConfig{
		Certificates: []sip.TLSCertificate{
			{Name: "unisi", CertFile: p.unisi.CertFile, KeyFile: p.unisi.KeyFile},
			{Name: "example", CertFile: p.example.CertFile, KeyFile: p.example.KeyFile, SNI: []string{"*.example.org"}},
		},
		RootCAFile: p.ca.File,
	}
}

// clientConf is what a phone dials with: our CA, and SNI name.
func (p *pki) clientConf(name string, certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.ca.Pool, ServerName: name, Certificates: certs, MinVersion: tls.VersionTLS12}
}

// tlsProxy starts a test proxy with TLS (and UDP) listeners and the
// routing stage of proxy_test.go, after extra stages.
func tlsProxy(t *testing.T, conf *sip.TLS, networks []string, extra ...sip.Middleware) *testProxy {
	t.Helper()
	p := &testProxy{routes: map[string][]sip.Target{}, serial: map[string]bool{}}
	tp := siptest.NewProxy(t, siptest.ProxyConfig{
		Networks: networks,
		Server:   sip.Config{TLS: conf},
		Stages:   append(extra, p.routeStage),
	})
	p.srv, p.fwd = tp.Server, tp.Forwarder
	return p
}

func newTLS(t testing.TB, cfg sip.TLSConfig, opts ...sip.TLSOption) *sip.TLS {
	t.Helper()
	tc, err := sip.NewTLS(cfg, append([]sip.TLSOption{sip.WithTLSLogger(testLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// handshake dials addr with conf and returns the server's leaf
// certificate's common name.
func handshake(addr string, conf *tls.Config) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

// TestTLSCertificateSelection: the certificate is chosen by SNI (exact
// names, globs, none) and by local address; an unknown name is refused,
// and so is TLS below 1.2.
func TestTLSCertificateSelection(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	second := p.ca.Issue("second-address", siptest.CertOptions{DNSNames: []string{"voip.unisi.it"}})
	cfg := p.tlsConfig()
	cfg.Certificates = append(cfg.Certificates, sip.TLSCertificate{
		Name: "second", CertFile: second.CertFile, KeyFile: second.KeyFile, Addrs: []string{"127.0.0.2"},
	})
	tc := newTLS(t, cfg)
	srv, err := sip.NewServer(sip.Config{TLS: tc, Listen: []sip.Listen{
		{Network: "tls", Addr: "127.0.0.1:0"},
		{Network: "tls", Addr: "127.0.0.2:0"},
	}}, sip.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	startProxy(t, srv, sip.ForwarderConfig{})
	addr1 := srv.Local().Addr("tls")
	var addr2 string
	for _, a := range srv.Local().Addrs("tls") {
		if strings.HasPrefix(a, "127.0.0.2:") {
			addr2 = a
		}
	}
	if addr2 == "" {
		t.Fatalf("no listener on 127.0.0.2 in %v", srv.Local().Addrs("tls"))
	}
	insecure := func(sni string) *tls.Config {
		return &tls.Config{InsecureSkipVerify: true, ServerName: sni}
	}
	tests := []struct {
		name, addr, sni, want string
	}{
		{"exact name", addr1, "voip.unisi.it", "voip.unisi.it"},
		{"glob of the certificate's names", addr1, "pbx.unisi.it", "voip.unisi.it"},
		{"configured glob", addr1, "sip.example.org", "sip.example.org"},
		{"no SNI: the first", addr1, "", "voip.unisi.it"},
		{"an address as SNI counts as none", addr1, "127.0.0.1", "voip.unisi.it"},
		{"unknown name refused", addr1, "evil.example.com", ""},
		{"bound to the second address", addr2, "voip.unisi.it", "second-address"},
		{"other names on the second address", addr2, "sip.example.org", "sip.example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := handshake(tt.addr, insecure(tt.sni))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("handshake with SNI %q: got certificate %q, want refusal", tt.sni, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("certificate: got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("verified by a client of the CA", func(t *testing.T) {
		if _, err := handshake(addr1, p.clientConf("voip.unisi.it")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		c := insecure("voip.unisi.it")
		c.MaxVersion = tls.VersionTLS11
		if _, err := handshake(addr1, c); err == nil {
			t.Fatal("TLS 1.1 handshake accepted")
		}
	})
	t.Run("weak TLS 1.2 suite refused", func(t *testing.T) {
		c := insecure("voip.unisi.it")
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}
		if _, err := handshake(addr1, c); err == nil {
			t.Fatal("TLS_RSA_WITH_AES_128_CBC_SHA accepted")
		}
	})
}

// peerLog records the Peer of every initial request.
type peerLog struct {
	mu    sync.Mutex
	peers []*sip.Peer
}

func (l *peerLog) stage(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		l.mu.Lock()
		l.peers = append(l.peers, sip.PeerFrom(ctx))
		l.mu.Unlock()
		return next.ServeSIP(ctx, w, r)
	})
}

func (l *peerLog) last() *sip.Peer {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.peers) == 0 {
		return nil
	}
	return l.peers[len(l.peers)-1]
}

// TestTLSCallBothWays: a phone on TLS calls a phone on UDP through the
// proxy and hangs up, and the UDP phone calls the TLS phone back (the
// proxy dials it and verifies its certificate). The TLS caller's Peer is
// secure, without a verified certificate.
func TestTLSCallBothWays(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	var peers peerLog
	px := tlsProxy(t, newTLS(t, p.tlsConfig()), []string{"udp", "tls"}, peers.stage)
	conf := p.clientConf("voip.unisi.it", p.local.TLS)
	tlsPhone := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithTLS(conf), siptest.WithProxy(px.srv.Local().Addr("tls")))
	udpPhone := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(px.udp()))
	px.route("5002", target(t, udpPhone.URI()))
	px.route("5001", target(t, tlsPhone.URI()))
	ctx := ctxT(t, 10*time.Second)

	call, err := tlsPhone.Invite(ctx, "sip:5002@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if code := tlsFinal(ctx, call); code != 200 {
		t.Fatalf("TLS → UDP: got %d, want 200", code)
	}
	if _, err := call.Bye(ctx); err != nil {
		t.Fatalf("TLS → UDP BYE: %v", err)
	}
	if peer := peers.last(); peer == nil || !peer.Secure || peer.Transport != "TLS" || peer.Verified || peer.ServerName != "voip.unisi.it" {
		t.Errorf("peer of the TLS caller: got %+v, want secure TLS, not verified, SNI voip.unisi.it", peer)
	}

	back, err := udpPhone.Invite(ctx, "sip:5001@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if code := tlsFinal(ctx, back); code != 200 {
		t.Fatalf("UDP → TLS: got %d, want 200", code)
	}
	if _, err := back.Bye(ctx); err != nil {
		t.Fatalf("UDP → TLS BYE: %v", err)
	}
	inv, err := tlsPhone.WaitRequest(ctx, sip.INVITE, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tp := inv.Transport(); tp != "TLS" {
		t.Errorf("INVITE reached the TLS phone over %s", tp)
	}
	if peer := peers.last(); peer != nil {
		t.Errorf("peer of the UDP caller: got %+v, want none", peer)
	}
}

// TestTLSTrunkClientCertificate: a trunk must present a certificate of its
// CA (or with a pinned fingerprint) from its addresses; its calls then
// carry a verified Peer naming it, and RequirePeer lets them through.
func TestTLSTrunkClientCertificate(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	otherCA := siptest.NewCA(t, "Other CA")
	stranger := otherCA.Issue("stranger", siptest.CertOptions{Client: true})
	pinned := otherCA.Issue("pinned", siptest.CertOptions{Client: true})
	tests := []struct {
		name  string
		trunk sip.TLSTrunk
		cert  []tls.Certificate
		want  int // 0: the handshake fails
	}{
		{"CA, with its certificate", sip.TLSTrunk{CAFile: p.ca.File}, []tls.Certificate{p.trunk.TLS}, 200},
		{"CA, without a certificate", sip.TLSTrunk{CAFile: p.ca.File}, nil, 0},
		{"CA, another CA's certificate", sip.TLSTrunk{CAFile: p.ca.File}, []tls.Certificate{stranger.TLS}, 0},
		{"CA, a server certificate", sip.TLSTrunk{CAFile: p.ca.File}, []tls.Certificate{p.local.TLS}, 0},
		{"pinned, matching", sip.TLSTrunk{Fingerprints: []string{fingerprint(t, pinned)}}, []tls.Certificate{pinned.TLS}, 200},
		{"pinned, another certificate", sip.TLSTrunk{Fingerprints: []string{fingerprint(t, pinned)}}, []tls.Certificate{stranger.TLS}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := p.tlsConfig()
			tt.trunk.Name, tt.trunk.Sources = "pstn", []string{"127.0.0.0/8"}
			cfg.Trunks = []sip.TLSTrunk{tt.trunk}
			var peers peerLog
			px := tlsProxy(t, newTLS(t, cfg), []string{"udp", "tls"}, peers.stage, sip.RequirePeer(true))
			callee := siptest.NewUA(t, siptest.WithUser("5002"))
			px.route("5002", target(t, callee.URI()))
			gw := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithTLS(p.clientConf("voip.unisi.it", tt.cert...)),
				siptest.WithProxy(px.srv.Local().Addr("tls")))
			if tt.want == 0 {
				// The server refuses the certificate once it has it: with
				// TLS 1.3 after the client's side of the handshake is
				// done, so the refusal is what the first read gets.
				c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", px.srv.Local().Addr("tls"), p.clientConf("voip.unisi.it", tt.cert...))
				if err == nil {
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					_, err = c.Read(make([]byte, 1))
					c.Close()
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						t.Fatal("the connection stayed open")
					}
				}
				if err == nil || !strings.Contains(err.Error(), "certificate") {
					t.Fatalf("got %v, want the certificate refused", err)
				}
				return
			}
			ctx := ctxT(t, 10*time.Second)
			call, err := gw.Invite(ctx, "sip:5002@voip.unisi.it")
			if err != nil {
				t.Fatal(err)
			}
			if code := tlsFinal(ctx, call); code != tt.want {
				t.Fatalf("got %d, want %d", code, tt.want)
			}
			_, _ = call.Bye(ctx)
			if peer := peers.last(); peer == nil || !peer.Verified || peer.Trunk != "pstn" || peer.Fingerprint != fingerprint(t, siptest.Cert{TLS: tt.cert[0]}) {
				t.Errorf("peer: got %+v, want verified trunk pstn", peer)
			}
		})
	}
}

// tlsFinal waits for the call's final response and returns its status
// (0 when none came: the transport failed).
func tlsFinal(ctx context.Context, c *siptest.Call) int {
	res, err := c.WaitFinal(ctx)
	if err != nil || res == nil {
		return 0
	}
	return res.StatusCode
}

func fingerprint(t *testing.T, c siptest.Cert) string {
	t.Helper()
	return sip.Fingerprint(c.TLS.Certificate[0])
}

// TestRequirePeer: a stage that requires TLS refuses a UDP call with 403,
// one that requires a verified certificate refuses a TLS phone without one.
func TestRequirePeer(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	px := tlsProxy(t, newTLS(t, p.tlsConfig()), []string{"udp", "tls"}, sip.RequirePeer(false))
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	px.route("5002", target(t, callee.URI()))
	ctx := ctxT(t, 10*time.Second)
	udp := siptest.NewUA(t, siptest.WithUser("5003"), siptest.WithProxy(px.udp()))
	call, err := udp.Invite(ctx, "sip:5002@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if code := tlsFinal(ctx, call); code != 403 {
		t.Errorf("UDP caller, TLS required: got %d, want 403", code)
	}
	phone := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithTLS(p.clientConf("voip.unisi.it")), siptest.WithProxy(px.srv.Local().Addr("tls")))
	call, err = phone.Invite(ctx, "sip:5002@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if code := tlsFinal(ctx, call); code != 200 {
		t.Errorf("TLS caller, TLS required: got %d, want 200", code)
	}
	_, _ = call.Bye(ctx)

	strict := tlsProxy(t, newTLS(t, p.tlsConfig()), []string{"udp", "tls"}, sip.RequirePeer(true))
	strict.route("5002", target(t, callee.URI()))
	phone2 := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithTLS(p.clientConf("voip.unisi.it")), siptest.WithProxy(strict.srv.Local().Addr("tls")))
	call, err = phone2.Invite(ctx, "sip:5002@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if code := tlsFinal(ctx, call); code != 403 {
		t.Errorf("TLS caller without certificate, verified certificate required: got %d, want 403", code)
	}
}

// TestTLSOutboundVerification: the proxy verifies the certificate of a
// gateway it dials over TLS: a valid one passes, an expired one or one for
// another host is refused (503, nothing sent); a gateway dialled by name
// is held to its entry's own CA and pin.
func TestTLSOutboundVerification(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	expired := p.ca.Issue("expired", siptest.CertOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	wrongHost := p.ca.Issue("wrong-host", siptest.CertOptions{DNSNames: []string{"gw.elsewhere.example"}})
	named := p.ca.Issue("gw.unisi.it", siptest.CertOptions{})
	otherCA := siptest.NewCA(t, "Other CA")
	foreign := otherCA.Issue("127.0.0.1", siptest.CertOptions{})
	foreignNamed := otherCA.Issue("gw.unisi.it", siptest.CertOptions{})
	resolver := fakeDNS(t, map[string][]string{"gw.unisi.it": {"127.0.0.1"}})
	tests := []struct {
		name    string
		cert    siptest.Cert
		host    string // how the gateway is dialled; empty: by IP
		gateway *sip.TLSGateway
		want    int
	}{
		{"valid, by IP", p.local, "", nil, 200},
		{"valid, by name", named, "gw.unisi.it", nil, 200},
		{"expired", expired, "", nil, 503},
		{"wrong host, by IP", wrongHost, "", nil, 503},
		{"wrong host, by name", wrongHost, "gw.unisi.it", nil, 503},
		{"another CA", foreign, "", nil, 503},
		{"the gateway's own CA", foreignNamed, "gw.unisi.it", &sip.TLSGateway{Host: "gw.unisi.it", CAFile: otherCA.File}, 200},
		{"the roots' CA where the gateway has its own", named, "gw.unisi.it", &sip.TLSGateway{Host: "gw.unisi.it", CAFile: otherCA.File}, 503},
		{"the gateway's pin", named, "gw.unisi.it", &sip.TLSGateway{Host: "gw.unisi.it", Fingerprint: fingerprint(t, named)}, 200},
		{"the gateway's pin, another certificate", named, "gw.unisi.it", &sip.TLSGateway{Host: "gw.unisi.it", Fingerprint: fingerprint(t, wrongHost)}, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := p.tlsConfig()
			if tt.gateway != nil {
				cfg.Gateways = []sip.TLSGateway{*tt.gateway}
			}
			reg := prometheus.NewRegistry()
			px := &testProxy{routes: map[string][]sip.Target{}, serial: map[string]bool{}}
			tp := siptest.NewProxy(t, siptest.ProxyConfig{
				Networks: []string{"udp", "tls"},
				Server:   sip.Config{TLS: newTLS(t, cfg, sip.WithTLSRegisterer(reg))},
				Stages:   []sip.Middleware{px.routeStage},
				Options:  []sip.Option{sip.WithResolver(resolver)},
			})
			px.srv, px.fwd = tp.Server, tp.Forwarder
			gw := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithTLS(&tls.Config{Certificates: []tls.Certificate{tt.cert.TLS}}))
			uri := gw.URI()
			if tt.host != "" {
				uri = strings.Replace(uri, "127.0.0.1", tt.host, 1)
			}
			px.route("0577", target(t, uri))
			caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(px.udp()))
			ctx := ctxT(t, 10*time.Second)
			call, err := caller.Invite(ctx, "sip:0577@voip.unisi.it")
			if err != nil {
				t.Fatal(err)
			}
			if code := tlsFinal(ctx, call); code != tt.want {
				t.Fatalf("got %d, want %d", code, tt.want)
			}
			if tt.want == 200 {
				_, _ = call.Bye(ctx)
				return
			}
			if n := len(gw.Received(sip.INVITE)); n != 0 {
				t.Errorf("the gateway received %d INVITEs", n)
			}
			if tt.gateway != nil {
				if got := tlsMetric(t, reg, "palio_sip_tls_handshake_failures_total", "side", "client"); got < 1 {
					t.Errorf("client handshake failures: got %v, want ≥ 1", got)
				}
			}
		})
	}
}

// tlsMetric returns the value of the series name{label=value} in reg.
func tlsMetric(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if m.Counter != nil {
						return m.Counter.GetValue()
					}
					return m.Gauge.GetValue()
				}
			}
		}
	}
	return 0
}

// TestSIPSNotDowngraded: a sips Request-URI goes only over TLS (RFC 3261
// §26.2, RFC 5630): towards a UDP phone it is refused with 480, without
// any TLS listener with 416, and towards a TLS phone it is forwarded.
func TestSIPSNotDowngraded(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	px := tlsProxy(t, newTLS(t, p.tlsConfig()), []string{"udp", "tls"})
	udpPhone := siptest.NewUA(t, siptest.WithUser("5002"))
	tlsPhone := siptest.NewUA(t, siptest.WithUser("5004"), siptest.WithTLS(&tls.Config{Certificates: []tls.Certificate{p.local.TLS}}))
	tgt := target(t, udpPhone.URI())
	tgt.Transport = "UDP"
	px.route("5002", tgt)
	px.route("5004", target(t, tlsPhone.URI()))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithTLS(p.clientConf("voip.unisi.it")), siptest.WithProxy(px.srv.Local().Addr("tls")))
	ctx := ctxT(t, 10*time.Second)

	call, err := caller.Invite(ctx, "sips:5002@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if code := tlsFinal(ctx, call); code != 480 {
		t.Errorf("sips to a UDP phone: got %d, want 480", code)
	}
	if n := len(udpPhone.Received(sip.INVITE)); n != 0 {
		t.Errorf("the UDP phone received %d INVITEs", n)
	}
	call, err = caller.Invite(ctx, "sips:5004@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if code := tlsFinal(ctx, call); code != 200 {
		t.Fatalf("sips to a TLS phone: got %d, want 200", code)
	}
	inv, err := tlsPhone.WaitRequest(ctx, sip.INVITE, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rr := inv.GetHeader("Record-Route"); rr == nil || !strings.HasPrefix(strings.Trim(rr.Value(), "<"), "sips:") {
		t.Errorf("Record-Route of a sips call: got %v, want a sips URI (RFC 3261 §16.6)", rr)
	}
	if res, err := call.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE of the sips call: %v %v", res, err)
	}
	if bye, err := tlsPhone.WaitRequest(ctx, sip.BYE, 1); err != nil || bye.Transport() != "TLS" {
		t.Errorf("BYE of the sips call at the callee: %v %v, want over TLS", bye, err)
	}

	plain := newProxy(t, sip.ForwarderConfig{})
	plain.route("5002", target(t, udpPhone.URI()))
	udpCaller := siptest.NewUA(t, siptest.WithUser("5003"), siptest.WithProxy(plain.udp()))
	call, err = udpCaller.Invite(ctx, "sips:5002@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if code := tlsFinal(ctx, call); code != 416 {
		t.Errorf("sips through a proxy without TLS: got %d, want 416", code)
	}
}

// TestTLSReloadUnderTraffic: while a call is up over TLS, the certificate
// files are replaced and picked up (Watch); the call's connection carries
// its BYE, new handshakes get the new certificate, and a broken file keeps
// the old one.
func TestTLSReloadUnderTraffic(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	cfg := p.tlsConfig()
	reg := prometheus.NewRegistry()
	tc := newTLS(t, cfg, sip.WithTLSRegisterer(reg))
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() { defer close(watched); tc.Watch(watchCtx, 10*time.Millisecond) }()
	t.Cleanup(func() { stopWatch(); <-watched })
	px := tlsProxy(t, tc, []string{"udp", "tls"})
	callee := siptest.NewUA(t, siptest.WithUser("5002"))
	px.route("5002", target(t, callee.URI()))
	phone := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithTLS(p.clientConf("voip.unisi.it")), siptest.WithProxy(px.srv.Local().Addr("tls")))
	ctx := ctxT(t, 10*time.Second)
	addr := px.srv.Local().Addr("tls")

	before := tc.Status()[0].Fingerprint
	call, err := phone.Invite(ctx, "sip:5002@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if code := tlsFinal(ctx, call); code != 200 {
		t.Fatalf("got %d, want 200", code)
	}
	// The renewed certificate: same names, new key, same files.
	renewed := p.ca.Issue("voip.unisi.it", siptest.CertOptions{DNSNames: []string{"voip.unisi.it", "*.unisi.it"}})
	if renewed.CertFile != p.unisi.CertFile {
		t.Fatalf("renewed into %s, want %s", renewed.CertFile, p.unisi.CertFile)
	}
	want := fingerprint(t, renewed)
	deadline := time.Now().Add(5 * time.Second)
	for tc.Status()[0].Fingerprint != want {
		if time.Now().After(deadline) {
			t.Fatalf("certificate not reloaded: fingerprint %s, want %s (was %s)", tc.Status()[0].Fingerprint, want, before)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c, err := tls.Dial("tcp", addr, p.clientConf("voip.unisi.it"))
	if err != nil {
		t.Fatal(err)
	}
	if got := sip.Fingerprint(c.ConnectionState().PeerCertificates[0].Raw); got != want {
		t.Errorf("new handshake: certificate %s, want the renewed %s", got, want)
	}
	c.Close()
	// The established call ends over its connection.
	if _, err := call.Bye(ctx); err != nil {
		t.Fatalf("BYE after the reload: %v", err)
	}
	if _, err := callee.WaitRequest(ctx, sip.BYE, 1); err != nil {
		t.Fatal(err)
	}
	// A new call after the reload.
	call, err = phone.Invite(ctx, "sip:5002@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if code := tlsFinal(ctx, call); code != 200 {
		t.Fatalf("after the reload: got %d, want 200", code)
	}
	_, _ = call.Bye(ctx)

	// A broken key file: Reload fails and the renewed certificate stays.
	if err := os.WriteFile(p.unisi.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tc.Reload(); err == nil {
		t.Fatal("Reload of a broken key: no error")
	}
	if got := tc.Status()[0].Fingerprint; got != want {
		t.Errorf("after a failed reload: certificate %s, want %s", got, want)
	}
	if got := tlsMetric(t, reg, "palio_sip_tls_reloads_total", "outcome", "error"); got < 1 {
		t.Errorf("failed reloads: got %v, want ≥ 1", got)
	}
}

// TestTLSStreamLimits: the stream limits hold over TLS and WSS: idle
// connections are closed, a source over its cap (TLS and WSS counted
// together) refused, and an RFC 5626 ping over TLS answered with a pong.
// The total cap counts TLS, WS and WSS together; a sender that stops in
// the middle of a message over TLS is cut off at MessageTimeout; an idle
// plain WS connection is closed at IdleTimeout.
func TestTLSStreamLimits(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	tc := newTLS(t, p.tlsConfig())
	reg := prometheus.NewRegistry()
	srv, err := sip.NewServer(sip.Config{TLS: tc,
		Listen:  []sip.Listen{{Network: "tls", Addr: "127.0.0.1:0"}, {Network: "wss", Addr: "127.0.0.1:0"}},
		Streams: sip.StreamLimits{IdleTimeout: 300 * time.Millisecond, MaxConnsPerIP: 3},
	}, sip.WithLogger(testLogger()), sip.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	startProxy(t, srv, sip.ForwarderConfig{})
	addr := srv.Local().Addr("tls")
	dial := func() (*tls.Conn, error) {
		return tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, p.clientConf("voip.unisi.it"))
	}
	c1, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if err := ping(c1); err != nil {
		t.Fatalf("CRLF ping over TLS: %v", err)
	}
	c2, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	ws, err := siptest.DialWS(ctxT(t, 5*time.Second), "wss://"+srv.Local().Addr("wss"), "", p.clientConf("voip.unisi.it"))
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if c4, err := dial(); err == nil {
		// The TCP handshake completes in the kernel before the accept
		// that resets it: the TLS handshake may then fail or not.
		c4.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for tlsMetric(t, reg, "palio_sip_stream_refused_total", "reason", "per-ip") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the fourth connection from one IP (over the cap of 3, TLS and WSS together) was not refused")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := closedWithin(c1, 3*time.Second); err != nil {
		t.Errorf("idle TLS connection: %v", err)
	}
	if err := closedWithin(ws, 3*time.Second); err != nil {
		t.Errorf("idle WSS connection: %v", err)
	}

	// limited starts a server with listeners on networks under limits.
	limited := func(t *testing.T, limits sip.StreamLimits, networks ...string) (*sip.Server, *prometheus.Registry) {
		reg := prometheus.NewRegistry()
		cfg := sip.Config{TLS: tc, Streams: limits}
		for _, n := range networks {
			cfg.Listen = append(cfg.Listen, sip.Listen{Network: n, Addr: "127.0.0.1:0"})
		}
		srv, err := sip.NewServer(cfg, sip.WithLogger(testLogger()), sip.WithRegisterer(reg))
		if err != nil {
			t.Fatal(err)
		}
		startProxy(t, srv, sip.ForwarderConfig{})
		return srv, reg
	}
	t.Run("total cap over TLS, WS and WSS", func(t *testing.T) {
		// Per-IP caps off, so that only the total cap can refuse: a
		// connection over it is reset at accept, whatever its transport,
		// and the ones under it carry on.
		srv, reg := limited(t, sip.StreamLimits{MaxConns: 2, MaxConnsPerIP: -1}, "tls", "ws", "wss")
		ctx := ctxT(t, 10*time.Second)
		conf := p.clientConf("voip.unisi.it")
		c1 := tls.Client(dialFrom(t, "127.0.0.1", srv.Local().Addr("tls")), conf)
		if err := c1.HandshakeContext(ctx); err != nil {
			t.Fatal(err)
		}
		defer c1.Close()
		w2, err := siptest.DialWS(ctx, "ws://"+srv.Local().Addr("ws"), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Close()
		over := []struct {
			name string
			dial func() error
		}{
			{"tls", func() error {
				raw, err := net.DialTimeout("tcp", srv.Local().Addr("tls"), 3*time.Second)
				if err != nil {
					return err // reset before connect returned
				}
				c := tls.Client(raw, conf)
				defer c.Close()
				if err := c.HandshakeContext(ctx); err != nil {
					return err
				}
				return closedWithin(c, 3*time.Second)
			}},
			{"wss", func() error {
				c, err := siptest.DialWS(ctx, "wss://"+srv.Local().Addr("wss"), "", conf)
				if err != nil {
					return nil // reset during the handshake: refused
				}
				defer c.Close()
				return closedWithin(c, 3*time.Second)
			}},
		}
		for i, o := range over {
			// The TCP handshake completes in the kernel before the accept
			// that resets it: the TLS handshake may fail, or succeed and
			// the connection be closed at once.
			if err := o.dial(); err != nil && !isClosedErr(err) {
				t.Errorf("a %s connection over the total cap: %v", o.name, err)
			}
			waitStreamMetric(t, reg, "palio_sip_stream_refused_total", "total", float64(i+1))
		}
		if err := ping(c1); err != nil {
			t.Errorf("the TLS connection under the cap: %v", err)
		}
		if got := tlsMetric(t, reg, "palio_sip_stream_refused_total", "reason", "per-ip"); got != 0 {
			t.Errorf("per-ip refusals: got %v, want 0 (off)", got)
		}
	})
	t.Run("slowloris over TLS", func(t *testing.T) {
		// After the handshake, the start of a message and then silence:
		// closed at MessageTimeout, long before the idle timeout.
		srv, reg := limited(t, sip.StreamLimits{MessageTimeout: 300 * time.Millisecond, IdleTimeout: 20 * time.Second}, "tls")
		c := tls.Client(dialFrom(t, "127.0.0.1", srv.Local().Addr("tls")), p.clientConf("voip.unisi.it"))
		defer c.Close()
		if err := c.HandshakeContext(ctxT(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := c.Write([]byte("INVITE sip:5002@voip.unisi.it SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5070;branch=z9hG4bKslow\r\n")); err != nil {
			t.Fatal(err)
		}
		if err := closedWithin(c, 5*time.Second); err != nil {
			t.Fatalf("a partial message over TLS: %v", err)
		}
		if took := time.Since(start); took < 250*time.Millisecond {
			t.Errorf("closed after %v, before MessageTimeout (300ms)", took)
		}
		waitStreamMetric(t, reg, "palio_sip_stream_closed_total", "message-timeout", 1)
	})
	t.Run("idle over WS", func(t *testing.T) {
		srv, reg := limited(t, sip.StreamLimits{IdleTimeout: 300 * time.Millisecond}, "ws")
		ctx := ctxT(t, 5*time.Second)
		c, err := siptest.DialWS(ctx, "ws://"+srv.Local().Addr("ws"), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		if err := closedWithin(c, 5*time.Second); err != nil {
			t.Fatalf("idle WS connection: %v", err)
		}
		if took := time.Since(start); took < 250*time.Millisecond {
			t.Errorf("closed after %v, before IdleTimeout (300ms)", took)
		}
		waitStreamMetric(t, reg, "palio_sip_stream_closed_total", "idle", 1)
	})
}

// waitStreamMetric waits until the counter name{reason} reaches want (the
// server counts a close once it is done, which the peer may see first),
// and fails the test if it does not within 3 s or goes past it.
func waitStreamMetric(t *testing.T, reg *prometheus.Registry, name, reason string, want float64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := tlsMetric(t, reg, name, "reason", reason)
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("%s{reason=%q}: got %v, want %v", name, reason, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// isClosedErr reports whether err says the server closed or reset the
// connection.
func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// TestTLSSetConfig: a new configuration takes effect without a restart:
// a certificate for a new domain is served to its SNI, a trunk pinned to
// its certificate makes the handshake of its addresses without it fail,
// and a connection made before carries on. A configuration that does not
// load (a missing key file, a bad pin) changes nothing.
func TestTLSSetConfig(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	reg := prometheus.NewRegistry()
	tc := newTLS(t, p.tlsConfig(), sip.WithTLSRegisterer(reg))
	srv, err := sip.NewServer(sip.Config{TLS: tc, Listen: []sip.Listen{{Network: "tls", Addr: "127.0.0.1:0"}}},
		sip.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	startProxy(t, srv, sip.ForwarderConfig{})
	addr := srv.Local().Addr("tls")
	newDomain := p.ca.Issue("sip.newdomain.it", siptest.CertOptions{})
	// refused dials addr as a phone (no client certificate) with SNI
	// name: whether the server fails the handshake, or closes the
	// connection at once after it (TLS 1.3 checks the client's side last).
	refused := func(name string) bool {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, p.clientConf(name))
		if err != nil {
			return true
		}
		defer c.Close()
		return ping(c) != nil
	}
	old, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, p.clientConf("voip.unisi.it"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if !refused("sip.newdomain.it") {
		t.Fatal("a name no certificate serves was accepted")
	}

	next := p.tlsConfig()
	next.Certificates = append(next.Certificates, sip.TLSCertificate{Name: "newdomain", CertFile: newDomain.CertFile, KeyFile: newDomain.KeyFile})
	next.Trunks = []sip.TLSTrunk{{Name: "pstn", Sources: []string{"127.0.0.0/8"}, Fingerprints: []string{fingerprint(t, p.trunk)}}}
	if err := tc.SetConfig(next); err != nil {
		t.Fatalf("SetConfig: %v", err)
	}
	if cn, err := handshake(addr, p.clientConf("sip.newdomain.it", p.trunk.TLS)); err != nil || cn != "sip.newdomain.it" {
		t.Errorf("the new domain: got %q %v, want its certificate", cn, err)
	}
	if !refused("voip.unisi.it") {
		t.Error("from the trunk's addresses without its pinned certificate: accepted")
	}
	if err := ping(old); err != nil {
		t.Errorf("the connection made before SetConfig: %v", err)
	}
	if got := len(tc.Status()); got != 3 {
		t.Errorf("certificates after SetConfig: got %d, want 3", got)
	}

	missing := next
	missing.Certificates = append(slices.Clone(next.Certificates), sip.TLSCertificate{Name: "broken", CertFile: newDomain.CertFile, KeyFile: newDomain.CertFile + ".missing"})
	badPin := next
	badPin.Trunks = []sip.TLSTrunk{{Name: "pstn", Sources: []string{"127.0.0.0/8"}, Fingerprints: []string{"AB:CD"}}}
	for _, tt := range []struct {
		name string
		cfg  sip.TLSConfig
		want string
	}{
		{"a missing key file", missing, ".missing"},
		{"a bad pin", badPin, "fingerprint"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := tlsMetric(t, reg, "palio_sip_tls_reloads_total", "outcome", "error")
			if err := tc.SetConfig(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error about %q", err, tt.want)
			}
			if got := tlsMetric(t, reg, "palio_sip_tls_reloads_total", "outcome", "error"); got != before+1 {
				t.Errorf("failed reloads: got %v, want %v", got, before+1)
			}
			if got := len(tc.Status()); got != 3 {
				t.Errorf("certificates: got %d, want the 3 in use", got)
			}
			if cn, err := handshake(addr, p.clientConf("sip.newdomain.it", p.trunk.TLS)); err != nil || cn != "sip.newdomain.it" {
				t.Errorf("the new domain after a failed SetConfig: got %q %v", cn, err)
			}
			if err := tc.Reload(); err != nil {
				t.Errorf("Reload after a failed SetConfig reads the configuration in use: %v", err)
			}
		})
	}
}

// TestTLSHandshakeTimeout: a client that connects and sends nothing is
// cut off after MessageTimeout, its handshake never done.
func TestTLSHandshakeTimeout(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	srv, err := sip.NewServer(sip.Config{TLS: newTLS(t, p.tlsConfig()),
		Listen:  []sip.Listen{{Network: "tls", Addr: "127.0.0.1:0"}},
		Streams: sip.StreamLimits{MessageTimeout: 300 * time.Millisecond},
	}, sip.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	startProxy(t, srv, sip.ForwarderConfig{})
	c := dialFrom(t, "127.0.0.1", srv.Local().Addr("tls"))
	// A first byte of a ClientHello, then nothing.
	if _, err := c.Write([]byte{0x16}); err != nil {
		t.Fatal(err)
	}
	if err := closedWithin(c, 3*time.Second); err != nil {
		t.Errorf("stalled handshake: %v", err)
	}
}

func TestParseFingerprint(t *testing.T) {
	p := newPKI(t)
	fp := fingerprint(t, p.local)
	for _, s := range []string{fp, strings.ReplaceAll(fp, ":", ""), strings.ToLower(fp), "sha256/" + strings.ReplaceAll(fp, ":", "")} {
		if _, err := sip.ParseFingerprint(s); err != nil {
			t.Errorf("ParseFingerprint(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "AB:CD", strings.Replace(fp, "A", "G", 1) + "", fp + ":00"} {
		if _, err := sip.ParseFingerprint(s); err == nil && s != fp {
			t.Errorf("ParseFingerprint(%q): no error", s)
		}
	}
}

func FuzzParseFingerprint(f *testing.F) {
	f.Add("AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89")
	f.Add("sha256/00")
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := sip.ParseFingerprint(s)
		if err != nil {
			return
		}
		// What parses prints back to something that parses the same.
		again, err := sip.ParseFingerprint(formatFP(fp))
		if err != nil || again != fp {
			t.Fatalf("round trip of %q: %x, %v", s, again, err)
		}
	})
}

func formatFP(fp [32]byte) string {
	var b strings.Builder
	for i, c := range fp {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])))
	}
	return b.String()
}

func TestTLSConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  sip.TLSConfig
		want string
	}{
		{"ok", sip.TLSConfig{Certificates: []sip.TLSCertificate{{CertFile: "a", KeyFile: "b"}}}, ""},
		{"no key", sip.TLSConfig{Certificates: []sip.TLSCertificate{{CertFile: "a"}}}, "cert and key"},
		{"bad glob", sip.TLSConfig{Certificates: []sip.TLSCertificate{{CertFile: "a", KeyFile: "b", SNI: []string{"[x"}}}}, "sni"},
		{"bad addr", sip.TLSConfig{Certificates: []sip.TLSCertificate{{CertFile: "a", KeyFile: "b", Addrs: []string{"host"}}}}, "addr"},
		{"trunk without sources", sip.TLSConfig{Trunks: []sip.TLSTrunk{{Name: "x", CAFile: "ca"}}}, "sources"},
		{"trunk without CA", sip.TLSConfig{Trunks: []sip.TLSTrunk{{Name: "x", Sources: []string{"192.0.2.1"}}}}, "ca"},
		{"trunk bad source", sip.TLSConfig{Trunks: []sip.TLSTrunk{{Name: "x", Sources: []string{"nowhere"}, CAFile: "ca"}}}, "source"},
		{"trunk bad pin", sip.TLSConfig{Trunks: []sip.TLSTrunk{{Name: "x", Sources: []string{"192.0.2.1"}, Fingerprints: []string{"zz"}}}}, "fingerprint"},
		{"client cert without key", sip.TLSConfig{CertFile: "a"}, "client_key"},
		{"gateway without host", sip.TLSConfig{Gateways: []sip.TLSGateway{{CAFile: "x"}}}, "host"},
		{"gateway by IP", sip.TLSConfig{Gateways: []sip.TLSGateway{{Host: "192.0.2.1", CAFile: "x", ServerName: "sbc.provider.example"}}}, ""},
		{"gateway by IPv6", sip.TLSConfig{Gateways: []sip.TLSGateway{{Host: "[2001:db8::1]", ServerName: "sbc.provider.example"}}}, ""},
		{"gateway bad pin", sip.TLSConfig{Gateways: []sip.TLSGateway{{Host: "192.0.2.1", Fingerprint: "AB:CD"}}}, "fingerprint"},
		{"gateway server name an address", sip.TLSConfig{Gateways: []sip.TLSGateway{{Host: "192.0.2.1", ServerName: "192.0.2.1"}}}, "server_name"},
		{"gateway server name not a name", sip.TLSConfig{Gateways: []sip.TLSGateway{{Host: "192.0.2.1", ServerName: "sbc provider"}}}, "server_name"},
		{"gateway by name, another name", sip.TLSConfig{Gateways: []sip.TLSGateway{{Host: "gw.unisi.it", ServerName: "sbc.provider.example"}}}, "dialled by name"},
		{"gateway by name, the same name", sip.TLSConfig{Gateways: []sip.TLSGateway{{Host: "gw.unisi.it", ServerName: "GW.unisi.it."}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestOriginAllowed(t *testing.T) {
	allowed := []string{"https://phone.unisi.it", "https://*.example.org"}
	tests := []struct {
		origin string
		want   bool
	}{
		{"", true},
		{"https://phone.unisi.it", true},
		{"HTTPS://PHONE.UNISI.IT", true},
		{"https://a.example.org", true},
		{"https://example.org", false},
		{"http://a.example.org", false},
		{"https://evil.com", false},
	}
	for _, tt := range tests {
		if got := sip.OriginAllowed(allowed, tt.origin); got != tt.want {
			t.Errorf("OriginAllowed(%q): got %v, want %v", tt.origin, got, tt.want)
		}
	}
	if !sip.OriginAllowed(nil, "https://evil.com") {
		t.Error("an empty list refuses")
	}
}

// TestTLSReconnect: the proxy keeps one TLS connection to a gateway for
// its calls, and when the gateway goes away and comes back on the same
// address, the first call after the restart is answered: the proxy drops
// the old connection, dials again once and sends over the new one. Three
// restarts, each followed at once by a call, then by a second call that
// must reuse the new connection; whether sipgo's read loop saw the old
// connection end first, or is held as one not yet scheduled (the kernel
// has the gateway's FIN: known closed), or closed the connection while
// the INVITE was about to be written on it (the write fails; the proxy's
// own checks turned off).
func TestTLSReconnect(t *testing.T) {
	leakCheck(t)
	tests := []struct {
		name           string
		hold, closeOld bool
		closed, failed float64 // the redials counted, by cause; -1: any
	}{
		// Unheld, which check sees the restart first is the scheduler's
		// choice: on a busy machine the read loop is late and the write
		// fails (a "failed" redial), as the held cases below force.
		{name: "read loop saw the close", closed: -1, failed: -1},
		{name: "read loop behind, known closed", hold: true, closed: 3},
		{name: "write fails on the old connection", hold: true, closeOld: true, failed: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPKI(t)
			reg := prometheus.NewRegistry()
			px := tlsProxy(t, newTLS(t, p.tlsConfig(), sip.WithTLSRegisterer(reg)), []string{"udp", "tls"})
			gwConf := &tls.Config{Certificates: []tls.Certificate{p.local.TLS}}
			gw := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithTLS(gwConf), siptest.WithScript(siptest.Respond(200)))
			addr := gw.Addr()
			px.route("0577", target(t, gw.URI()))
			caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(px.udp()))
			ctx := ctxT(t, 20*time.Second)
			call := func(what string) {
				t.Helper()
				c, err := caller.Invite(ctx, "sip:0577@voip.unisi.it")
				if err != nil {
					t.Fatal(err)
				}
				if code := tlsFinal(ctx, c); code != 200 {
					t.Fatalf("%s: got %d, want 200", what, code)
				}
				if res, err := c.Bye(ctx); err != nil || res.StatusCode != 200 {
					t.Fatalf("%s: BYE: %v %v", what, res, err)
				}
			}
			oneConnection := func(gw *siptest.UA, n int) {
				t.Helper()
				invs := gw.Received(sip.INVITE)
				if len(invs) != n {
					t.Fatalf("the gateway received %d INVITEs, want %d", len(invs), n)
				}
				for _, inv := range invs[1:] {
					if inv.Source() != invs[0].Source() {
						t.Errorf("INVITEs from %s and %s: the connection was not reused", invs[0].Source(), inv.Source())
					}
				}
			}
			for i := range 3 {
				call(fmt.Sprintf("call %d", i+1))
			}
			oneConnection(gw, 3)
			if got := px.srv.Connections()["tls"]; got != 0 {
				t.Errorf("accepted TLS connections: got %d, want 0 (the proxy dialled)", got)
			}
			if tt.hold {
				t.Cleanup(sip.HoldDialedReads(tt.closeOld))
			}
			for i := range 3 {
				gw.Close()
				gw = siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithTLS(gwConf), siptest.WithScript(siptest.Respond(200)), siptest.WithListen(addr))
				call(fmt.Sprintf("restart %d, first call", i+1))
				call(fmt.Sprintf("restart %d, second call", i+1))
				oneConnection(gw, 2)
			}
			for _, c := range []struct {
				cause string
				want  float64
			}{{"closed", tt.closed}, {"failed", tt.failed}} {
				if got := gathered(t, reg, "palio_sip_tls_redials_total", "cause", c.cause); c.want >= 0 && got != c.want {
					t.Errorf("redials (%s): got %v, want %v", c.cause, got, c.want)
				}
			}
		})
	}
}

// TestTLSReloadNoDroppedCall: calls run back to back over one TLS phone's
// connection while the certificate is renewed and reloaded five times and
// a new phone connects after each reload; every call is answered.
func TestTLSReloadNoDroppedCall(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	tc := newTLS(t, p.tlsConfig())
	px := tlsProxy(t, tc, []string{"udp", "tls"})
	callee := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithScript(siptest.Respond(200)))
	px.route("5002", target(t, callee.URI()))
	phone := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithTLS(p.clientConf("voip.unisi.it")), siptest.WithProxy(px.srv.Local().Addr("tls")))
	ctx := ctxT(t, 60*time.Second)

	call := func(ua *siptest.UA) error {
		c, err := ua.Invite(ctx, "sip:5002@voip.unisi.it")
		if err != nil {
			return err
		}
		if code := tlsFinal(ctx, c); code != 200 {
			return fmt.Errorf("got %d, want 200", code)
		}
		if res, err := c.Bye(ctx); err != nil || res.StatusCode != 200 {
			return fmt.Errorf("BYE: %v %v", res, err)
		}
		return nil
	}
	stop := make(chan struct{})
	type result struct {
		calls int
		err   error
	}
	done := make(chan result, 1)
	progress := make(chan struct{}, 1) // a call completed
	go func() {
		var r result
		for {
			select {
			case <-stop:
				done <- r
				return
			default:
			}
			if err := call(phone); err != nil {
				r.err = fmt.Errorf("call %d: %w", r.calls+1, err)
				done <- r
				return
			}
			r.calls++
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}()
	// Wait on calls completing, before and after the reloads (the test
	// fails on the first that does not, through done).
	waitCall := func() {
		select {
		case <-progress:
		case r := <-done:
			t.Fatalf("the calls stopped: %v", r.err)
		}
	}
	waitCall()
	for i := range 5 {
		renewed := p.ca.Issue("voip.unisi.it", siptest.CertOptions{DNSNames: []string{"voip.unisi.it", "*.unisi.it"}})
		if err := tc.Reload(); err != nil {
			t.Fatal(err)
		}
		if got, want := tc.Status()[0].Fingerprint, fingerprint(t, renewed); got != want {
			t.Fatalf("reload %d: certificate %s, want %s", i+1, got, want)
		}
		fresh := siptest.NewUA(t, siptest.WithUser("5003"), siptest.WithTLS(p.clientConf("voip.unisi.it")), siptest.WithProxy(px.srv.Local().Addr("tls")))
		if err := call(fresh); err != nil {
			t.Fatalf("new phone after reload %d: %v", i+1, err)
		}
		fresh.Close()
	}
	select {
	case <-progress: // one completed during the reloads, or
	default:
	}
	waitCall() // one completed after them
	close(stop)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("%d calls over one connection during 5 reloads", r.calls)
}
