package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// tlsExample is an example node with a [tls] section: the CA, the
// certificate of voip.unisi.it (also valid for 127.0.0.1, for clients
// that send no SNI) and one that expires in 10 days.
type tlsExample struct {
	*example
	ca      *siptest.CA
	tlsAddr string
	conf    *tls.Config // a phone's: the CA, SNI voip.unisi.it
}

func newTLSExample(t *testing.T, extra string) *tlsExample {
	t.Helper()
	ca := siptest.NewCA(t, "UniSI test CA")
	cert := ca.Issue("voip.unisi.it", siptest.CertOptions{DNSNames: []string{"voip.unisi.it"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	soon := ca.Issue("soon.unisi.it", siptest.CertOptions{NotAfter: time.Now().Add(10 * 24 * time.Hour)})
	tlsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	cfg := fmt.Sprintf(`[tls]
listen = %q
certificate = [
  { name = "unisi", cert = %q, key = %q },
  { name = "soon", cert = %q, key = %q },
]
%s`, tlsAddr, cert.CertFile, cert.KeyFile, soon.CertFile, soon.KeyFile, extra)
	e := newExample(t, cfg)
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	return &tlsExample{example: e, ca: ca, tlsAddr: tlsAddr,
		conf: &tls.Config{RootCAs: ca.Pool, ServerName: "voip.unisi.it", MinVersion: tls.VersionTLS12}}
}

// TestUniSITLS: through the example with a [tls] section, a phone
// registered over TLS calls a phone on UDP and is called back over the
// flow it registered on; `tls status` lists the certificates and the
// connection, the expiry gauge is exported, and the certificate that
// expires within 30 days is logged as a warning.
func TestUniSITLS(t *testing.T) {
	e := newTLSExample(t, "watch = \"20ms\"\n")
	e.start()
	ctx := ctxT(t, 20*time.Second)

	tlsPhone := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithTLS(e.conf), siptest.WithProxy(e.tlsAddr), siptest.WithCredentials("5001", "unisi5001"))
	res, err := tlsPhone.Register(ctx, e.tlsAddr, "sip:5001@voip.unisi.it", "unisi5001", 3600)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER over TLS: %v %v\n%s", res, err, e.stderr.String())
	}
	udpPhone := e.phone("5002")

	call, err := tlsPhone.Invite(ctx, "sip:5002@voip.unisi.it")
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("TLS → UDP: got %d, want 200\n%s", code, e.stderr.String())
	}
	if _, err := call.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	back, err := udpPhone.Invite(ctx, "sip:5001@voip.unisi.it")
	if code := finalCode(t, back, err); code != 200 {
		t.Fatalf("UDP → TLS: got %d, want 200\n%s", code, e.stderr.String())
	}
	if _, err := back.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	inv, err := tlsPhone.WaitRequest(ctx, sip.INVITE, 1)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Transport() != "TLS" {
		t.Errorf("the call reached the TLS phone over %s", inv.Transport())
	}

	out := e.cli(0, "-http", e.http, "tls", "status")
	for _, want := range []string{"\nunisi ", "\nsoon ", "voip.unisi.it", "(renew)", "connections\ttcp=0 tls=1 ws=0 wss=0"} {
		if !strings.Contains(out, want) {
			t.Errorf("tls status: no %q in\n%s", want, out)
		}
	}
	m := e.metrics()
	if !strings.Contains(m, `palio_sip_tls_certificate_expiry_days{name="unisi"} 36`) {
		t.Errorf("no expiry gauge for unisi (365 days) in /metrics:\n%s", grepLines(m, "palio_sip_tls"))
	}
	if !strings.Contains(e.stderr.String(), `msg="sip: tls certificate expires soon" certificate=soon`) {
		t.Errorf("no expiry warning for soon:\n%s", tail(e.stderr.String(), 20))
	}

	// The certificate renewed in place is picked up ([tls] watch), and
	// the phone's connection carries on: it calls again over it.
	var before TLSStatus
	e.apiGet(t, "/api/tls", &before)
	renewed := e.ca.Issue("voip.unisi.it", siptest.CertOptions{DNSNames: []string{"voip.unisi.it"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	want := sip.Fingerprint(renewed.TLS.Certificate[0])
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st TLSStatus
		e.apiGet(t, "/api/tls", &st)
		if st.Certificates[0].Fingerprint == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("renewed certificate not loaded: %s, want %s (was %s)", st.Certificates[0].Fingerprint, want, before.Certificates[0].Fingerprint)
		}
		time.Sleep(10 * time.Millisecond)
	}
	again, err := tlsPhone.Invite(ctx, "sip:5002@voip.unisi.it")
	if code := finalCode(t, again, err); code != 200 {
		t.Fatalf("after the renewal: got %d, want 200", code)
	}
	_, _ = again.Bye(ctx)
	var after TLSStatus
	e.apiGet(t, "/api/tls", &after)
	if after.Connections["tls"] != 1 {
		t.Errorf("TLS connections after the renewal: got %d, want the phone's one", after.Connections["tls"])
	}
	if invs := udpPhone.Received(sip.INVITE); len(invs) != 2 {
		t.Errorf("the UDP phone received %d INVITEs, want 2", len(invs))
	}
	if !strings.Contains(e.stderr.String(), "sip: tls certificates reloaded") {
		t.Error("no reload logged")
	}
}

// TestUniSITLSSIGHUP runs the example's binary with [tls] watch off: a
// certificate renewed in place is not picked up until SIGHUP, after
// which `tls status` shows the new fingerprint; the TLS phone's
// connection, made with the old certificate, carries on (a call after the
// reload goes over it, with no new handshake), and a new connection gets
// the new certificate. Then a certificate for a new domain added to the
// file is served after the next SIGHUP, without a restart.
func TestUniSITLSSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin, err := buildUnisi(t)
	if err != nil {
		t.Fatal(err)
	}
	e := newTLSExample(t, "watch = \"0s\"\n")
	ctx := ctxT(t, 60*time.Second)
	var stderr syncBuffer
	cmd := exec.Command(bin, e.globals()...)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	pinger := siptest.NewUA(t, siptest.WithUser("ping"))
	for i := 0; ; i++ {
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		res, err := pinger.Options(pctx, "sip:"+e.addr)
		cancel()
		if err == nil && res.StatusCode == 200 {
			break
		}
		if i > 300 {
			t.Fatalf("the server does not answer:\n%s", stderr.String())
		}
	}

	// The phone notes the certificate of every handshake it makes.
	var mu sync.Mutex
	var seen []string
	conf := e.conf.Clone()
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		mu.Lock()
		seen = append(seen, sip.Fingerprint(cs.PeerCertificates[0].Raw))
		mu.Unlock()
		return nil
	}
	tlsPhone := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithTLS(conf), siptest.WithProxy(e.tlsAddr), siptest.WithCredentials("5001", "unisi5001"))
	if res, err := tlsPhone.Register(ctx, e.tlsAddr, "sip:5001@voip.unisi.it", "unisi5001", 3600); err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER over TLS: %v %v\n%s", res, err, stderr.String())
	}
	e.phone("5002")
	call := func(what string) {
		t.Helper()
		c, err := tlsPhone.Invite(ctx, "sip:5002@voip.unisi.it")
		if code := finalCode(t, c, err); code != 200 {
			t.Fatalf("%s: got %d, want 200\n%s", what, code, tail(stderr.String(), 20))
		}
		if res, err := c.Bye(ctx); err != nil || res.StatusCode != 200 {
			t.Fatalf("%s: BYE: %v %v", what, res, err)
		}
	}
	call("before the reload")
	mu.Lock()
	if len(seen) != 1 {
		t.Fatalf("the phone made %d handshakes, want 1", len(seen))
	}
	old := seen[0]
	mu.Unlock()
	status := func() string { return e.cli(0, "-http", e.http, "tls", "status") }
	if out := status(); !strings.Contains(out, old) {
		t.Fatalf("tls status does not show the certificate in use (%s):\n%s", old, out)
	}

	renewed := e.ca.Issue("voip.unisi.it", siptest.CertOptions{DNSNames: []string{"voip.unisi.it"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	want := sip.Fingerprint(renewed.TLS.Certificate[0])
	time.Sleep(300 * time.Millisecond)
	if out := status(); strings.Contains(out, want) || !strings.Contains(out, old) {
		t.Fatalf("with watch off the renewed certificate was loaded before SIGHUP:\n%s", out)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var out string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if out = status(); strings.Contains(out, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP tls status does not show %s:\n%s\n%s", want, out, tail(stderr.String(), 20))
		}
	}
	if strings.Contains(out, old) {
		t.Errorf("tls status still shows the old certificate after SIGHUP:\n%s", out)
	}

	call("after the reload")
	mu.Lock()
	if len(seen) != 1 {
		t.Errorf("the phone made %d handshakes (%v), want its first one only: the connection did not carry on", len(seen), seen)
	}
	mu.Unlock()
	if out := status(); !strings.Contains(out, "connections\ttcp=0 tls=1 ") {
		t.Errorf("tls status after the reload: want the phone's one TLS connection\n%s", out)
	}
	c, err := tls.Dial("tcp", e.tlsAddr, e.conf)
	if err != nil {
		t.Fatal(err)
	}
	got := sip.Fingerprint(c.ConnectionState().PeerCertificates[0].Raw)
	c.Close()
	if got != want {
		t.Errorf("a new connection after SIGHUP got certificate %s, want the renewed %s", got, want)
	}
	if !strings.Contains(stderr.String(), "sip: tls certificates reloaded") {
		t.Errorf("no reload logged:\n%s", tail(stderr.String(), 20))
	}

	// A certificate for a new domain added to the file is served after
	// the next SIGHUP, without a restart.
	extra := e.ca.Issue("sip.newdomain.it", siptest.CertOptions{})
	b, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgText := string(b)
	i := strings.Index(cfgText, `{ name = "soon"`)
	j := strings.Index(cfgText[i:], "\n]")
	if i < 0 || j < 0 {
		t.Fatalf("no certificate list in\n%s", cfgText)
	}
	cfgText = cfgText[:i+j] + fmt.Sprintf("\n  { name = \"newdomain\", cert = %q, key = %q },", extra.CertFile, extra.KeyFile) + cfgText[i+j:]
	if err := os.WriteFile(e.cfg, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	newDomain := e.conf.Clone()
	newDomain.ServerName = "sip.newdomain.it"
	if c, err := tls.Dial("tcp", e.tlsAddr, newDomain); err == nil {
		c.Close()
		t.Fatal("a name no certificate serves was accepted before the reload")
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if out = status(); strings.Contains(out, "\nnewdomain ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP tls status does not list newdomain:\n%s\n%s", out, tail(stderr.String(), 20))
		}
	}
	c, err = tls.Dial("tcp", e.tlsAddr, newDomain)
	if err != nil {
		t.Fatalf("the new domain after the reload: %v", err)
	}
	got = sip.Fingerprint(c.ConnectionState().PeerCertificates[0].Raw)
	c.Close()
	if want := sip.Fingerprint(extra.TLS.Certificate[0]); got != want {
		t.Errorf("the new domain got certificate %s, want %s", got, want)
	}
	if !strings.Contains(stderr.String(), `msg="unisi: configuration applied" keys=tls.certificate`) {
		t.Errorf("no configuration applied logged:\n%s", tail(stderr.String(), 20))
	}
	call("after the new domain")
}

// TestReloadConfigTLS: which [tls] changes a reload applies to the
// running TLS (certificates, trunks, CAs, gateways) and which need a
// restart (the listeners, certificates where there were none); a
// certificate that does not load keeps the TLS in use.
func TestReloadConfigTLS(t *testing.T) {
	ca := siptest.NewCA(t, "UniSI test CA")
	unisi := ca.Issue("voip.unisi.it", siptest.CertOptions{})
	extra := ca.Issue("sip.newdomain.it", siptest.CertOptions{})
	gone := ca.Issue("gone.unisi.it", siptest.CertOptions{})
	if err := os.Remove(gone.KeyFile); err != nil {
		t.Fatal(err)
	}
	base := defaultConfig()
	base.TLS.Certificates = []sip.TLSCertificate{{Name: "unisi", CertFile: unisi.CertFile, KeyFile: unisi.KeyFile}}
	tests := []struct {
		name             string
		cur              Config
		edit             func(c *Config)
		applied, restart string
		err              string
		certificates     int // in the running TLS afterwards
	}{
		{"a new domain and a gateway", base, func(c *Config) {
			c.TLS.Certificates = append(c.TLS.Certificates, sip.TLSCertificate{Name: "newdomain", CertFile: extra.CertFile, KeyFile: extra.KeyFile})
			c.TLS.Gateways = []sip.TLSGateway{{Host: "198.51.100.20", CAFile: ca.File, ServerName: "sbc.provider.example"}}
		}, "tls.certificate tls.gateway", "", "", 2},
		{"a trunk pin and the client CA", base, func(c *Config) {
			c.TLS.ClientCA = ca.File
			c.TLS.Trunks = []sip.TLSTrunk{{Name: "pstn", Sources: []string{"192.0.2.1"}, Fingerprints: []string{sip.Fingerprint(extra.TLS.Certificate[0])}}}
		}, "tls.client_ca tls.trunk", "", "", 1},
		{"the listener and the log level", base, func(c *Config) {
			c.TLS.Listen = "127.0.0.1:5071"
			c.Log.Level = "debug"
		}, "log.level", "tls.listen", "", 1},
		{"certificates where there were none", defaultConfig(), func(c *Config) {
			c.TLS.Certificates = base.TLS.Certificates
		}, "", "tls.certificate", "", 0},
		{"a key file gone since the check", base, func(c *Config) {
			c.TLS.Certificates = append(c.TLS.Certificates, sip.TLSCertificate{Name: "gone", CertFile: gone.CertFile, KeyFile: gone.KeyFile})
		}, "", "", "tls.certificate", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := sip.NewTLS(tt.cur.TLS.library(), sip.WithTLSLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				t.Fatal(err)
			}
			next := tt.cur
			next.TLS.Certificates = slices.Clone(tt.cur.TLS.Certificates)
			tt.edit(&next)
			var lv slog.LevelVar
			running, applied, restart, err := reloadConfig(tt.cur, next, &lv, tc)
			if got := strings.Join(applied, " "); got != tt.applied {
				t.Errorf("applied: got %q, want %q", got, tt.applied)
			}
			if got := strings.Join(restart, " "); got != tt.restart {
				t.Errorf("restart: got %q, want %q", got, tt.restart)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("got %v, want an error about %s", err, tt.err)
			}
			if got := len(tc.Status()); got != tt.certificates {
				t.Errorf("certificates loaded: got %d, want %d", got, tt.certificates)
			}
			// The running configuration is what runs: nothing left to apply
			// but what needs a restart, or what failed.
			left := configDiff(running, next)
			if want := len(restart) + map[bool]int{true: 1}[err != nil]; len(left) != want {
				t.Errorf("running differs from the file in %v, want only %v (and what failed)", left, restart)
			}
		})
	}
}

// TestTLSStatusOffline: without a running server, `tls status` reads the
// certificate files of the configuration and says the server does not
// answer.
func TestTLSStatusOffline(t *testing.T) {
	e := newTLSExample(t, "")
	var out, errb strings.Builder
	code := run(t.Context(), append(e.globals(), "tls", "status"), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "\nunisi ") || strings.Contains(out.String(), "connections") {
		t.Errorf("offline tls status:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "does not answer") {
		t.Errorf("no warning that the server does not answer: %s", errb.String())
	}
}

// TestTLSConfig: [tls]'s defaults and checks, which are the library's.
func TestTLSConfig(t *testing.T) {
	ca := siptest.NewCA(t, "UniSI test CA")
	cert := ca.Issue("voip.unisi.it", siptest.CertOptions{})
	if got := (TLSSection{}).listen("127.0.0.1:5060"); got != "" {
		t.Errorf("listen without a certificate: got %q, want none", got)
	}
	s := TLSSection{Certificates: []sip.TLSCertificate{{CertFile: cert.CertFile, KeyFile: cert.KeyFile}}}
	if got := s.listen("0.0.0.0:5060"); got != "0.0.0.0:5061" {
		t.Errorf("listen with a certificate: got %q, want 0.0.0.0:5061", got)
	}
	dir := t.TempDir()
	tests := []struct {
		name, config, want string
	}{
		{"ok", fmt.Sprintf("[tls]\ncertificate = [{ cert = %q, key = %q }]\n", cert.CertFile, cert.KeyFile), ""},
		{"missing key file", fmt.Sprintf("[tls]\ncertificate = [{ cert = %q, key = %q }]\n", cert.CertFile, filepath.Join(dir, "none.key")), "none.key"},
		{"a key that is not one", fmt.Sprintf("[tls]\ncertificate = [{ cert = %q, key = %q }]\n", cert.CertFile, cert.CertFile), "certificate"},
		{"listen without a certificate", "[tls]\nlisten = \"127.0.0.1:5061\"\n", "need a [[tls.certificate]]"},
		{"trunk without a CA", fmt.Sprintf("[tls]\ncertificate = [{ cert = %q, key = %q }]\ntrunk = [{ name = \"gw\", sources = [\"192.0.2.1\"] }]\n", cert.CertFile, cert.KeyFile), "trunk gw"},
		{"bad fingerprint", fmt.Sprintf("[tls]\ncertificate = [{ cert = %q, key = %q }]\ntrunk = [{ name = \"gw\", sources = [\"192.0.2.1\"], fingerprints = [\"xx\"] }]\n", cert.CertFile, cert.KeyFile), "fingerprint"},
		{"unknown key", "[tls]\ncertificates = []\n", "unknown keys"},
		{"gateway by IP with its server name", fmt.Sprintf("[tls]\ngateway = [{ host = \"198.51.100.20\", ca = %q, server_name = \"sbc.provider.example\" }]\n", ca.File), ""},
		{"gateway by name, another server name", "[tls]\ngateway = [{ host = \"gw.provider.example\", server_name = \"sbc.provider.example\" }]\n", "server_name"},
		{"gateway CA missing", fmt.Sprintf("[tls]\ngateway = [{ host = \"198.51.100.20\", ca = %q }]\n", filepath.Join(dir, "none.pem")), "none.pem"},
		{"both sections", fmt.Sprintf("[sip.tls]\nlisten = \"127.0.0.1:5061\"\ncert = %q\nkey = %q\n[tls]\ncertificate = [{ cert = %q, key = %q }]\n", cert.CertFile, cert.KeyFile, cert.CertFile, cert.KeyFile), "both set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".toml")
			if err := os.WriteFile(f, []byte(tt.config), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(f)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error about %q", err, tt.want)
			}
		})
	}
}

// sippTLS reports whether the installed SIPp was built with TLS.
func sippTLS(t *testing.T) bool {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		return false
	}
	out, _ := exec.Command("sipp", "-v").CombinedOutput()
	return strings.Contains(string(out), "TLS")
}

// TestSIPpTLS runs SIPp's bench UAC over TLS (-t l1, a certificate of the
// test CA) through the example to SIPp's UAS on UDP: 50 calls, all must
// succeed. It needs a SIPp built with OpenSSL (-TLS in sipp -v); Debian's
// sip-tester is not.
func TestSIPpTLS(t *testing.T) {
	if !sippTLS(t) {
		t.Skip("sipp with TLS not installed (sipp -v must list TLS; Debian's sip-tester is built without it)")
	}
	e := newTLSExample(t, "[log]\nlevel = \"warn\"\n")
	uasPort := freePort(t, "udp")
	e.cli(0, "address", "add", "1", "127.0.0.1/32", "-tag", "bench")
	e.cli(0, "location", "add", "5002", "sip:5002@127.0.0.1:"+strconv.Itoa(uasPort))
	e.start()

	dir := t.TempDir()
	// SIPp presents cacert.pem/cakey.pem of its working directory.
	client := e.ca.Issue("sipp", siptest.CertOptions{Client: true})
	for src, dst := range map[string]string{client.CertFile: "cacert.pem", client.KeyFile: "cakey.pem"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, uasOut := startSIPp(t, dir, "uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")), "-timeout", "60s", "-m", "50")
	out, err := runSIPp(dir, "uac.xml", "-s", "5002", "-t", "l1", "-i", "127.0.0.1",
		"-p", strconv.Itoa(freePort(t, "tcp")), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-r", "25", "-m", "50", "-l", "100", "-timeout", "60s", "-recv_timeout", "10000",
		"-trace_stat", "-stf", "uac_stat.csv", e.tlsAddr)
	stat, _ := os.ReadFile(filepath.Join(dir, "uac_stat.csv"))
	succ, fail := statColumn(string(stat), "SuccessfulCall(C)"), statColumn(string(stat), "FailedCall(C)")
	if err != nil || succ != "50" || fail != "0" {
		t.Fatalf("sipp over TLS: %v, successful=%s failed=%s\n%s\nUAS:\n%s\nserver:\n%s", err, succ, fail, tail(string(out), 40), tail(uasOut.String(), 20), tail(e.stderr.String(), 30))
	}
}

// TestUniSIWSS: a browser phone registers over WSS with digest through the
// example's registrar, and a UDP phone's call reaches it over the
// connection it registered on; it calls the UDP phone, answering the
// challenge, twice (hung up from each side in turn); a page of another
// origin cannot open one.
func TestUniSIWSS(t *testing.T) {
	wss := "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	e := newTLSExample(t, fmt.Sprintf("wss = %q\norigins = [\"https://phone.unisi.it\"]\n", wss))
	e.start()
	ctx := ctxT(t, 20*time.Second)

	if c, err := siptest.DialWS(ctx, "wss://"+wss, "https://evil.example.com", e.conf); err == nil {
		c.Close()
		t.Fatal("a WebSocket from another origin was accepted")
	}
	phone, err := siptest.NewWSPhone(ctx, "wss://"+wss, "5003", "https://phone.unisi.it", e.conf)
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	res, err := phone.Register(ctx, "sip:5003@voip.unisi.it", "unisi5003")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER over WSS: %v %v\n%s", res, err, e.stderr.String())
	}
	udpPhone := e.phone("5002")
	call, err := udpPhone.Invite(ctx, "sip:5003@voip.unisi.it")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phone.Answer(ctx, sip.INVITE, 200); err != nil {
		t.Fatalf("INVITE over WSS: %v\n%s", err, e.stderr.String())
	}
	if code := finalCode(t, call, nil); code != 200 {
		t.Fatalf("UDP → WSS: got %d, want 200", code)
	}
	if _, err := phone.Answer(ctx, sip.ACK, 0); err != nil {
		t.Fatal(err)
	}
	bye := make(chan error, 1)
	go func() { _, err := call.Bye(ctx); bye <- err }()
	if _, err := phone.Answer(ctx, sip.BYE, 200); err != nil {
		t.Fatal(err)
	}
	if err := <-bye; err != nil {
		t.Fatalf("BYE: %v", err)
	}

	// The browser phone calls the UDP phone, answering the router's
	// challenge with digest: the first call hung up by the browser, the
	// second by the UDP phone, whose BYE reaches the browser over its
	// WSS connection.
	for i, hangup := range []string{"wss", "udp"} {
		out, err := phone.Invite(ctx, "sip:5002@voip.unisi.it", "unisi5003")
		if err != nil {
			t.Fatalf("WSS → UDP call %d: %v\n%s", i+1, err, tail(e.stderr.String(), 20))
		}
		if out.Challenged == nil || out.Final.StatusCode != 200 {
			t.Fatalf("WSS → UDP call %d: challenged %v, final %d; want a challenge, then 200\n%s", i+1, out.Challenged, out.Final.StatusCode, tail(e.stderr.String(), 20))
		}
		in, err := udpPhone.WaitIncoming(ctx, i+1)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.WaitAck(ctx); err != nil {
			t.Fatalf("call %d: the UDP phone got no ACK: %v", i+1, err)
		}
		if _, err := out.HangUp(ctx, in, hangup == "wss"); err != nil {
			t.Fatalf("call %d, hung up from the %s phone: %v", i+1, hangup, err)
		}
	}
	var st TLSStatus
	e.apiGet(t, "/api/tls", &st)
	if st.Connections["wss"] != 1 {
		t.Errorf("WSS connections after the calls: got %d, want the phone's one", st.Connections["wss"])
	}
}

// TestUniSITLSTrunk: with [tls] require_verified_groups, the calls of a
// trusted gateway group must come over TLS with the trunk's verified
// certificate: the same source over UDP gets 403, the trunk over TLS with
// its certificate is routed.
func TestUniSITLSTrunk(t *testing.T) {
	trunkCA := siptest.NewCA(t, "PSTN trunk CA")
	e := newTLSExample(t, fmt.Sprintf("trunk = [{ name = \"pstn\", sources = [\"127.0.0.0/8\"], ca = %q }]\nrequire_verified_groups = [1]\n", trunkCA.File))
	e.cli(0, "address", "add", "1", "127.0.0.1/32", "-tag", "pstn-trunk")
	e.start()
	ctx := ctxT(t, 20*time.Second)
	e.phone("5002")

	udpGW := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithProxy(e.addr))
	call, err := udpGW.Invite(ctx, "sip:5002@voip.unisi.it")
	if code := finalCode(t, call, err); code != 403 {
		t.Fatalf("the trunk's group over UDP: got %d, want 403\n%s", code, tail(e.stderr.String(), 10))
	}
	cert := trunkCA.Issue("pstn-gw", siptest.CertOptions{Client: true})
	conf := e.conf.Clone()
	conf.Certificates = []tls.Certificate{cert.TLS}
	tlsGW := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithTLS(conf), siptest.WithProxy(e.tlsAddr))
	call, err = tlsGW.Invite(ctx, "sip:5002@voip.unisi.it")
	if code := finalCode(t, call, err); code != 200 {
		t.Fatalf("the trunk over TLS with its certificate: got %d, want 200\n%s", code, tail(e.stderr.String(), 10))
	}
	if _, err := call.Bye(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSIPpTLSBridge is the SIPp run over TLS with the SIPp Debian ships
// (built without TLS): SIPp's bench UAC speaks TCP to socat, which carries
// each connection over TLS to the example's TLS listener, verifying its
// certificate against the test CA and presenting a client certificate;
// the example forwards to SIPp's UAS over UDP. 50 calls, all must
// succeed.
func TestSIPpTLSBridge(t *testing.T) {
	for _, tool := range []string{"sipp", "socat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed (apt-get install sip-tester socat)")
		}
	}
	e := newTLSExample(t, "[log]\nlevel = \"warn\"\n")
	uasPort := freePort(t, "udp")
	e.cli(0, "address", "add", "1", "127.0.0.1/32", "-tag", "bench")
	e.cli(0, "location", "add", "5002", "sip:5002@127.0.0.1:"+strconv.Itoa(uasPort))
	e.start()

	client := e.ca.Issue("sipp", siptest.CertOptions{Client: true})
	bridge := "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	_, bport, _ := net.SplitHostPort(bridge)
	socat := exec.Command("socat", "TCP-LISTEN:"+bport+",bind=127.0.0.1,reuseaddr,fork",
		"OPENSSL:"+e.tlsAddr+",cafile="+e.ca.File+",cert="+client.CertFile+",key="+client.KeyFile+",verify=1")
	socatOut := &syncBuffer{}
	socat.Stdout, socat.Stderr = socatOut, socatOut
	if err := socat.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		socat.Process.Kill()
		socat.Wait()
	}()
	// socat listens once it has started; wait for its port.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", bridge, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("socat not listening on %s: %v\n%s", bridge, err, socatOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	dir := t.TempDir()
	_, uasOut := startSIPp(t, dir, "uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")), "-timeout", "60s", "-m", "50")
	out, err := runSIPp(dir, "uac.xml", "-s", "5002", "-t", "t1", "-i", "127.0.0.1",
		"-p", strconv.Itoa(freePort(t, "tcp")), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-r", "25", "-m", "50", "-l", "100", "-timeout", "60s", "-recv_timeout", "10000",
		"-trace_stat", "-stf", "uac_stat.csv", bridge)
	stat, _ := os.ReadFile(filepath.Join(dir, "uac_stat.csv"))
	succ, fail := statColumn(string(stat), "SuccessfulCall(C)"), statColumn(string(stat), "FailedCall(C)")
	if err != nil || succ != "50" || fail != "0" {
		t.Fatalf("sipp over TLS (socat): %v, successful=%s failed=%s\n%s\nUAS:\n%s\nsocat:\n%s\nserver:\n%s", err, succ, fail,
			tail(string(out), 40), tail(uasOut.String(), 20), tail(socatOut.String(), 20), tail(e.stderr.String(), 30))
	}
	if m := e.metrics(); !strings.Contains(m, `palio_sip_requests_total{method="INVITE"} 50`) {
		t.Errorf("the server counted other than 50 INVITEs:\n%s", grepLines(m, "palio_sip_requests_total"))
	}
}

// TestUniSIGatewayTLS: Arezzo's PRI is reached over TLS at an IP address,
// with a certificate that names it (no IP address in it) from its
// provider's CA. `gateway set-tls` gives its row the CA and the server
// name, refusing settings that cannot work with the field named; the
// running server dials it with the row's settings: refused (503) while
// the row names another server, answered once it names the right one.
func TestUniSIGatewayTLS(t *testing.T) {
	provider := siptest.NewCA(t, "Provider CA")
	const name = "sbc.provider.example"
	sbc := provider.Issue(name, siptest.CertOptions{})
	gw := siptest.NewUA(t, siptest.WithUser("gw-arezzo"), siptest.WithTLS(&tls.Config{Certificates: []tls.Certificate{sbc.TLS}}),
		siptest.WithScript(siptest.Respond(200)))
	// The [tls] section's certificate gives the server its TLS listener,
	// which the Forwarder needs to send over TLS.
	e := newTLSExample(t, "[routing]\nprobe_interval = \"0s\"\n[store]\npoll = \"100ms\"\n")
	e.cli(0, "gateway", "set-address", "gw-arezzo", gw.Addr()+";transport=tls")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-ca", "provider.pem"}, `tls_ca "provider.pem": want an absolute path`},
		{[]string{"-ca", missing}, `tls_ca "` + missing + `"`},
		{[]string{"-fingerprint", "AB:CD"}, `tls_fingerprint "AB:CD"`},
		{[]string{"-server-name", "sbc provider"}, `tls_server_name "sbc provider"`},
	} {
		if out := e.cliErr(1, append([]string{"gateway", "set-tls", "gw-arezzo"}, tt.args...)...); !strings.Contains(out, tt.want) {
			t.Errorf("set-tls %v: got %q, want an error about %q", tt.args, out, tt.want)
		}
	}
	e.cliErr(2, "gateway", "set-tls", "gw-arezzo")
	e.cliErr(2, "gateway", "set-tls", "gw-arezzo", "-clear", "-server-name", name)
	if out := e.cli(0, "gateway", "set-tls", "gw-arezzo", "-ca", provider.File, "-server-name", "other.provider.example"); !strings.HasPrefix(out, "tls gw-arezzo ca="+provider.File) {
		t.Errorf("set-tls: got %q", out)
	}
	e.start()
	caller := e.phone("5002")
	ctx := ctxT(t, 30*time.Second)
	call, err := caller.Invite(ctx, "sip:00575123456@"+e.addr)
	if code := finalCode(t, call, err); code != 503 {
		t.Fatalf("the row naming another server: got %d, want 503", code)
	}
	if n := len(gw.Received("INVITE")); n != 0 {
		t.Fatalf("the gateway received %d INVITEs over a refused connection", n)
	}
	e.cli(0, "gateway", "set-tls", "gw-arezzo", "-ca", provider.File, "-server-name", name)
	show := map[string]string{}
	for _, line := range strings.Split(e.cli(0, "gateway", "show", "gw-arezzo"), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			show[f[0]] = f[1]
		}
	}
	if show["tls_server_name"] != name || show["tls_ca"] != provider.File || show["tls_fingerprint"] != "-" {
		t.Errorf("gateway show: got tls_ca %q, tls_fingerprint %q, tls_server_name %q; want %s, -, %s",
			show["tls_ca"], show["tls_fingerprint"], show["tls_server_name"], provider.File, name)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		call, err := caller.Invite(ctx, "sip:00575123456@"+e.addr)
		code := finalCode(t, call, err)
		if code == 200 {
			call.Bye(ctx)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after set-tls with the right name: got %d, want 200\n%s", code, tail(e.stderr.String(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := gw.Received("INVITE"); len(got) != 1 || got[0].Recipient.User != "0575123456" {
		t.Errorf("the gateway got %v, want one INVITE for 0575123456", got)
	}
}
