package provisioning_test

import (
	"context"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/palio-voip/palio/provisioning"
)

// TestUnknownMAC: a file for a MAC no device has is 404, and the MAC is
// recorded as an unknown device with the model its file named, the
// address and the User-Agent, for an operator to assign.
func TestUnknownMAC(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newSite(t, provisioning.Config{PathPrefix: "/prov"}, provisioning.WithRegisterer(reg))
	base := serveHTTP(t, s.p)
	ua := "Mozilla/4.0 (compatible; snom760-SIP 8.7.5.35 1.1.3-s)"
	for range 2 {
		if code, _ := get(t, nil, base+"/snom760-000413FFEEDD.htm", ua); code != 404 {
			t.Fatalf("got %d, want 404", code)
		}
	}
	u, err := s.store.UnknownDevices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(u) != 1 || u[0].MAC.String() != "000413ffeedd" || u[0].Model != "snom760" || u[0].IP != "127.0.0.1" || u[0].UserAgent != ua || u[0].Count != 2 {
		t.Errorf("unknown devices: %+v", u)
	}
	if n := testutil.ToFloat64(s.metric(t, reg, "palio_provisioning_unknown_total")); n != 2 {
		t.Errorf("palio_provisioning_unknown_total = %v, want 2", n)
	}
}

// metric returns the collector registered under name.
func (s *site) metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return gatheredValue{reg, name, labels}
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// gatheredValue is one series of a gathered metric, for testutil.
type gatheredValue struct {
	reg    *prometheus.Registry
	name   string
	labels []string // name, value pairs
}

func (g gatheredValue) Describe(ch chan<- *prometheus.Desc) {}

func (g gatheredValue) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := g.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != g.name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(g.labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == g.labels[i] && lp.GetValue() == g.labels[i+1]
				}
				if !found {
					continue next
				}
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(g.name, "", nil, nil), prometheus.UntypedValue, v)
			return
		}
	}
}

// TestMalformedMAC: a device file name whose MAC is no MAC is 404 and
// held against the source; ParseMAC's forms are in TestParseMAC.
func TestMalformedMAC(t *testing.T) {
	s := newSite(t, provisioning.Config{PathPrefix: "/prov", BanAfter: 2})
	base := serveHTTP(t, s.p)
	for _, file := range []string{"snom710-0004137441ZZ.htm", "spa00e16d4a12fg.xml"} {
		if code, _ := get(t, nil, base+"/"+file, ""); code != 404 {
			t.Errorf("%s: got %d, want 404", file, code)
		}
	}
	if code, _ := get(t, nil, base+"/snom710.htm", ""); code != 403 {
		t.Errorf("after 2 malformed MACs (BanAfter 2): got %d, want 403 (banned)", code)
	}
	if !strings.Contains(s.log.String(), "reason=malformed-mac") {
		t.Errorf("no malformed-mac in the log:\n%s", s.log)
	}
}

// TestURLKey: with a url key, files are served under it only; a missing
// or wrong key is 404 (as no file: a key cannot be told from a path),
// and the templates send the phones back under the key.
func TestURLKey(t *testing.T) {
	const key = "Xk9-unisi-2017"
	s := newSite(t, provisioning.Config{PathPrefix: "/prov", Key: key})
	base := serveHTTP(t, s.p)
	for _, tt := range []struct {
		path string
		code int
	}{
		{"/snom710.htm", 404},
		{"/snom710-0004137441D7.htm", 404},
		{"/Xk9-unisi-2016/snom710-0004137441D7.htm", 404},
		{"/" + key + "/snom710-0004137441D7.htm", 200},
		{"/" + key + "/spa112.cfg", 200},
	} {
		code, body := get(t, nil, base+tt.path, "")
		if code != tt.code {
			t.Errorf("%s: got %d, want %d", tt.path, code, tt.code)
		}
		if code == 200 && !strings.Contains(body, base+"/"+key+"/") {
			t.Errorf("%s: the file does not send the phone back under the key:\n%s", tt.path, body)
		}
	}
	if !strings.Contains(s.log.String(), "reason=wrong-key") {
		t.Errorf("no wrong-key refusal logged:\n%s", s.log)
	}
}

// TestDeviceAuth: a device with an AuthSecret is served only to its MAC
// and secret: digest over HTTP and HTTPS, basic over HTTPS only; a wrong
// password is 401 and held against the source; the model files need
// none; TFTP, which cannot authenticate, refuses it; the file sends the
// phone back with its credentials.
func TestDeviceAuth(t *testing.T) {
	const secret = "s3cret-710"
	s := newSite(t, provisioning.Config{PathPrefix: "/prov"})
	ctx := context.Background()
	d, _ := s.store.Device(ctx, mustMAC(t, "0004137441d7"))
	d.AuthSecret = secret
	if err := s.store.PutDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	base := serveHTTP(t, s.p)
	tlsBase, tlsClient := serveHTTPS(t, s.p)
	file := "/snom710-0004137441D7.htm"
	digestClient := func(user, pass string, tr http.RoundTripper) *http.Client {
		return &http.Client{Transport: &digest.Transport{Username: user, Password: pass, Transport: tr}}
	}
	basicClient := func(user, pass string, c *http.Client) *http.Client {
		tr := c.Transport
		if tr == nil {
			tr = http.DefaultTransport
		}
		return &http.Client{Transport: basicAuth{user, pass, tr}}
	}
	tests := []struct {
		name   string
		client *http.Client
		url    string
		code   int
	}{
		{"none", nil, base + file, 401},
		{"model file needs none", nil, base + "/snom710.htm", 200},
		{"digest", digestClient("0004137441d7", secret, nil), base + file, 200},
		{"digest, MAC spelt with colons", digestClient("00:04:13:74:41:D7", secret, nil), base + file, 200},
		{"digest, wrong secret", digestClient("0004137441d7", "s3cret-760", nil), base + file, 401},
		{"digest, another device's MAC", digestClient("000413a1b2c3", secret, nil), base + file, 401},
		{"basic over HTTP", basicClient("0004137441d7", secret, http.DefaultClient), base + file, 401},
		{"digest over HTTPS", digestClient("0004137441d7", secret, tlsClient.Transport), tlsBase + file, 200},
		{"basic over HTTPS", basicClient("0004137441d7", secret, tlsClient), tlsBase + file, 200},
		{"basic over HTTPS, wrong secret", basicClient("0004137441d7", "nope-nope", tlsClient), tlsBase + file, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, tt.client, tt.url, "")
			if code != tt.code {
				t.Fatalf("got %d, want %d: %s", code, tt.code, body)
			}
			if code == 200 && strings.Contains(tt.url, file) {
				v, _ := parseSNOM(t, body).setting("setting_server", "")
				if !strings.Contains(v, "://0004137441d7:"+secret+"@127.0.0.1:") {
					t.Errorf("setting_server %q does not carry the device's credentials", v)
				}
			}
		})
	}
	res, err := http.Get(base + file)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if h := res.Header.Values("WWW-Authenticate"); len(h) != 1 || !strings.HasPrefix(h[0], "Digest ") {
		t.Errorf("challenge over HTTP: %q, want Digest alone", h)
	}
	addr := serveTFTP(t, s.p, provisioning.TFTPConfig{})
	if _, _, err := tftpGet(t, addr, "snom710-0004137441D7.htm", 0); err == nil || !strings.Contains(err.Error(), "access violation") {
		t.Errorf("over TFTP: %v, want access violation", err)
	}
	if n := strings.Count(s.log.String(), "reason=wrong-password"); n != 3 {
		t.Errorf("%d wrong-password refusals logged, want 3:\n%s", n, s.log)
	}
}

// basicAuth sets basic credentials on every request.
type basicAuth struct {
	user, pass string
	next       http.RoundTripper
}

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.pass)
	return b.next.RoundTrip(r)
}

// TestUserAgentMAC: a User-Agent naming another MAC than the file is
// 403; one naming a known device on its model's file gets the device's
// own file at once.
func TestUserAgentMAC(t *testing.T) {
	s := newSite(t, provisioning.Config{PathPrefix: "/prov"})
	base := serveHTTP(t, s.p)
	if code, _ := get(t, nil, base+"/spa00e16d4a12f3.xml", "Cisco/SPA112-1.4.1(SR1) (88755A1B2C3D)"); code != 403 {
		t.Errorf("UA MAC ≠ file MAC: got %d, want 403", code)
	}
	if code, _ := get(t, nil, base+"/spa00e16d4a12f3.xml", "Cisco/SPA112-1.4.1(SR1) (00E16D4A12F3)"); code != 200 {
		t.Errorf("UA MAC = file MAC: got %d, want 200", code)
	}
	code, body := get(t, nil, base+"/spa112.cfg", "Cisco/SPA112-1.4.1(SR1) (00E16D4A12F3)")
	if p := parseFlatProfile(t, body); code != 200 || p["User_ID_1_"] != "5009" {
		t.Errorf("model file with the device's MAC in the UA: %d, User_ID_1_ %q, want the device's file", code, p["User_ID_1_"])
	}
}

// TestAllowList: a source outside the allowed networks is refused.
func TestAllowList(t *testing.T) {
	s := newSite(t, provisioning.Config{PathPrefix: "/prov", Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	base := serveHTTP(t, s.p)
	if code, _ := get(t, nil, base+"/snom710.htm", ""); code != 403 {
		t.Errorf("from 127.0.0.1 with allow 10.0.0.0/8: got %d, want 403", code)
	}
	s = newSite(t, provisioning.Config{PathPrefix: "/prov", Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	base = serveHTTP(t, s.p)
	if code, _ := get(t, nil, base+"/snom710.htm", ""); code != 200 {
		t.Errorf("from 127.0.0.1 with allow 127.0.0.0/8: got %d, want 200", code)
	}
}

// TestRateLimit: a source gets Burst requests at once, then 429 until
// its bucket refills at RequestsPerMinute.
func TestRateLimit(t *testing.T) {
	s := newSite(t, provisioning.Config{PathPrefix: "/prov", RequestsPerMinute: 60, Burst: 5})
	base := serveHTTP(t, s.p)
	for i := range 5 {
		if code, _ := get(t, nil, base+"/snom710.htm", ""); code != 200 {
			t.Fatalf("request %d: got %d, want 200", i+1, code)
		}
	}
	res, err := http.Get(base + "/snom710.htm")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
		t.Errorf("request 6: got %d (Retry-After %q), want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	s.clock.Advance(time.Second)
	if code, _ := get(t, nil, base+"/snom710.htm", ""); code != 200 {
		t.Errorf("a second later: got %d, want 200", code)
	}
	if code, _ := get(t, nil, base+"/snom710.htm", ""); code != 429 {
		t.Errorf("and again: got %d, want 429", code)
	}
}

// fail2ban is the filter the README gives fail2ban.
var fail2ban = regexp.MustCompile(`level=WARN msg="provisioning: source banned" src=(\S+) `)

// TestBan: BanAfter failures (unknown MACs here) ban the source for
// BanFor: every request gets 403, the ban is logged in the line
// fail2ban matches, counted and shown in the banned gauge; it lifts by
// itself.
func TestBan(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newSite(t, provisioning.Config{PathPrefix: "/prov", BanAfter: 3, BanFor: 5 * time.Minute}, provisioning.WithRegisterer(reg))
	base := serveHTTP(t, s.p)
	for _, mac := range []string{"000413000001", "000413000002", "000413000003"} {
		if code, _ := get(t, nil, base+"/snom760-"+mac+".htm", ""); code != 404 {
			t.Fatalf("unknown MAC %s: got %d, want 404", mac, code)
		}
	}
	if code, _ := get(t, nil, base+"/snom710-0004137441D7.htm", ""); code != 403 {
		t.Errorf("a known device's file from a banned source: got %d, want 403", code)
	}
	m := fail2ban.FindStringSubmatch(s.log.String())
	if m == nil || m[1] != "127.0.0.1" {
		t.Errorf("no ban line fail2ban matches (%s):\n%s", fail2ban, s.log)
	}
	if n := strings.Count(s.log.String(), `msg="provisioning: source banned"`); n != 1 {
		t.Errorf("%d ban lines, want 1", n)
	}
	if v := testutil.ToFloat64(s.metric(t, reg, "palio_provisioning_bans_total")); v != 1 {
		t.Errorf("bans_total %v, want 1", v)
	}
	if v := testutil.ToFloat64(s.metric(t, reg, "palio_provisioning_banned")); v != 1 {
		t.Errorf("banned %v, want 1", v)
	}
	if v := testutil.ToFloat64(s.metric(t, reg, "palio_provisioning_refused_total", "reason", "banned")); v != 1 {
		t.Errorf("refused{banned} %v, want 1", v)
	}
	s.clock.Advance(5*time.Minute + time.Second)
	if code, _ := get(t, nil, base+"/snom710-0004137441D7.htm", ""); code != 200 {
		t.Errorf("after the ban: got %d, want 200", code)
	}
	if v := testutil.ToFloat64(s.metric(t, reg, "palio_provisioning_banned")); v != 0 {
		t.Errorf("banned %v after the ban, want 0", v)
	}
}

// TestNoSecretsInLogs: whatever happens — files served, wrong keys,
// wrong and right passwords, bans — no SIP password, device secret or
// url key reaches the log, even at Debug.
func TestNoSecretsInLogs(t *testing.T) {
	const key, secret = "Xk9-unisi-2017", "s3cret-710"
	s := newSite(t, provisioning.Config{PathPrefix: "/prov", Key: key, BanAfter: 4})
	ctx := context.Background()
	d, _ := s.store.Device(ctx, mustMAC(t, "0004137441d7"))
	d.AuthSecret = secret
	s.store.PutDevice(ctx, d)
	base := serveHTTP(t, s.p)
	dc := &http.Client{Transport: &digest.Transport{Username: "0004137441d7", Password: secret}}
	get(t, dc, base+"/"+key+"/snom710-0004137441D7.htm", "")
	get(t, &http.Client{Transport: &digest.Transport{Username: "0004137441d7", Password: "wrong-" + secret}}, base+"/"+key+"/snom710-0004137441D7.htm", "")
	for _, f := range []string{"spa00e16d4a12f3.xml", yealinkMAC + ".cfg", genericMAC + ".cfg", "snomD735-" + d735MAC + ".htm"} {
		if code, _ := get(t, nil, base+"/"+key+"/"+f, ""); code != 200 {
			t.Fatalf("%s: %d", f, code)
		}
	}
	get(t, nil, base+"/"+key+"x/snom710.htm", "")
	for _, m := range []string{"000413000001", "000413000002", "000413000003"} {
		get(t, nil, base+"/"+key+"/snom760-"+m+".htm", "")
	}
	log := s.log.String()
	if !strings.Contains(log, "source banned") {
		t.Fatalf("the scenario did not reach a ban:\n%s", log)
	}
	for _, secret := range []string{"unisi5002", "unisi5003", "unisi5004", "unisi5009", secret, key, "Authorization", "response="} {
		if strings.Contains(log, secret) {
			t.Errorf("the log shows %q:\n%s", secret, log)
		}
	}
}

// TestCredentials: where a line's password comes from. An account with
// a plaintext password gives it; a per-device password wins (and one
// that is not the account's is served with a warning); an account with
// only its digests and no per-device password fails the file (500,
// logged as an error: the phone keeps what it has); a deleted account's
// line is left out and the BLF keys move up.
func TestCredentials(t *testing.T) {
	s := newSite(t, provisioning.Config{PathPrefix: "/prov"})
	ctx := context.Background()
	base := serveHTTP(t, s.p)
	mac := mustMAC(t, "000413a1b2c3") // the SNOM 760, line 5002
	put := func(d provisioning.Device) {
		t.Helper()
		if err := s.store.PutDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	fetch := func() (int, snomFile) {
		t.Helper()
		code, body := get(t, nil, base+"/snom760-"+mac.Upper()+".htm", "")
		if code != 200 {
			return code, snomFile{}
		}
		return code, parseSNOM(t, body)
	}
	d := provisioning.Device{MAC: mac, Model: "snom760", Lines: []provisioning.Line{{User: "5002"}}, Keys: []provisioning.Key{{Number: "5003"}}}
	put(d)
	if code, f := fetch(); code != 200 {
		t.Fatalf("plaintext account: %d", code)
	} else if v, _ := f.setting("user_pass", "1"); v != "unisi5002" {
		t.Errorf("plaintext account: user_pass %q", v)
	}
	d.Lines[0].Password = "per-device-pw"
	put(d)
	if code, f := fetch(); code != 200 {
		t.Fatalf("per-device password: %d", code)
	} else if v, _ := f.setting("user_pass", "1"); v != "per-device-pw" {
		t.Errorf("per-device password: user_pass %q", v)
	}
	if !strings.Contains(s.log.String(), "is not its account's") {
		t.Errorf("a per-device password that is not the account's went unremarked:\n%s", s.log)
	}
	d.Lines = []provisioning.Line{{User: "5009"}}
	put(d)
	if code, _ := fetch(); code != 500 {
		t.Errorf("digest-only account without a per-device password: got %d, want 500", code)
	}
	if !strings.Contains(s.log.String(), "level=ERROR") || !strings.Contains(s.log.String(), "no password a phone can use") {
		t.Errorf("the missing password was not logged as an error:\n%s", s.log)
	}
	d.Lines = []provisioning.Line{{User: "5009", Password: "unisi5009"}, {User: "5002"}}
	put(d)
	if err := s.subs.DeleteSubscriber(ctx, "5009", domain); err != nil {
		t.Fatal(err)
	}
	code, f := fetch()
	if code != 200 {
		t.Fatalf("deleted account: %d", code)
	}
	if v, _ := f.setting("user_name", "1"); v != "5002" {
		t.Errorf("deleted account: line 1 is %q, want 5002 moved up", v)
	}
	if _, ok := f.setting("user_name", "2"); ok {
		t.Errorf("deleted account: a second line is written")
	}
	if len(f.Keys) != 2 || f.Keys[1].Idx != "1" {
		t.Errorf("deleted account: keys %+v, want the BLF key right after the one line", f.Keys)
	}
}
