package permission

import (
	"net/netip"
	"strings"
	"testing"
)

// linear is the reference matcher: OpenSIPS's order spelled out without a
// trie (per group ascending: exact hosts by id, then subnets by mask
// ascending then id).
func linear(rows []Address, group int, ip netip.Addr, port int, proto, uri string) (int, bool) {
	t, _ := compile(rows)
	for _, g := range t.groups {
		if group != 0 && g != group {
			continue
		}
		var hosts, nets []Address
		for _, r := range rows {
			if r.Group != g {
				continue
			}
			rip, err := netip.ParseAddr(r.IP)
			if err != nil {
				continue
			}
			rip = rip.Unmap()
			if r.Mask < 0 || r.Mask > rip.BitLen() {
				continue
			}
			e := entry{id: r.ID, port: r.Port, proto: normProto(r.Proto), pattern: r.Pattern}
			if !protos[e.proto] || r.Port < 0 || r.Port > 65535 {
				continue
			}
			if r.Mask == rip.BitLen() {
				if rip == ip {
					hosts = append(hosts, r)
				}
			} else if rip.Is4() == ip.Is4() && netip.PrefixFrom(rip, r.Mask).Masked().Contains(ip) {
				nets = append(nets, r)
			}
		}
		for i := 1; i < len(nets); i++ {
			for j := i; j > 0 && nets[j].Mask < nets[j-1].Mask; j-- {
				nets[j], nets[j-1] = nets[j-1], nets[j]
			}
		}
		for _, r := range append(hosts, nets...) {
			e := entry{id: r.ID, port: r.Port, proto: normProto(r.Proto), pattern: r.Pattern}
			if e.admits(port, proto, uri) {
				return r.ID, true
			}
		}
	}
	return 0, false
}

func normProto(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if p == "" {
		return "any"
	}
	return p
}

// FuzzAddressMatch compares the trie with the linear reference on tables
// built from fuzzed rows.
func FuzzAddressMatch(f *testing.F) {
	f.Add(byte(10), byte(1), byte(24), byte(10), byte(1), byte(2), byte(1), uint16(5060), "udp", "sip:*")
	f.Add(byte(172), byte(20), byte(16), byte(172), byte(20), byte(1), byte(26), uint16(0), "any", "")
	f.Fuzz(func(t *testing.T, a, b, mask, x, y, z, w byte, port uint16, proto, pattern string) {
		rows := []Address{
			{ID: 1, Group: 1, IP: netip.AddrFrom4([4]byte{a, b, 0, 0}).String(), Mask: int(mask % 40), Port: int(port % 3 * 5060), Proto: proto, Pattern: pattern},
			{ID: 2, Group: 1, IP: netip.AddrFrom4([4]byte{a, 0, 0, 0}).String(), Mask: int(mask % 9)},
			{ID: 3, Group: 2, IP: netip.AddrFrom4([4]byte{x, y, z, w}).String(), Mask: 32, Proto: "udp"},
			{ID: 4, Group: 1, IP: netip.AddrFrom4([4]byte{a, b, z, 0}).String(), Mask: int(mask%8) + 24, Pattern: pattern},
		}
		tb, _ := compile(rows)
		ip := netip.AddrFrom4([4]byte{x, y, z, w})
		for _, group := range []int{0, 1, 2} {
			for _, uri := range []string{"", "sip:5002@unisi"} {
				var got int
				var ok bool
				if group == 0 {
					for _, g := range tb.groups {
						if e, m := tb.byGrp[g].match(ip, int(port), "udp", uri); m {
							got, ok = e.id, true
							break
						}
					}
				} else if g := tb.byGrp[group]; g != nil {
					if e, m := g.match(ip, int(port), "udp", uri); m {
						got, ok = e.id, true
					}
				}
				want, wok := linear(rows, group, ip, int(port), "udp", uri)
				if got != want || ok != wok {
					t.Fatalf("group %d ip %s uri %q: trie %d/%v, linear %d/%v (rows %+v)", group, ip, uri, got, ok, want, wok, rows)
				}
			}
		}
	})
}
