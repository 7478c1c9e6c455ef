package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"encoding/xml"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/palio-voip/palio/sip"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key
// (PEM) into dir and returns their paths and a pool trusting it.
func writeCert(t *testing.T, dir string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "prov.unisi.it"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// phoneSettings reads a SNOM settings file: name[idx] → value, and the
// function keys.
func phoneSettings(t *testing.T, body []byte) (map[string]string, []string) {
	t.Helper()
	var f struct {
		Phone struct {
			Items []struct {
				XMLName xml.Name
				Idx     string `xml:"idx,attr"`
				Value   string `xml:",chardata"`
			} `xml:",any"`
		} `xml:"phone-settings"`
		Keys []string `xml:"functionKeys>fkey"`
	}
	if err := xml.Unmarshal(body, &f); err != nil {
		t.Fatalf("SNOM file: %v\n%s", err, body)
	}
	out := map[string]string{}
	for _, s := range f.Phone.Items {
		out[s.XMLName.Local+"["+s.Idx+"]"] = s.Value
	}
	return out, f.Keys
}

// TestProvisioningServer: the example serves the seed's devices. Over
// HTTP under /prov/ on [http] listen, over HTTPS on [provisioning.https]
// and over TFTP on a high port, each phone gets its lines with the
// demo passwords and its BLF keys; its fetch shows in `device list`; an
// unknown MAC in `device unknown`; `device resync` makes the server send
// a registered phone its NOTIFY within [store] poll.
func TestProvisioningServer(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := writeCert(t, dir)
	tftpPort := freePort(t, "udp")
	httpsPort := freePort(t, "tcp")
	e := newExample(t, "[store]\npoll = \"200ms\"\n[routing]\nprobe_interval = \"0s\"\n"+
		"[provisioning]\ntftp_listen = \"127.0.0.1:"+strconv.Itoa(tftpPort)+"\"\n"+
		"[provisioning.https]\nlisten = \"127.0.0.1:"+strconv.Itoa(httpsPort)+"\"\ncert = \""+cert+"\"\nkey = \""+key+"\"\n")
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	e.start()
	base := "http://" + e.http + "/prov"

	t.Run("http", func(t *testing.T) {
		res, err := http.Get(base + "/snom710-0004137441D7.htm")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("%d: %s", res.StatusCode, body)
		}
		s, keys := phoneSettings(t, body)
		for k, v := range map[string]string{
			"user_name[1]": "5009", "user_pass[1]": "unisi5009", "user_host[1]": "voip.unisi.it", "user_outbound[1]": e.addr,
			"setting_server[]": base + "/snom710-0004137441D7.htm",
		} {
			if s[k] != v {
				t.Errorf("%s = %q, want %q", k, s[k], v)
			}
		}
		if len(keys) != 3 || keys[1] != "blf sip:5002@voip.unisi.it|**" || keys[2] != "blf sip:5003@voip.unisi.it|**" {
			t.Errorf("function keys %q", keys)
		}
	})
	t.Run("https", func(t *testing.T) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		var res *http.Response
		var err error
		for range 50 { // the HTTPS listener starts with the server
			if res, err = c.Get("https://127.0.0.1:" + strconv.Itoa(httpsPort) + "/prov/spa00e16d4a12f3.xml"); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !bytes.Contains(body, []byte(`<Password_1_ ua="na">unisi5009</Password_1_>`)) || !bytes.Contains(body, []byte(`<User_ID_1_ ua="na">5009</User_ID_1_>`)) {
			t.Errorf("%d:\n%s", res.StatusCode, body)
		}
	})
	t.Run("tftp", func(t *testing.T) {
		c, err := tftp.NewClient("127.0.0.1:" + strconv.Itoa(tftpPort))
		if err != nil {
			t.Fatal(err)
		}
		c.SetTimeout(2 * time.Second)
		wt, err := c.Receive("snom760-000413A1B2C3.htm", "octet")
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := wt.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		s, keys := phoneSettings(t, b.Bytes())
		if s["user_name[1]"] != "5002" || s["user_pass[1]"] != "unisi5002" || s["user_realname[1]"] != "Michele Pinassi" || len(keys) != 3 {
			t.Errorf("over TFTP: %v %q", s, keys)
		}
		// The ATA's bootstrap sends it on to HTTP.
		wt, err = c.Receive("spa112.cfg", "octet")
		if err != nil {
			t.Fatal(err)
		}
		b.Reset()
		wt.WriteTo(&b)
		if !strings.Contains(b.String(), "<Profile_Rule ua=\"na\">"+base+"/spa$MA.xml</Profile_Rule>") {
			t.Errorf("bootstrap:\n%s", b.String())
		}
	})
	t.Run("listed", func(t *testing.T) {
		r := e.row("mac", "0004137441d7", "device", "list")
		if r == nil || r["ip"] != "127.0.0.1" || r["last_fetch"] == "never" {
			t.Errorf("after its fetch: %v", r)
		}
		http.Get(base + "/snom760-000413FFEEDD.htm")
		if u := e.row("mac", "000413ffeedd", "device", "unknown"); u == nil || u["model"] != "snom760" || u["fetches"] != "1" {
			t.Errorf("unknown device: %v", u)
		}
	})
	t.Run("resync", func(t *testing.T) {
		phone := e.phone("5002")
		e.cli(0, "device", "resync", "000413a1b2c3")
		req, err := phone.WaitRequest(ctxT(t, 10*time.Second), sip.NOTIFY, 1)
		if err != nil {
			t.Fatalf("no NOTIFY: %v\n%s", err, e.stderr.String())
		}
		if ev := req.GetHeader("Event"); ev == nil || ev.Value() != "check-sync;reboot=false" {
			t.Errorf("Event %v", ev)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		want := []string{`palio_provisioning_fetches_total{proto="http",result="device"}`, `palio_provisioning_fetches_total{proto="tftp",result="device"}`,
			`palio_provisioning_unknown_total 1`, `palio_provisioning_resyncs_total{result="ok"} 1`}
		var missing []string
		// The resync is counted once the phone's 200 is back at the
		// server, which may be after the phone has the NOTIFY.
		for range 50 {
			res, err := http.Get("http://" + e.http + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			missing = missing[:0]
			for _, m := range want {
				if !strings.Contains(string(body), m) {
					missing = append(missing, m)
				}
			}
			if len(missing) == 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Errorf("/metrics lacks %v", missing)
	})
}
