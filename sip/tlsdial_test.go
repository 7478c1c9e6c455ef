package sip_test

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
	"github.com/prometheus/client_golang/prometheus"
)

// sniLog records the server names the ClientHellos a TLS gateway received
// asked for.
type sniLog struct {
	mu    sync.Mutex
	names []string
}

// conf is the gateway's tls.Config presenting cert.
func (l *sniLog) conf(cert tls.Certificate) *tls.Config {
	return &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		l.mu.Lock()
		l.names = append(l.names, h.ServerName)
		l.mu.Unlock()
		return &cert, nil
	}}
}

func (l *sniLog) last() (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.names) == 0 {
		return "", false
	}
	return l.names[len(l.names)-1], true
}

// TestTLSGatewayByIP: a gateway addressed by IP whose certificate names
// it (no IP SAN), from a CA of its own, is reached with its entry (a
// gateway row: the CA, the server name, sent as SNI, and a pin) and
// refused without it, with a wrong name, an expired certificate, another
// CA, another pin or a CA file that cannot be read: the call fails with
// 503 at once, and the gateway never sees the INVITE.
func TestTLSGatewayByIP(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	provider := siptest.NewCA(t, "Provider CA")
	const name = "sbc.provider.example"
	sbc := provider.Issue(name, siptest.CertOptions{})
	expired := provider.Issue("expired.provider.example", siptest.CertOptions{DNSNames: []string{name},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	rogue := siptest.NewCA(t, "Rogue CA").Issue(name, siptest.CertOptions{})
	missing := filepath.Join(t.TempDir(), "missing.pem")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cert    siptest.Cert
		gateway *sip.TLSGateway // Host is set to the gateway's address
		wantErr string          // of SetGateways
		want    int
	}{
		{"the row's CA and server name", sbc, &sip.TLSGateway{CAFile: provider.File, ServerName: name}, "", 200},
		{"the row's pin on top", sbc, &sip.TLSGateway{CAFile: provider.File, ServerName: name, Fingerprint: fingerprint(t, sbc)}, "", 200},
		{"no row: the address is not in the certificate", sbc, nil, "", 503},
		{"the row's CA without the server name", sbc, &sip.TLSGateway{CAFile: provider.File}, "", 503},
		{"another server name", sbc, &sip.TLSGateway{CAFile: provider.File, ServerName: "other.provider.example"}, "", 503},
		{"expired", expired, &sip.TLSGateway{CAFile: provider.File, ServerName: name}, "", 503},
		{"another CA", rogue, &sip.TLSGateway{CAFile: provider.File, ServerName: name}, "", 503},
		{"the roots instead of the row's CA", sbc, &sip.TLSGateway{ServerName: name}, "", 503},
		{"another pin", sbc, &sip.TLSGateway{CAFile: provider.File, ServerName: name, Fingerprint: fingerprint(t, expired)}, "", 503},
		{"a CA file missing", sbc, &sip.TLSGateway{CAFile: missing, ServerName: name}, "ca: open", 503},
		{"a CA file without a certificate", sbc, &sip.TLSGateway{CAFile: notPEM, ServerName: name}, "no PEM certificate", 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			tc := newTLS(t, p.tlsConfig(), sip.WithTLSRegisterer(reg))
			px := tlsProxy(t, tc, []string{"udp", "tls"})
			var snis sniLog
			gw := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithTLS(snis.conf(tt.cert.TLS)), siptest.WithScript(siptest.Respond(200)))
			if tt.gateway != nil {
				g := *tt.gateway
				g.Host, g.Name = "127.0.0.1", "pstn-tls"
				err := tc.SetGateways([]sip.TLSGateway{g})
				var ge *sip.GatewayError
				switch {
				case tt.wantErr == "" && err != nil:
					t.Fatalf("SetGateways: %v", err)
				case tt.wantErr != "" && (!errors.As(err, &ge) || ge.Gateway.Name != "pstn-tls" || !strings.Contains(err.Error(), tt.wantErr)):
					t.Fatalf("SetGateways: got %v, want a GatewayError of pstn-tls about %q", err, tt.wantErr)
				}
			}
			px.route("0577", target(t, gw.URI()))
			caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(px.udp()))
			ctx := ctxT(t, 10*time.Second)
			start := time.Now()
			call, err := caller.Invite(ctx, "sip:0577@voip.unisi.it")
			if err != nil {
				t.Fatal(err)
			}
			code := tlsFinal(ctx, call)
			if code != tt.want {
				t.Fatalf("got %d, want %d", code, tt.want)
			}
			if tt.want == 200 {
				_, _ = call.Bye(ctx)
				if sni, ok := snis.last(); !ok || sni != name {
					t.Errorf("SNI: got %q (%v), want %q", sni, ok, name)
				}
				return
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("the refusal took %v", took)
			}
			if n := len(gw.Received(sip.INVITE)); n != 0 {
				t.Errorf("the gateway received %d INVITEs", n)
			}
			if got := tlsMetric(t, reg, "palio_sip_tls_handshake_failures_total", "side", "client"); got < 1 {
				t.Errorf("client handshake failures: got %v, want ≥ 1", got)
			}
		})
	}
}

// TestTLSGatewayRowWins: for a host in both, the entry of SetGateways (the
// gateway's row) is used, not the configuration's; without the row, the
// configuration's entry is (the fallback).
func TestTLSGatewayRowWins(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	provider := siptest.NewCA(t, "Provider CA")
	const name = "sbc.provider.example"
	sbc := provider.Issue(name, siptest.CertOptions{})
	cfg := p.tlsConfig()
	cfg.Gateways = []sip.TLSGateway{{Host: "127.0.0.1", CAFile: provider.File, ServerName: "config.provider.example"}}
	tc := newTLS(t, cfg)
	px := tlsProxy(t, tc, []string{"udp", "tls"})
	var snis sniLog
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(px.udp()))
	ctx := ctxT(t, 20*time.Second)
	place := func() int {
		// A new gateway each time: a new connection, checked anew.
		gw := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithTLS(snis.conf(sbc.TLS)), siptest.WithScript(siptest.Respond(200)))
		defer gw.Close()
		px.route("0577", target(t, gw.URI()))
		call, err := caller.Invite(ctx, "sip:0577@voip.unisi.it")
		if err != nil {
			t.Fatal(err)
		}
		code := tlsFinal(ctx, call)
		if code == 200 {
			_, _ = call.Bye(ctx)
		}
		return code
	}
	if code := place(); code != 503 {
		t.Errorf("with the configuration's entry (another name): got %d, want 503", code)
	}
	if err := tc.SetGateways([]sip.TLSGateway{{Host: "127.0.0.1", Name: "pstn-tls", CAFile: provider.File, ServerName: name}}); err != nil {
		t.Fatal(err)
	}
	if code := place(); code != 200 {
		t.Errorf("with the row: got %d, want 200", code)
	}
	if err := tc.SetGateways(nil); err != nil {
		t.Fatal(err)
	}
	if code := place(); code != 503 {
		t.Errorf("the row removed: got %d, want 503", code)
	}
}

// TestTLSRootCAReload: root_ca is read again by Reload: a gateway signed
// by a CA the bundle did not hold is refused, then reached once the
// bundle, replaced in place, holds it.
func TestTLSRootCAReload(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	newCA := siptest.NewCA(t, "New roots")
	gwCert := newCA.Issue("127.0.0.1", siptest.CertOptions{})
	roots := filepath.Join(t.TempDir(), "roots.pem")
	copyFile(t, p.ca.File, roots)
	cfg := p.tlsConfig()
	cfg.RootCAFile = roots
	tc := newTLS(t, cfg)
	px := tlsProxy(t, tc, []string{"udp", "tls"})
	gw := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithTLS(&tls.Config{Certificates: []tls.Certificate{gwCert.TLS}}), siptest.WithScript(siptest.Respond(200)))
	px.route("0577", target(t, gw.URI()))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(px.udp()))
	ctx := ctxT(t, 10*time.Second)
	place := func() int {
		call, err := caller.Invite(ctx, "sip:0577@voip.unisi.it")
		if err != nil {
			t.Fatal(err)
		}
		code := tlsFinal(ctx, call)
		if code == 200 {
			_, _ = call.Bye(ctx)
		}
		return code
	}
	if code := place(); code != 503 {
		t.Fatalf("before the reload: got %d, want 503", code)
	}
	copyFile(t, newCA.File, roots)
	if err := tc.Reload(); err != nil {
		t.Fatal(err)
	}
	if code := place(); code != 200 {
		t.Fatalf("after the reload: got %d, want 200", code)
	}
}

// TestTLSClientCAReload: client_ca is read again by Reload: after the
// bundle is replaced by another CA's, a phone with a certificate of the
// new CA is verified, a new connection with one of the old CA is
// refused, and the connection a phone of the old CA made before the
// reload carries its calls on.
func TestTLSClientCAReload(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	oldCA, newCA := siptest.NewCA(t, "Phones 2025"), siptest.NewCA(t, "Phones 2026")
	oldPhone := oldCA.Issue("phone-old", siptest.CertOptions{Client: true})
	oldPhone2 := oldCA.Issue("phone-old-2", siptest.CertOptions{Client: true})
	newPhone := newCA.Issue("phone-new", siptest.CertOptions{Client: true})
	bundle := filepath.Join(t.TempDir(), "phones-ca.pem")
	copyFile(t, oldCA.File, bundle)
	cfg := p.tlsConfig()
	cfg.ClientCAFile = bundle
	tc := newTLS(t, cfg)
	var peers peerLog
	px := tlsProxy(t, tc, []string{"udp", "tls"}, peers.stage, sip.RequirePeer(true))
	callee := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithScript(siptest.Respond(200)))
	px.route("5002", target(t, callee.URI()))
	addr := px.srv.Local().Addr("tls")
	ctx := ctxT(t, 20*time.Second)
	call := func(ua *siptest.UA, cert siptest.Cert) {
		t.Helper()
		c, err := ua.Invite(ctx, "sip:5002@voip.unisi.it")
		if err != nil {
			t.Fatal(err)
		}
		if code := tlsFinal(ctx, c); code != 200 {
			t.Fatalf("%s: got %d, want 200", cert.CertFile, code)
		}
		_, _ = c.Bye(ctx)
		if peer := peers.last(); peer == nil || !peer.Verified || peer.Fingerprint != fingerprint(t, cert) {
			t.Errorf("peer: got %+v, want the verified %s", peer, filepath.Base(cert.CertFile))
		}
	}
	old := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithTLS(p.clientConf("voip.unisi.it", oldPhone.TLS)), siptest.WithProxy(addr))
	call(old, oldPhone)
	if got := px.srv.Connections()["tls"]; got != 1 {
		t.Fatalf("TLS connections: got %d, want 1", got)
	}

	copyFile(t, newCA.File, bundle)
	if err := tc.Reload(); err != nil {
		t.Fatal(err)
	}
	phone := siptest.NewUA(t, siptest.WithUser("5003"), siptest.WithTLS(p.clientConf("voip.unisi.it", newPhone.TLS)), siptest.WithProxy(addr))
	call(phone, newPhone)

	// A new connection presenting the old CA's certificate: refused once
	// the server has it (with TLS 1.3, what the first read gets).
	conf := p.clientConf("voip.unisi.it")
	conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &oldPhone2.TLS, nil }
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, conf)
	if err == nil {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the old CA's certificate: the connection stayed open")
		}
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("the old CA's certificate: got %v, want it refused", err)
	}

	// A phone of the old CA that, as Go's client does, presents no
	// certificate the server's CA list does not name: unverified, its
	// calls are refused by RequirePeer.
	invs := callee.Received(sip.INVITE)
	stale := siptest.NewUA(t, siptest.WithUser("5004"), siptest.WithTLS(p.clientConf("voip.unisi.it", oldPhone2.TLS)), siptest.WithProxy(addr))
	sc, err := stale.Invite(ctx, "sip:5002@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if code := tlsFinal(ctx, sc); code != 403 {
		t.Errorf("a new phone of the old CA: got %d, want 403", code)
	}

	// The old phone's connection, made before the reload, carries on.
	call(old, oldPhone)
	if n := len(callee.Received(sip.INVITE)); n != len(invs)+1 {
		t.Errorf("the callee received %d INVITEs, want %d", n, len(invs)+1)
	}
	if got := px.srv.Connections()["tls"]; got != 3 {
		t.Errorf("TLS connections: got %d, want 3 (the old phone's kept, the new phone's, the stale one's)", got)
	}
}

// TestTLSGatewayValidate: the checks of a gateway entry name the key at
// fault.
func TestTLSGatewayValidate(t *testing.T) {
	tests := []struct {
		name string
		gw   sip.TLSGateway
		want string
	}{
		{"by IP with a name", sip.TLSGateway{Host: "192.0.2.10", ServerName: "sbc.provider.example"}, ""},
		{"by name", sip.TLSGateway{Host: "gw.unisi.it", Fingerprint: strings.Repeat("ab", 32)}, ""},
		{"no host", sip.TLSGateway{Name: "pstn", ServerName: "x.example"}, "sip: tls gateway pstn: host is required"},
		{"bad host", sip.TLSGateway{Host: "gw unisi"}, "host"},
		{"short pin", sip.TLSGateway{Host: "192.0.2.10", Name: "pstn", Fingerprint: "AB:CD:EF"}, "sip: tls gateway pstn: fingerprint \"AB:CD:EF\""},
		{"not hex", sip.TLSGateway{Host: "192.0.2.10", Fingerprint: strings.Repeat("zz", 32)}, "fingerprint"},
		{"name with a space", sip.TLSGateway{Host: "192.0.2.10", ServerName: "sbc provider"}, "server_name \"sbc provider\""},
		{"name an address", sip.TLSGateway{Host: "192.0.2.10", ServerName: "192.0.2.10"}, "server_name"},
		{"empty label", sip.TLSGateway{Host: "192.0.2.10", ServerName: "sbc..example"}, "server_name"},
		{"another name than the host's", sip.TLSGateway{Host: "gw.unisi.it", ServerName: "sbc.provider.example"}, "dialled by name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.gw.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if err := sip.CheckCAFile(filepath.Join(t.TempDir(), "none.pem")); err == nil || !strings.Contains(err.Error(), "none.pem") {
		t.Errorf("CheckCAFile of a missing file: got %v, want an error naming it", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Written to a temporary name and renamed, as a renewal tool does:
	// a reader sees the old file or the new one.
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

// TestTLSGatewaySilent: a gateway that accepts the connection and never
// answers the ClientHello fails the call with 503 once the dial's bound
// (10 s, 300 ms here) is over: the call does not hang.
func TestTLSGatewaySilent(t *testing.T) {
	leakCheck(t)
	// Restored once the proxy, cleaned up before, no longer dials.
	t.Cleanup(sip.SetTLSDialTimeout(300 * time.Millisecond))
	p := newPKI(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, write nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	px := tlsProxy(t, newTLS(t, p.tlsConfig()), []string{"udp", "tls"})
	px.route("0577", target(t, "sip:gw@"+l.Addr().String()+";transport=tls"))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(px.udp()))
	ctx := ctxT(t, 10*time.Second)
	start := time.Now()
	call, err := caller.Invite(ctx, "sip:0577@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if code := tlsFinal(ctx, call); code != 503 {
		t.Fatalf("got %d, want 503", code)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the call took %v, want about the dial's bound", took)
	}
	mu.Lock()
	n := len(held)
	mu.Unlock()
	if n != 1 {
		t.Errorf("the gateway was connected to %d times, want 1", n)
	}
}

// TestTLSGatewayOneConnection: calls placed at once to a TLS gateway at an
// IP address share the one connection the dialer makes.
func TestTLSGatewayOneConnection(t *testing.T) {
	leakCheck(t)
	p := newPKI(t)
	px := tlsProxy(t, newTLS(t, p.tlsConfig()), []string{"udp", "tls"})
	gw := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithTLS(&tls.Config{Certificates: []tls.Certificate{p.local.TLS}}), siptest.WithScript(siptest.Respond(200)))
	px.route("0577", target(t, gw.URI()))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(px.udp()))
	ctx := ctxT(t, 20*time.Second)
	const n = 8
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call, err := caller.Invite(ctx, "sip:0577@voip.unisi.it")
			if err != nil {
				codes <- 0
				return
			}
			code := tlsFinal(ctx, call)
			if code == 200 {
				_, _ = call.Bye(ctx)
			}
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 {
			t.Errorf("a call got %d, want 200", code)
		}
	}
	invs := gw.Received(sip.INVITE)
	if len(invs) != n {
		t.Fatalf("the gateway received %d INVITEs, want %d", len(invs), n)
	}
	for _, inv := range invs[1:] {
		if inv.Source() != invs[0].Source() {
			t.Errorf("INVITEs from %s and %s: want one connection", invs[0].Source(), inv.Source())
		}
	}
}
