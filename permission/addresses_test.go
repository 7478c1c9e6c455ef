package permission_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/permission/permissiontest"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

func TestMemStore(t *testing.T) {
	permissiontest.TestAddressStore(t, func(*testing.T) permission.AddressStore { return permission.NewMemStore() })
}

// unisiAddresses: the three sites' PSTN gateways (group 1), the ToIP trunk
// (group 2), the media box (group 3) and the campus LAN (group 10).
func unisiAddresses() []permission.Address {
	return []permission.Address{
		{Group: 1, IP: "10.10.1.1", Mask: 32, Port: 5060, Proto: "udp", ContextInfo: "gw-siena-1"},
		{Group: 1, IP: "10.10.1.2", Mask: 32, ContextInfo: "gw-siena-2"},
		{Group: 1, IP: "10.20.1.1", Mask: 32, Proto: "tcp", ContextInfo: "gw-arezzo"},
		{Group: 2, IP: "192.0.2.0", Mask: 24, Pattern: "sip:05771530*", ContextInfo: "toip"},
		{Group: 3, IP: "10.10.5.5", Mask: 32, ContextInfo: "mediabox"},
		{Group: 10, IP: "172.16.0.0", Mask: 12, ContextInfo: "lan-wide"},
		{Group: 10, IP: "172.20.0.0", Mask: 16, ContextInfo: "lan-siena"},
		{Group: 10, IP: "172.20.1.26", Mask: 32, ContextInfo: "lan-host"},
		{Group: 11, IP: "2001:db8:5::", Mask: 48, ContextInfo: "lan-v6"},
		{Group: 4, IP: "10.10.1.2", Mask: 32, ContextInfo: "also-group-4"},
	}
}

func TestCheckAddress(t *testing.T) {
	a, err := permission.NewAddresses(permission.NewMemStore(unisiAddresses()...))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		group    int
		ip       string
		port     int
		proto    string
		uri      string
		wantInfo string
		wantErr  error
	}{
		{"gateway host", 1, "10.10.1.1", 5060, "udp", "", "gw-siena-1", nil},
		{"port must match", 1, "10.10.1.1", 5070, "udp", "", "", permission.ErrNoMatch},
		{"port 0 asked matches any", 1, "10.10.1.1", 0, "udp", "", "gw-siena-1", nil},
		{"proto must match", 1, "10.10.1.1", 5060, "tcp", "", "", permission.ErrNoMatch},
		{"proto any asked matches", 1, "10.20.1.1", 5060, "any", "", "gw-arezzo", nil},
		{"row proto any", 1, "10.10.1.2", 5099, "tls", "", "gw-siena-2", nil},
		{"pattern matches", 2, "192.0.2.77", 5060, "udp", "sip:05771530123@unisi", "toip", nil},
		{"pattern refuses", 2, "192.0.2.77", 5060, "udp", "sip:0600@unisi", "", permission.ErrNoMatch},
		{"no uri given skips the pattern", 2, "192.0.2.77", 5060, "udp", "", "toip", nil},
		{"exact host before subnets", 10, "172.20.1.26", 5060, "udp", "", "lan-host", nil},
		{"least specific subnet first (OpenSIPS 3.6)", 10, "172.20.9.9", 5060, "udp", "", "lan-wide", nil},
		{"wide subnet", 10, "172.31.0.1", 5060, "udp", "", "lan-wide", nil},
		{"outside", 10, "172.32.0.1", 5060, "udp", "", "", permission.ErrNoMatch},
		{"IPv6 subnet", 11, "2001:db8:5:1::9", 5060, "udp", "", "lan-v6", nil},
		{"IPv4-mapped IPv6 source", 1, "::ffff:10.10.1.2", 5060, "udp", "", "gw-siena-2", nil},
		{"any group, lowest first", 0, "10.10.1.2", 5060, "udp", "", "gw-siena-2", nil},
		{"unknown group", 99, "10.10.1.1", 5060, "udp", "", "", permission.ErrUnknownGroup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := a.CheckAddress(tt.group, netip.MustParseAddr(tt.ip), tt.port, tt.proto, tt.uri)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err: got %v, want %v", err, tt.wantErr)
			}
			if m.ContextInfo != tt.wantInfo {
				t.Errorf("context_info: got %q, want %q", m.ContextInfo, tt.wantInfo)
			}
		})
	}
	if m, ok := a.SourceGroup(netip.MustParseAddr("10.10.1.2"), 5060); !ok || m.Group != 1 {
		t.Errorf("SourceGroup: got %+v %v, want group 1 (the lowest of 1 and 4)", m, ok)
	}
	if _, ok := a.SourceGroup(netip.MustParseAddr("8.8.8.8"), 5060); ok {
		t.Error("SourceGroup of a stranger")
	}
}

func TestDiscardedRows(t *testing.T) {
	rows := []permission.Address{
		{ID: 1, Group: 1, IP: "10.0.0.1", Mask: 32},
		{ID: 2, Group: 1, IP: "10.0.0.300", Mask: 32},
		{ID: 3, Group: 1, IP: "10.0.0.0", Mask: 33},
		{ID: 4, Group: 1, IP: "2001:db8::", Mask: 129},
		{ID: 5, Group: 1, IP: "10.0.0.2", Mask: 32, Proto: "none"},
		{ID: 6, Group: 1, IP: "10.0.0.3", Mask: 32, Proto: "carrier-pigeon"},
		{ID: 7, Group: 1, IP: "", Mask: 32},
	}
	a, err := permission.NewAddresses(permission.NewMemStore(rows...))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := a.Reload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := rep.Discarded
	if a.Len() != 1 || rep.Loaded != 1 || len(d) != 6 {
		t.Fatalf("loaded %d, discarded %+v; want 1 and 6", a.Len(), d)
	}
	for i, want := range []string{"2", "3", "4", "5", "6", "7"} {
		if d[i].ID != want || d[i].Reason == "" || d[i].Table != "address" {
			t.Errorf("discard %d: got %+v, want id %s with a reason", i, d[i], want)
		}
		if err := permission.ValidateAddress(rows[i+1]); err == nil || err.Error() != d[i].Reason {
			t.Errorf("ValidateAddress(row %s): got %v, want %q", want, err, d[i].Reason)
		}
	}
	if err := permission.ValidateAddress(rows[0]); err != nil {
		t.Errorf("ValidateAddress of a good row: %v", err)
	}
}

// TestManySubnets: OpenSIPS before 3.6 kept 128 subnets per group; Palio
// keeps them all.
func TestManySubnets(t *testing.T) {
	var rows []permission.Address
	for i := range 2000 {
		rows = append(rows, permission.Address{Group: 1, IP: fmt.Sprintf("10.%d.%d.0", i/256, i%256), Mask: 24, ContextInfo: fmt.Sprint(i)})
	}
	a, _ := permission.NewAddresses(permission.NewMemStore(rows...))
	for _, i := range []int{0, 127, 128, 1999} {
		ip := netip.MustParseAddr(fmt.Sprintf("10.%d.%d.77", i/256, i%256))
		if m, err := a.CheckAddress(1, ip, 0, "any", ""); err != nil || m.ContextInfo != fmt.Sprint(i) {
			t.Errorf("subnet %d: got %+v %v", i, m, err)
		}
	}
}

func TestSourceStage(t *testing.T) {
	a, _ := permission.NewAddresses(permission.NewMemStore(unisiAddresses()...))
	var got permission.Source
	next := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		got, _ = permission.SourceFrom(ctx)
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	})
	tests := []struct {
		name        string
		cfg         permission.SourceConfig
		src         string
		wantCode    int
		wantTrusted bool
		wantInfo    string
	}{
		{"gateway is trusted", permission.SourceConfig{Trusted: []int{1, 2, 3}}, "10.10.1.1:5060", 200, true, "gw-siena-1"},
		{"phone passes on untrusted", permission.SourceConfig{Trusted: []int{1, 2, 3}}, "172.20.1.26:5060", 200, false, ""},
		{"stranger rejected", permission.SourceConfig{Trusted: []int{1}, RejectUntrusted: true}, "8.8.8.8:5060", 403, false, ""},
		{"any group trusted", permission.SourceConfig{}, "172.20.1.26:5060", 200, true, "lan-host"},
		{"pattern applies to the R-URI", permission.SourceConfig{Trusted: []int{2}, MatchPattern: true}, "192.0.2.7:5060", 200, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = permission.Source{}
			r := siptest.NewRequest(sip.INVITE, "sip:5002@voip.unisi.it")
			r.SetSource(tt.src)
			rec, err := siptest.Serve(context.Background(), a.Source(tt.cfg)(next), r)
			if c := siptest.Code(rec, err); c != tt.wantCode {
				t.Fatalf("code: got %d, want %d", c, tt.wantCode)
			}
			if tt.wantCode != 200 {
				return
			}
			if got.Trusted != tt.wantTrusted || got.ContextInfo != tt.wantInfo {
				t.Errorf("source: got %+v, want trusted=%v info=%q", got, tt.wantTrusted, tt.wantInfo)
			}
			if permission.TrustedSource(permission.NewContext(context.Background(), got), r) != tt.wantTrusted {
				t.Error("TrustedSource disagrees")
			}
		})
	}
}

type flakyStore struct {
	*permission.MemStore
	mu   sync.Mutex
	down bool
}

func (f *flakyStore) Addresses(ctx context.Context) ([]permission.Address, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.New("database is gone")
	}
	return f.MemStore.Addresses(ctx)
}

func TestReloadKeepsTable(t *testing.T) {
	st := &flakyStore{MemStore: permission.NewMemStore(unisiAddresses()...)}
	a, _ := permission.NewAddresses(st)
	st.down = true
	if _, err := a.Reload(context.Background()); err == nil {
		t.Fatal("no error from a failing store")
	}
	if _, err := a.CheckAddress(1, netip.MustParseAddr("10.10.1.1"), 5060, "udp", ""); err != nil {
		t.Errorf("the running table was lost: %v", err)
	}
}

func TestReloadUnderChecks(t *testing.T) {
	st := permission.NewMemStore(unisiAddresses()...)
	a, _ := permission.NewAddresses(st)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := netip.MustParseAddr("10.10.1.1")
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := a.CheckAddress(1, ip, 5060, "udp", ""); err != nil {
					t.Error("a check saw a table without the gateway")
					return
				}
			}
		}()
	}
	for i := range 50 {
		st.AddAddress(context.Background(), permission.Address{Group: 5, IP: fmt.Sprintf("10.99.0.%d", i), Mask: 32})
		if _, err := a.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func BenchmarkSourceStage(b *testing.B) {
	var rows []permission.Address
	for i := range 10000 {
		rows = append(rows, permission.Address{Group: 1 + i%5, IP: fmt.Sprintf("10.%d.%d.0", i/256, i%256), Mask: 24})
	}
	rows = append(rows, permission.Address{Group: 1, IP: "127.0.0.1", Mask: 32})
	a, _ := permission.NewAddresses(permission.NewMemStore(rows...))
	h := a.Source(permission.SourceConfig{Trusted: []int{1}})(sip.HandlerFunc(func(context.Context, sip.ResponseWriter, *sip.Request) error { return nil }))
	r := siptest.NewRequest(sip.INVITE, "sip:5002@127.0.0.1")
	r.SetSource("127.0.0.1:5070")
	ctx := context.Background()
	w := siptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeSIP(ctx, w, r)
	}
}

func TestParseCIDR(t *testing.T) {
	tests := []struct {
		in       string
		ip       string
		mask     int
		wantFail bool
	}{
		{in: "10.0.0.0/8", ip: "10.0.0.0", mask: 8},
		{in: "192.0.2.7", ip: "192.0.2.7", mask: 32},
		{in: "2001:db8::/32", ip: "2001:db8::", mask: 32},
		{in: "2001:db8::1", ip: "2001:db8::1", mask: 128},
		{in: " 198.51.100.0/24 ", ip: "198.51.100.0", mask: 24},
		{in: "10.0.0.0/33", wantFail: true},
		{in: "10.0.0.0/-1", wantFail: true},
		{in: "10.0.0.0/x", wantFail: true},
		{in: "gw.unisi.it", wantFail: true},
		{in: "", wantFail: true},
		{in: "10.0.0.1/8", wantFail: true}, // host bits set
		{in: "2001:db8::1/32", wantFail: true},
		{in: "10.0.0.1/32", ip: "10.0.0.1", mask: 32},
	}
	for _, tt := range tests {
		ip, mask, err := permission.ParseCIDR(tt.in)
		if tt.wantFail {
			if err == nil {
				t.Errorf("ParseCIDR(%q): got %s/%d, want an error", tt.in, ip, mask)
			}
			continue
		}
		if err != nil || ip != tt.ip || mask != tt.mask {
			t.Errorf("ParseCIDR(%q): got %s/%d %v, want %s/%d", tt.in, ip, mask, err, tt.ip, tt.mask)
		}
	}
}

func TestCheckNewAddress(t *testing.T) {
	existing := []permission.Address{
		{ID: 1, Group: 1, IP: "198.51.100.11", Mask: 32},
		{ID: 2, Group: 3, IP: "127.0.0.1", Mask: 32, Port: 5080, Proto: "udp"},
	}
	trusted := []int{1, 2, 3, 4}
	for _, tt := range []struct {
		name string
		a    permission.Address
		err  string
		warn string
	}{
		{"new host in a trusted group", permission.Address{Group: 1, IP: "198.51.100.12", Mask: 32}, "", ""},
		{"trusted group without rows", permission.Address{Group: 4, IP: "198.51.100.41", Mask: 32}, "", ""},
		{"same row", permission.Address{Group: 1, IP: "198.51.100.11", Mask: 32, Proto: "ANY"}, "address 1", ""},
		{"same row, other port", permission.Address{Group: 1, IP: "198.51.100.11", Mask: 32, Port: 5060}, "", ""},
		{"same row, proto spelled out", permission.Address{Group: 3, IP: "127.0.0.1", Mask: 32, Port: 5080, Proto: "UDP"}, "address 2", ""},
		{"new group", permission.Address{Group: 7, IP: "10.0.0.0", Mask: 8}, "", "group 7 is new"},
		{"invalid", permission.Address{Group: 1, IP: "gw", Mask: 32}, "not an IPv4", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			warns, err := permission.CheckNewAddress(existing, tt.a, trusted)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			got := strings.Join(warns, "; ")
			if tt.warn == "" && got != "" || !strings.Contains(got, tt.warn) {
				t.Errorf("warnings = %q, want %q", got, tt.warn)
			}
		})
	}
}
