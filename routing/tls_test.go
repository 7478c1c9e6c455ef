package routing_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// TestValidateGatewayTLS: the TLS columns are checked with the row, each
// error naming its column; the CA file is read by ValidateGatewayFiles.
func TestValidateGatewayTLS(t *testing.T) {
	dir := t.TempDir()
	ca := siptest.NewCA(t, "Provider CA")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	pin := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	tests := []struct {
		name      string
		address   string
		tls       routing.GatewayTLS
		want      string // of ValidateGateway
		wantFiles string // of ValidateGatewayFiles
	}{
		{"by IP, all set", "192.0.2.10:5061;transport=tls", routing.GatewayTLS{CAFile: ca.File, Fingerprint: pin, ServerName: "sbc.provider.example"}, "", ""},
		{"by name, its name", "sips:sbc.provider.example", routing.GatewayTLS{ServerName: "SBC.provider.example"}, "", ""},
		{"relative CA path", "192.0.2.10;transport=tls", routing.GatewayTLS{CAFile: "tls/ca.pem"}, `tls_ca "tls/ca.pem": want an absolute path`, `tls_ca "tls/ca.pem": open`},
		{"short fingerprint", "192.0.2.10;transport=tls", routing.GatewayTLS{Fingerprint: "AB:CD"}, `tls_fingerprint "AB:CD"`, ""},
		{"fingerprint not hex", "192.0.2.10;transport=tls", routing.GatewayTLS{Fingerprint: strings.Repeat("x", 64)}, "tls_fingerprint", ""},
		{"server name not a name", "192.0.2.10;transport=tls", routing.GatewayTLS{ServerName: "sbc/provider"}, `tls_server_name "sbc/provider"`, ""},
		{"server name an address", "192.0.2.10;transport=tls", routing.GatewayTLS{ServerName: "192.0.2.10"}, "tls_server_name", ""},
		{"by name, another name", "sips:gw.unisi.it", routing.GatewayTLS{ServerName: "sbc.provider.example"}, "tls_server_name \"sbc.provider.example\": the gateway is addressed by name", ""},
		{"CA file missing", "192.0.2.10;transport=tls", routing.GatewayTLS{CAFile: filepath.Join(dir, "missing.pem")}, "", `tls_ca "` + filepath.Join(dir, "missing.pem") + `"`},
		{"CA file without a certificate", "192.0.2.10;transport=tls", routing.GatewayTLS{CAFile: notPEM}, "", "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := routing.Gateway{GWID: "pstn-tls", Address: tt.address, TLS: tt.tls}
			err := routing.ValidateGateway(g)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("ValidateGateway: got %v, want %q", err, tt.want)
			}
			err = routing.ValidateGatewayFiles(g)
			if tt.wantFiles == "" && err != nil || tt.wantFiles != "" && (err == nil || !strings.Contains(err.Error(), tt.wantFiles)) {
				t.Fatalf("ValidateGatewayFiles: got %v, want %q", err, tt.wantFiles)
			}
		})
	}
}

// TestGatewayTLSProblems: a reload reports the TLS settings of a gateway
// not dialled over TLS (unused) and, with WithTLS, those the TLS could not
// load (a CA file missing); the rows still load.
func TestGatewayTLSProblems(t *testing.T) {
	tc, err := sip.NewTLS(sip.TLSConfig{}, sip.WithTLSLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	d := routing.Data{Gateways: []routing.Gateway{
		{ID: 1, GWID: "udp-gw", Address: "192.0.2.1", TLS: routing.GatewayTLS{ServerName: "gw.provider.example"}},
		{ID: 2, GWID: "tls-gw", Address: "192.0.2.2;transport=tls", TLS: routing.GatewayTLS{CAFile: missing}},
		{ID: 3, GWID: "good", Address: "sips:192.0.2.3", TLS: routing.GatewayTLS{ServerName: "sbc.provider.example"}},
	}}
	r, err := routing.New(routing.Config{}, routing.NewMemStore(d), routing.WithLogger(testLogger()), routing.WithTLS(tc))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := r.Reload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Gateways != 3 || rep.Discarded() != 0 {
		t.Errorf("loaded %d gateways, %d discarded; want 3, 0", rep.Gateways, rep.Discarded())
	}
	got := map[string]string{}
	for _, p := range rep.Problems {
		got[p.ID] = p.Reason
	}
	if !strings.Contains(got["udp-gw"], "not dialled over TLS") {
		t.Errorf("udp-gw: got %q, want its TLS settings reported unused", got["udp-gw"])
	}
	if !strings.Contains(got["tls-gw"], "tls: ca: open "+missing) {
		t.Errorf("tls-gw: got %q, want its CA file reported", got["tls-gw"])
	}
	if p, ok := got["good"]; ok {
		t.Errorf("good: got the problem %q", p)
	}
}

// TestGatewayTLSDial: a TLS gateway addressed by IP, whose certificate
// names it and comes from a CA of its own, is reached with its row's
// settings, and refused (503 at once, failing over to nothing) once the
// row names another server; SetGatewayTLS refuses settings that cannot
// work, naming the field, and leaves the row as it was.
func TestGatewayTLSDial(t *testing.T) {
	leakCheck(t)
	provider := siptest.NewCA(t, "Provider CA")
	const name = "sbc.provider.example"
	sbc := provider.Issue(name, siptest.CertOptions{})
	gw := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithTLS(&tls.Config{Certificates: []tls.Certificate{sbc.TLS}}),
		siptest.WithScript(siptest.Respond(200)))
	own := siptest.NewCA(t, "Proxy CA").Issue("proxy.unisi.it", siptest.CertOptions{})
	tc, err := sip.NewTLS(sip.TLSConfig{Certificates: []sip.TLSCertificate{{CertFile: own.CertFile, KeyFile: own.KeyFile}}},
		sip.WithTLSLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	d := pstnData(gw.Addr() + ";transport=tls")
	d.Gateways[0].TLS = routing.GatewayTLS{CAFile: provider.File, ServerName: name}
	store := routing.NewMemStore(d)
	r, err := routing.New(routing.Config{}, store, routing.WithLogger(testLogger()), routing.WithTLS(tc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	tp := siptest.NewProxy(t, siptest.ProxyConfig{Networks: []string{"udp", "tls"}, Server: sip.Config{TLS: tc}, Stages: []sip.Middleware{r.Wrap}})
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(tp.Server.Local().Addr("udp")))
	ctx := ctxT(t, 20*time.Second)
	place := func() int {
		call, err := caller.Invite(ctx, "sip:00577232111@"+tp.Server.Local().Addr("udp"))
		if err != nil {
			t.Fatal(err)
		}
		res, err := call.WaitFinal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == 200 {
			_, _ = call.Bye(ctx)
		}
		return res.StatusCode
	}
	if code := place(); code != 200 {
		t.Fatalf("with the row's CA and name: got %d, want 200", code)
	}

	for _, tt := range []struct {
		tls  routing.GatewayTLS
		want string
	}{
		{routing.GatewayTLS{CAFile: "ca.pem"}, "tls_ca"},
		{routing.GatewayTLS{CAFile: filepath.Join(t.TempDir(), "none.pem")}, "tls_ca"},
		{routing.GatewayTLS{Fingerprint: "12:34"}, "tls_fingerprint"},
		{routing.GatewayTLS{ServerName: "not a name"}, "tls_server_name"},
	} {
		err := r.SetGatewayTLS(ctx, "gw1", tt.tls)
		if err == nil || !strings.Contains(err.Error(), "routing: gateway gw1: "+tt.want) {
			t.Errorf("SetGatewayTLS(%+v): got %v, want an error about %s", tt.tls, err, tt.want)
		}
	}
	if err := r.SetGatewayTLS(ctx, "nope", routing.GatewayTLS{ServerName: name}); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("SetGatewayTLS of an unknown gateway: got %v, want ErrNotFound", err)
	}
	if got := r.Gateways()[0].TLS; got != d.Gateways[0].TLS {
		t.Errorf("after refused changes: got %+v, want %+v", got, d.Gateways[0].TLS)
	}

	// A new connection is checked against the row of the moment: the
	// gateway moves to a new address after its row names another server.
	gw2 := siptest.NewUA(t, siptest.WithUser("gw"), siptest.WithTLS(&tls.Config{Certificates: []tls.Certificate{sbc.TLS}}),
		siptest.WithScript(siptest.Respond(200)))
	other := routing.GatewayTLS{CAFile: provider.File, ServerName: "other.provider.example"}
	if err := r.SetGatewayTLS(ctx, "gw1", other); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Load(ctx); got.Gateways[0].TLS != other {
		t.Errorf("stored: got %+v, want %+v", got.Gateways[0].TLS, other)
	}
	if err := r.SetGatewayAddress(ctx, "gw1", gw2.Addr()+";transport=tls"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code := place(); code != 503 {
		t.Fatalf("with another server name: got %d, want 503", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the refusal took %v", took)
	}
	if n := len(gw2.Received(sip.INVITE)); n != 0 {
		t.Errorf("the gateway received %d INVITEs over a refused connection", n)
	}
	if err := r.SetGatewayTLS(ctx, "gw1", d.Gateways[0].TLS); err != nil {
		t.Fatal(err)
	}
	if code := place(); code != 200 {
		t.Fatalf("the row's name again: got %d, want 200", code)
	}
	if n := len(gw2.Received(sip.INVITE)); n != 1 {
		t.Errorf("the gateway received %d INVITEs, want 1", n)
	}
}
