package provisioning_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/palio-voip/palio/provisioning"
)

// FuzzParseMAC: ParseMAC never panics, and what it accepts prints as 12
// lower-case hex digits that parse back to the same MAC.
func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"0004137441d7", "00:04:13:74:41:D7", "00-04-13-74-41-d7", "0004.1374.41d7", "000000000000", "zz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := provisioning.ParseMAC(s)
		if err != nil {
			return
		}
		str := m.String()
		if len(str) != 12 || strings.Trim(str, "0123456789abcdef") != "" {
			t.Fatalf("%q read as %q", s, str)
		}
		for _, form := range []string{str, m.Upper(), m.Colon()} {
			if back, err := provisioning.ParseMAC(form); err != nil || back != m {
				t.Fatalf("%q → %q → %v %v", s, form, back, err)
			}
		}
	})
}

// FuzzMACFromUserAgent: never panics; a MAC it finds is in the
// User-Agent.
func FuzzMACFromUserAgent(f *testing.F) {
	for _, s := range []string{
		"Cisco/SPA112-1.4.1(SR1) (88755A1B2C3D)", "Yealink SIP-T46S 66.85.0.5 00:15:65:5e:16:7c",
		"Mozilla/4.0 (compatible; snom760-SIP 8.7.5.35 1.1.3-s)", "(0004.1374.41d7)", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		m, ok := provisioning.MACFromUserAgent(ua)
		if !ok {
			return
		}
		lower := strings.ToLower(strings.NewReplacer(":", "", "-", "", ".", "").Replace(ua))
		if !strings.Contains(lower, m.String()) {
			t.Fatalf("%q gave %s, which it does not contain", ua, m)
		}
	})
}

// FuzzRouter: whatever the path, User-Agent and Authorization header,
// the provisioner answers with one of its statuses, serves a device's
// file (with its passwords) only for a path naming that device, and
// never panics.
func FuzzRouter(f *testing.F) {
	for _, c := range [][3]string{
		{"/prov/snom710-0004137441D7.htm", "", ""},
		{"/prov/snom710.htm", "Mozilla/4.0 (compatible; snom710-SIP 8.7.5.35)", ""},
		{"/prov/spa00e16d4a12f3.xml", "Cisco/SPA112-1.4.1(SR1) (00E16D4A12F3)", ""},
		{"/prov/spa112.cfg", "Cisco/SPA112-1.4.1(SR1) (88755A1B2C3D)", ""},
		{"/prov/y000000000000.cfg", "", ""},
		{"/prov/001565aabbcc.cfg", "", `Digest username="001565aabbcc", realm="palio-provisioning", nonce="x", uri="/prov/001565aabbcc.cfg", response="0"`},
		{"/prov/firmware/../../etc/passwd", "", ""},
		{"/prov/snom710-ZZZZ.htm", "", "Basic Zm9vOmJhcg=="},
		{"/prov/0004137441d7-local.cfg", "", ""},
	} {
		f.Add(c[0], c[1], c[2])
	}
	s := newSite(f, provisioning.Config{PathPrefix: "/prov", RequestsPerMinute: -1, BanAfter: -1})
	ok := map[int]bool{200: true, 400: true, 401: true, 403: true, 404: true, 405: true, 429: true}
	f.Fuzz(func(t *testing.T, path, ua, auth string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path, req.RequestURI = path, path
		req.RemoteAddr = "127.0.0.1:5060"
		req.Header.Set("User-Agent", ua)
		req.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		s.p.ServeHTTP(w, req)
		if !ok[w.Code] {
			t.Fatalf("%q: status %d", path, w.Code)
		}
		if w.Code == http.StatusOK && strings.Contains(w.Body.String(), "unisi50") {
			low := strings.ToLower(path)
			named := false
			for _, m := range []string{"0004137441d7", "000413a1b2c3", "00e16d4a12f3", "001565aabbcc", "0a1b2c3d4e5f", "88755a1b2c3d", "000413b50001"} {
				named = named || strings.Contains(low, m)
			}
			if !named {
				if m, found := provisioning.MACFromUserAgent(ua); !found || !strings.Contains(w.Body.String(), m.String()) {
					t.Fatalf("%q (UA %q) served credentials without naming the device:\n%s", path, ua, w.Body.String())
				}
			}
		}
	})
}
