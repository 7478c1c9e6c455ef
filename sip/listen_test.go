package sip_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
)

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "palio-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// TestListenersAllTransports serves UDP, TCP, TLS and WS at once and pings
// each with OPTIONS from a sipgo client over that transport.
func TestListenersAllTransports(t *testing.T) {
	leakCheck(t)
	cert, key := selfSigned(t, t.TempDir())
	srv, err := sip.NewServer(sip.Config{Listen: []sip.Listen{
		{Network: "udp", Addr: "127.0.0.1:0"},
		{Network: "tcp", Addr: "127.0.0.1:0"},
		{Network: "tls", Addr: "127.0.0.1:0", CertFile: cert, KeyFile: key},
		{Network: "ws", Addr: "127.0.0.1:0"},
	}}, sip.WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(&sip.ServeMux{Local: srv.Local()}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ua, _ := sipgo.NewUA(sipgo.WithUserAgenTLSConfig(&tls.Config{InsecureSkipVerify: true}),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sipmsg.WithTransactionLayerLogger(quiet)))
	defer ua.Close()
	cli, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(quiet))
	for _, network := range []string{"udp", "tcp", "tls", "ws"} {
		t.Run(network, func(t *testing.T) {
			addr := srv.Local().Addr(network)
			h, _, _ := net.SplitHostPort(addr)
			u := sip.URI{Scheme: "sip", Host: h, Port: mustPort(addr), UriParams: sipmsg.HeaderParams{{K: "transport", V: network}}}
			req := sipmsg.NewRequest(sip.OPTIONS, u)
			req.SetTransport(strings.ToUpper(network))
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			res, err := cli.Do(ctx, req)
			if err != nil {
				t.Fatalf("OPTIONS over %s: %v", network, err)
			}
			if res.StatusCode != 200 || res.GetHeader("Allow") == nil {
				t.Fatalf("OPTIONS over %s: got %d, want 200 with Allow", network, res.StatusCode)
			}
		})
	}
}

func TestListenErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  sip.Config
		want string
	}{
		{"no listeners", sip.Config{}, "no listeners"},
		{"unknown network", sip.Config{Listen: []sip.Listen{{Network: "sctp", Addr: "127.0.0.1:0"}}}, "unknown listener network"},
		{"missing certificate", sip.Config{Listen: []sip.Listen{{Network: "tls", Addr: "127.0.0.1:0", CertFile: "/nonexistent.pem", KeyFile: "/nonexistent.key"}}}, "certificate"},
		{"wildcard needs advertise", sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "0.0.0.0:0"}}}, "advertised address"},
		{"bad address", sip.Config{Listen: []sip.Listen{{Network: "udp", Addr: "127.0.0.1:99999"}}}, "listen udp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := sip.NewServer(tt.cfg, sip.WithLogger(testLogger()))
			if err == nil {
				srv.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
