package siptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority for tests: it issues server and client
// certificates (ECDSA P-256) into files under a temporary directory.
type CA struct {
	t    testing.TB
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// File is the CA certificate's PEM file.
	File string
	// Pool holds the CA certificate.
	Pool *x509.CertPool
}

// Cert is one certificate issued by a CA.
type Cert struct {
	// CertFile and KeyFile are its PEM files.
	CertFile, KeyFile string
	// TLS is the certificate for a tls.Config.
	TLS tls.Certificate
}

// CertOptions says what a certificate is for.
type CertOptions struct {
	// DNSNames and IPs are its subject alternative names.
	DNSNames []string
	IPs      []net.IP
	// Client makes a client certificate (ExtKeyUsageClientAuth) instead of
	// a server one.
	Client bool
	// NotBefore and NotAfter default to an hour ago and a year ahead.
	NotBefore, NotAfter time.Time
}

var serial atomic.Int64

// NewCA creates a CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{t: t, dir: t.TempDir(), cert: cert, key: key, Pool: x509.NewCertPool()}
	ca.Pool.AddCert(cert)
	ca.File = filepath.Join(ca.dir, "ca.pem")
	writePEM(t, ca.File, "CERTIFICATE", der)
	return ca
}

// Issue issues a certificate for name (its common name, and its first
// DNS name when opts has none and name is not an IP) into name.pem and
// name.key.
func (ca *CA) Issue(name string, opts CertOptions) Cert {
	ca.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatalf("siptest: %v", err)
	}
	if len(opts.DNSNames) == 0 && len(opts.IPs) == 0 {
		if ip := net.ParseIP(name); ip != nil {
			opts.IPs = []net.IP{ip}
		} else {
			opts.DNSNames = []string{name}
		}
	}
	if opts.NotBefore.IsZero() {
		opts.NotBefore = time.Now().Add(-time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	usage := x509.ExtKeyUsageServerAuth
	if opts.Client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    opts.NotBefore,
		NotAfter:     opts.NotAfter,
		DNSNames:     opts.DNSNames,
		IPAddresses:  opts.IPs,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatalf("siptest: %v", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		ca.t.Fatalf("siptest: %v", err)
	}
	c := Cert{
		CertFile: filepath.Join(ca.dir, name+".pem"),
		KeyFile:  filepath.Join(ca.dir, name+".key"),
	}
	writePEM(ca.t, c.CertFile, "CERTIFICATE", der)
	writePEM(ca.t, c.KeyFile, "PRIVATE KEY", kder)
	c.TLS, err = tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		ca.t.Fatalf("siptest: %v", err)
	}
	return c
}

func writePEM(t testing.TB, file, typ string, der []byte) {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	// Write then rename: a reader (a certificate reload) sees the old
	// file or the new one, never half of one.
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatalf("siptest: %v", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatalf("siptest: %v", err)
	}
}
