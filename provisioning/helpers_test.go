package provisioning_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/palio-voip/palio/provisioning"
	"github.com/palio-voip/palio/provisioning/provisioningtest"
	"github.com/palio-voip/palio/registrar"
)

const domain = "voip.unisi.it"

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustMAC(t testing.TB, s string) provisioning.MAC {
	t.Helper()
	m, err := provisioning.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// site is a provisioner over a memory store holding the suite's devices
// (the seed's SNOM 710, SNOM 760 and SPA112) plus one device of each
// other family, and a subscriber store of the demo accounts: 5002 and
// 5003 with plaintext passwords (as OpenSIPS with calculate_ha1 keeps
// them), 5009 and 5004 with their digests only.
type site struct {
	p     *provisioning.Provisioner
	store *provisioning.MemStore
	subs  *registrar.MemStore
	log   *logBuffer
	clock *clock
}

// The demo devices beyond the suite's.
var (
	yealinkMAC = "001565aabbcc"
	genericMAC = "0a1b2c3d4e5f"
	spa504MAC  = "88755a1b2c3d"
	d735MAC    = "000413b50001"
)

func newSite(t testing.TB, cfg provisioning.Config, opts ...provisioning.Option) *site {
	t.Helper()
	ctx := context.Background()
	s := &site{store: provisioning.NewMemStore(), subs: registrar.NewMemStore(), log: &logBuffer{},
		clock: &clock{t: time.Date(2017, 5, 2, 8, 30, 0, 0, time.UTC)}}
	for _, u := range []string{"5002", "5003"} {
		sub := registrar.NewSubscriber(u, domain, "unisi"+u)
		sub.Password = "unisi" + u
		if err := s.subs.AddSubscriber(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"5004", "5009"} {
		if err := s.subs.AddSubscriber(ctx, registrar.NewSubscriber(u, domain, "unisi"+u)); err != nil {
			t.Fatal(err)
		}
	}
	devs := provisioningtest.Devices()
	devs[0].AuthSecret = "" // the auth tests set their own
	devs[0].Lines[1].DisplayName = "Michele Pinassi"
	devs[2].Lines[0].Password = "unisi5009" // 5009 keeps only its digests
	devs = append(devs,
		provisioning.Device{MAC: mustMAC(t, yealinkMAC), Model: "t46s", Name: "Reception", Lines: []provisioning.Line{{User: "5003", DisplayName: "Reception"}},
			Keys: []provisioning.Key{{Number: "5002"}, {Number: "5004", Label: "Lab"}}},
		provisioning.Device{MAC: mustMAC(t, genericMAC), Model: "generic", Lines: []provisioning.Line{{User: "5002"}}, Keys: []provisioning.Key{{Number: "5003"}}},
		provisioning.Device{MAC: mustMAC(t, spa504MAC), Model: "spa504g", Name: "Segreteria", Lines: []provisioning.Line{{User: "5003", DisplayName: "Segreteria"}},
			Keys: []provisioning.Key{{Number: "5002", Label: "Pinassi"}}},
		provisioning.Device{MAC: mustMAC(t, d735MAC), Model: "snomd735", Lines: []provisioning.Line{{User: "5004", Password: "unisi5004"}}},
	)
	for _, d := range devs {
		if err := s.store.PutDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.Domain == "" {
		cfg.Domain = domain
	}
	s.log = &logBuffer{}
	log := slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]provisioning.Option{provisioning.WithLogger(log), provisioning.WithClock(s.clock.Now)}, opts...)
	p, err := provisioning.New(cfg, s.store, s.subs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s.p = p
	return s
}

// get fetches url with client (nil: http.DefaultClient) and User-Agent
// ua; it returns the status and body.
func get(t *testing.T, client *http.Client, url, ua string) (int, string) {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// serveHTTP runs the provisioner on a real loopback HTTP server mounted
// at /prov.
func serveHTTP(t *testing.T, p http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/prov/", p)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/prov"
}

// snomFile is a SNOM settings file as the phone reads it.
type snomFile struct {
	XMLName xml.Name `xml:"settings"`
	Phone   struct {
		Settings []struct {
			XMLName xml.Name
			Idx     string `xml:"idx,attr"`
			Perm    string `xml:"perm,attr"`
			Value   string `xml:",chardata"`
		} `xml:",any"`
	} `xml:"phone-settings"`
	Keys []struct {
		Idx     string `xml:"idx,attr"`
		Context string `xml:"context,attr"`
		Label   string `xml:"label,attr"`
		Value   string `xml:",chardata"`
	} `xml:"functionKeys>fkey"`
}

// setting returns a setting's value (of line idx, "" for none).
func (f snomFile) setting(name, idx string) (string, bool) {
	for _, s := range f.Phone.Settings {
		if s.XMLName.Local == name && s.Idx == idx {
			return s.Value, true
		}
	}
	return "", false
}

func parseSNOM(t *testing.T, body string) snomFile {
	t.Helper()
	var f snomFile
	if err := xml.Unmarshal([]byte(body), &f); err != nil {
		t.Fatalf("SNOM file: %v\n%s", err, body)
	}
	return f
}

// parseFlatProfile reads a Cisco <flat-profile>: element → text.
func parseFlatProfile(t *testing.T, body string) map[string]string {
	t.Helper()
	var f struct {
		XMLName xml.Name `xml:"flat-profile"`
		Params  []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal([]byte(body), &f); err != nil {
		t.Fatalf("flat profile: %v\n%s", err, body)
	}
	out := map[string]string{}
	for _, p := range f.Params {
		out[p.XMLName.Local] = p.Value
	}
	return out
}

// parseKV reads a "key = value" file (Yealink, generic): the values by
// key; comments and the version line skipped.
func parseKV(t *testing.T, body string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %d %q is not key = value\n%s", n, line, body)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

// want fails t unless got[key] is val.
func want(t *testing.T, what string, got map[string]string, key, val string) {
	t.Helper()
	if got[key] != val {
		t.Errorf("%s: %s = %q, want %q", what, key, got[key], val)
	}
}

// firmwareFS is a firmware directory with a 1 MB image.
func firmwareFS(size int) fstest.MapFS {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return fstest.MapFS{"snom710-8.7.5.35.bin": {Data: b}}
}

func xmlUnmarshal(body string, v any) error { return xml.Unmarshal([]byte(body), v) }
