package provisioning_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/provisioning"
)

// fetcher fetches a file below the provisioning root; ok is false when
// it was refused.
type fetcher func(t *testing.T, file, ua string) (body string, ok bool)

func httpFetcher(client *http.Client, base string) fetcher {
	return func(t *testing.T, file, ua string) (string, bool) {
		t.Helper()
		code, body := get(t, client, base+"/"+file, ua)
		return body, code == 200
	}
}

// checkFiles fetches every family's files the way its phones name them
// and checks what the phones would read: credentials, lines, BLF keys,
// the provisioning server they are sent back to.
func checkFiles(t *testing.T, fetch fetcher, base string) {
	t.Run("snom 710", func(t *testing.T) {
		for _, file := range []string{"snom710-0004137441D7.htm", "snom710-0004137441d7.xml", "0004137441D7.xml"} {
			body, ok := fetch(t, file, "Mozilla/4.0 (compatible; snom710-SIP 8.7.5.35 1.1.3-s)")
			if !ok {
				t.Fatalf("%s refused: %s", file, body)
			}
			f := parseSNOM(t, body)
			for _, w := range []struct{ name, idx, val string }{
				{"user_name", "1", "5009"}, {"user_pass", "1", "unisi5009"}, {"user_host", "1", domain},
				{"user_realname", "1", "Prova"}, {"user_pname", "1", "5009"}, {"user_outbound", "1", "proxy.unisi.it:5060"},
				{"user_name", "2", "5002"}, {"user_pass", "2", "unisi5002"}, {"user_realname", "2", "Michele Pinassi"},
				{"setting_server", "", base + "/snom710-0004137441D7.htm"},
				{"firmware", "", "http://prov.unisi.it/firmware/snom710-8.7.5.35.bin"},
				{"language", "", "Italiano"}, {"tone_scheme", "", "ITA"},
			} {
				if got, _ := f.setting(w.name, w.idx); got != w.val {
					t.Errorf("%s: %s[%s] = %q, want %q", file, w.name, w.idx, got, w.val)
				}
			}
			if len(f.Keys) != 4 {
				t.Fatalf("%s: %d function keys, want 2 lines and 2 BLF: %+v", file, len(f.Keys), f.Keys)
			}
			if k := f.Keys[2]; k.Idx != "2" || k.Value != "blf sip:5003@"+domain+"|**" || k.Label != "Segreteria" {
				t.Errorf("%s: first BLF key %+v, want idx 2 blf sip:5003@%s|**", file, k, domain)
			}
			if k := f.Keys[3]; k.Value != "blf sip:5004@"+domain+"|**" || k.Label != "5004" {
				t.Errorf("%s: second BLF key %+v", file, k)
			}
		}
	})
	t.Run("snom model file", func(t *testing.T) {
		body, ok := fetch(t, "snom760.htm", "")
		if !ok {
			t.Fatalf("refused: %s", body)
		}
		var f struct {
			Files []struct {
				URL string `xml:"url,attr"`
			} `xml:"file"`
		}
		if err := xmlUnmarshal(body, &f); err != nil || len(f.Files) != 1 || f.Files[0].URL != base+"/snom760-{mac}.htm" {
			t.Errorf("setting-files %+v %v, want %s/snom760-{mac}.htm\n%s", f, err, base, body)
		}
		if strings.Contains(body, "unisi50") {
			t.Errorf("the model file carries credentials:\n%s", body)
		}
	})
	t.Run("snom d735", func(t *testing.T) {
		body, ok := fetch(t, "snomD735-"+strings.ToUpper(d735MAC)+".htm", "")
		if !ok {
			t.Fatalf("refused: %s", body)
		}
		f := parseSNOM(t, body)
		if v, _ := f.setting("user_pass", "1"); v != "unisi5004" {
			t.Errorf("per-device password: user_pass = %q", v)
		}
	})
	t.Run("cisco spa112", func(t *testing.T) {
		for _, file := range []string{"spa00e16d4a12f3.xml", "00E16D4A12F3.xml", "spa00E16D4A12F3.cfg"} {
			body, ok := fetch(t, file, "")
			if !ok {
				t.Fatalf("%s refused: %s", file, body)
			}
			p := parseFlatProfile(t, body)
			want(t, file, p, "Proxy_1_", domain)
			want(t, file, p, "User_ID_1_", "5009")
			want(t, file, p, "Password_1_", "unisi5009")
			want(t, file, p, "Outbound_Proxy_1_", "proxy.unisi.it:5060")
			want(t, file, p, "Profile_Rule", base+"/spa$MA.xml")
			want(t, file, p, "Resync_Periodic", "86400")
		}
	})
	t.Run("cisco bootstrap", func(t *testing.T) {
		body, ok := fetch(t, "spa112.cfg", "")
		if !ok {
			t.Fatalf("refused: %s", body)
		}
		p := parseFlatProfile(t, body)
		want(t, "spa112.cfg", p, "Profile_Rule", base+"/spa$MA.xml")
		if _, ok := p["Password_1_"]; ok {
			t.Errorf("the bootstrap carries a password:\n%s", body)
		}
	})
	t.Run("cisco spa504g blf", func(t *testing.T) {
		body, ok := fetch(t, "spa"+spa504MAC+".xml", "")
		if !ok {
			t.Fatalf("refused: %s", body)
		}
		p := parseFlatProfile(t, body)
		want(t, "spa504g", p, "User_ID_1_", "5003")
		want(t, "spa504g", p, "Password_1_", "unisi5003")
		want(t, "spa504g", p, "Extended_Function_2_", "fnc=blf+cp;sub=5002@"+domain+";nme=Pinassi")
		want(t, "spa504g", p, "Extension_2_", "Disabled")
	})
	t.Run("yealink", func(t *testing.T) {
		body, ok := fetch(t, yealinkMAC+".cfg", "Yealink SIP-T46S 66.85.0.5 00:15:65:aa:bb:cc")
		if !ok {
			t.Fatalf("refused: %s", body)
		}
		if !strings.HasPrefix(body, "#!version:1.0.0.1\n") {
			t.Errorf("no version line:\n%s", body)
		}
		kv := parseKV(t, body)
		want(t, "MAC.cfg", kv, "account.1.user_name", "5003")
		want(t, "MAC.cfg", kv, "account.1.password", "unisi5003")
		want(t, "MAC.cfg", kv, "account.1.sip_server.1.address", domain)
		want(t, "MAC.cfg", kv, "account.1.outbound_proxy.1.address", "proxy.unisi.it")
		want(t, "MAC.cfg", kv, "linekey.2.type", "16")
		want(t, "MAC.cfg", kv, "linekey.2.value", "5002")
		want(t, "MAC.cfg", kv, "linekey.2.pickup_value", "**5002")
		want(t, "MAC.cfg", kv, "linekey.3.label", "Lab")
		want(t, "MAC.cfg", kv, "static.auto_provision.server.url", base+"/")
		common, ok := fetch(t, "y000000000028.cfg", "")
		if !ok {
			t.Fatalf("common file refused: %s", common)
		}
		kv = parseKV(t, common)
		want(t, "y000000000028.cfg", kv, "static.auto_provision.server.url", base+"/")
		want(t, "y000000000028.cfg", kv, "features.pickup.direct_pickup_code", "**")
	})
	t.Run("generic", func(t *testing.T) {
		body, ok := fetch(t, genericMAC+".cfg", "")
		if !ok {
			t.Fatalf("refused: %s", body)
		}
		kv := parseKV(t, body)
		want(t, "generic", kv, "line.1.user", "5002")
		want(t, "generic", kv, "line.1.password", "unisi5002")
		want(t, "generic", kv, "blf.1.uri", "sip:5003@"+domain)
	})
}

// TestFetchHTTP: every family's files over real HTTP on loopback, parsed
// as the phones parse them.
func TestFetchHTTP(t *testing.T) {
	fw := firmwareFS(1 << 20)
	s := newSite(t, provisioning.Config{Proxy: "proxy.unisi.it:5060", PathPrefix: "/prov", Firmware: fw})
	base := serveHTTP(t, s.p)
	checkFiles(t, httpFetcher(nil, base), base)
	t.Run("firmware", func(t *testing.T) {
		code, body := get(t, nil, base+"/firmware/snom710-8.7.5.35.bin", "")
		if code != 200 || body != string(fw["snom710-8.7.5.35.bin"].Data) {
			t.Errorf("got %d with %d bytes, want the 1 MB file", code, len(body))
		}
		for _, p := range []string{"/firmware/../unisi.db", "/firmware/nosuch.bin", "/firmware/"} {
			if code, _ := get(t, nil, base+p, ""); code != 404 {
				t.Errorf("%s: got %d, want 404", p, code)
			}
		}
	})
	t.Run("last fetch recorded", func(t *testing.T) {
		d, err := s.store.Device(t.Context(), mustMAC(t, "00e16d4a12f3"))
		if err != nil {
			t.Fatal(err)
		}
		if !d.LastFetch.Equal(s.clock.Now()) || d.LastIP != "127.0.0.1" {
			t.Errorf("last fetch %v from %q", d.LastFetch, d.LastIP)
		}
	})
}

// selfSigned returns a certificate for 127.0.0.1 made for the test and a
// pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "prov.unisi.it"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// serveHTTPS runs the provisioner on a loopback HTTPS server with a
// self-signed certificate; the client trusts it.
func serveHTTPS(t *testing.T, h http.Handler) (string, *http.Client) {
	t.Helper()
	cert, pool := selfSigned(t)
	mux := http.NewServeMux()
	mux.Handle("/prov/", h)
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return srv.URL + "/prov", client
}

// TestFetchHTTPS: the same files over HTTPS with a certificate made for
// the test; the templates send the phones back to the https URL.
func TestFetchHTTPS(t *testing.T) {
	s := newSite(t, provisioning.Config{Proxy: "proxy.unisi.it:5060", PathPrefix: "/prov"})
	base, client := serveHTTPS(t, s.p)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base %s", base)
	}
	checkFiles(t, httpFetcher(client, base), base)
}
