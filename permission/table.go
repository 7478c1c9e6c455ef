package permission

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/palio-voip/palio/snapshot"
)

// entry is a compiled address row.
type entry struct {
	id      int
	group   int
	port    int
	proto   string // lower case; "any" matches all
	pattern string
	info    string
}

// groupTable holds one group's addresses: exact hosts in a hash, subnets in
// a binary trie per family. Any number of subnets (OpenSIPS before 3.6 kept
// only 128 per group).
type groupTable struct {
	hosts map[netip.Addr][]entry
	v4    *trieNode
	v6    *trieNode
}

// trieNode is a node of a binary prefix trie; entries hang at the node of
// their prefix length.
type trieNode struct {
	child   [2]*trieNode
	entries []entry
}

// table is one load of the address table: immutable once built.
type table struct {
	groups []int // ascending
	byGrp  map[int]*groupTable
	n      int
}

var protos = map[string]bool{"any": true, "udp": true, "tcp": true, "tls": true, "ws": true, "wss": true, "sctp": true}

// ValidateAddress says why the address table would leave row a out, as
// OpenSIPS does: an IP that is not one, a mask too long for its family,
// an unknown proto, a port out of range. Nil means it would load. The
// operator commands and the admin API check a row with it before writing
// it.
func ValidateAddress(a Address) error {
	_, _, err := checkRow(a)
	return err
}

// CheckNewAddress is what an operator (the CLI, the admin API) is told
// before a row is added to existing: an error for a row that is invalid
// (ValidateAddress) or that duplicates one already there (the same group,
// network, port, proto and pattern: naming its ID), and warnings for what
// is allowed but likely a mistake, such as a group that no other row has
// and that trusted does not name (its sources would be matched but not
// trusted).
func CheckNewAddress(existing []Address, a Address, trusted []int) (warnings []string, err error) {
	ip, proto, err := checkRow(a)
	if err != nil {
		return nil, err
	}
	known := slices.Contains(trusted, a.Group)
	for _, e := range existing {
		known = known || e.Group == a.Group
		eip, eproto, err := checkRow(e)
		if err != nil {
			continue
		}
		if e.Group == a.Group && eip.Compare(ip) == 0 && e.Mask == a.Mask && e.Port == a.Port && eproto == proto && e.Pattern == a.Pattern {
			return nil, fmt.Errorf("group %d already has %s/%d (port %d, proto %s): address %d", a.Group, ip, a.Mask, a.Port, proto, e.ID)
		}
	}
	if !known {
		warnings = append(warnings, fmt.Sprintf("group %d is new: no other address has it and the trusted groups %v do not name it, so its sources are not trusted", a.Group, trusted))
	}
	return warnings, nil
}

// checkRow validates a row and returns its address and proto, normalised.
func checkRow(r Address) (netip.Addr, string, error) {
	ip, err := netip.ParseAddr(strings.TrimSpace(r.IP))
	if err != nil {
		return ip, "", fmt.Errorf("ip %q is not an IPv4 or IPv6 address", r.IP)
	}
	ip = ip.Unmap()
	if bits := ip.BitLen(); r.Mask < 0 || r.Mask > bits {
		return ip, "", fmt.Errorf("mask %d is out of range for %s (0..%d)", r.Mask, r.IP, bits)
	}
	proto := strings.ToLower(strings.TrimSpace(r.Proto))
	if proto == "" {
		proto = "any"
	}
	if !protos[proto] {
		return ip, "", fmt.Errorf("proto %q is not any, udp, tcp, tls, ws, wss or sctp", r.Proto)
	}
	if r.Port < 0 || r.Port > 65535 {
		return ip, "", fmt.Errorf("port %d is out of range", r.Port)
	}
	return ip, proto, nil
}

// compile builds a table, skipping the rows OpenSIPS skips (checkRow).
func compile(rows []Address) (*table, []snapshot.Discard) {
	t := &table{byGrp: map[int]*groupTable{}}
	var discards []snapshot.Discard
	for _, r := range rows {
		ip, proto, err := checkRow(r)
		if err != nil {
			discards = append(discards, snapshot.Discard{Table: "address", ID: strconv.Itoa(r.ID), Reason: err.Error()})
			continue
		}
		bits := ip.BitLen()
		g := t.byGrp[r.Group]
		if g == nil {
			g = &groupTable{hosts: map[netip.Addr][]entry{}}
			t.byGrp[r.Group] = g
			t.groups = append(t.groups, r.Group)
		}
		e := entry{id: r.ID, group: r.Group, port: r.Port, proto: proto, pattern: r.Pattern, info: r.ContextInfo}
		if r.Mask == bits {
			g.hosts[ip] = append(g.hosts[ip], e)
		} else {
			root := &g.v4
			if ip.Is6() {
				root = &g.v6
			}
			insert(root, netip.PrefixFrom(ip, r.Mask).Masked(), e)
		}
		t.n++
	}
	slices.Sort(t.groups)
	return t, discards
}

func insert(root **trieNode, p netip.Prefix, e entry) {
	if *root == nil {
		*root = &trieNode{}
	}
	n := *root
	a := p.Addr().AsSlice()
	for i := 0; i < p.Bits(); i++ {
		b := a[i/8] >> (7 - i%8) & 1
		if n.child[b] == nil {
			n.child[b] = &trieNode{}
		}
		n = n.child[b]
	}
	n.entries = append(n.entries, e)
}

// match finds the first row of group g that admits ip/port/proto/uri: an
// exact host first, then subnets from the least specific to the most
// specific, as OpenSIPS 3.6 does.
func (g *groupTable) match(ip netip.Addr, port int, proto, uri string) (entry, bool) {
	for _, e := range g.hosts[ip] {
		if e.admits(port, proto, uri) {
			return e, true
		}
	}
	n := g.v4
	if ip.Is6() {
		n = g.v6
	}
	a := ip.As16()
	off := 0
	if ip.Is4() {
		off = 12
	}
	for i := 0; n != nil; i++ {
		for _, e := range n.entries {
			if e.admits(port, proto, uri) {
				return e, true
			}
		}
		if i == ip.BitLen() {
			break
		}
		n = n.child[a[off+i/8]>>(7-i%8)&1]
	}
	return entry{}, false
}

// admits applies a row's port, proto and pattern to a request.
func (e entry) admits(port int, proto, uri string) bool {
	if e.port != 0 && port != 0 && e.port != port {
		return false
	}
	if e.proto != "any" && proto != "any" && proto != "" && e.proto != proto {
		return false
	}
	if e.pattern != "" && uri != "" && !globMatch(e.pattern, uri) {
		return false
	}
	return true
}

// ParseCIDR reads an address row's network as an operator writes it:
// "10.0.0.0/8", "2001:db8::/32", or a bare address (one host, /32 or
// /128). It returns the address and the mask length. A network with host
// bits set ("10.0.0.1/8") is an error that names both readings.
func ParseCIDR(s string) (ip string, mask int, err error) {
	host, m, hasMask := strings.Cut(strings.TrimSpace(s), "/")
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	bits := addr.Unmap().BitLen()
	if !hasMask {
		return host, bits, nil
	}
	mask, err = strconv.Atoi(m)
	if err != nil || mask < 0 || mask > bits {
		return "", 0, fmt.Errorf("%q: mask must be 0..%d", s, bits)
	}
	if p := netip.PrefixFrom(addr, mask); p.Masked().Addr() != addr {
		// OpenSIPS would store it and match the network anyway; an operator
		// who typed it most likely meant one host or the network.
		return "", 0, fmt.Errorf("%q has host bits set: write the network, %s, or the host, %s", s, p.Masked(), addr)
	}
	return host, mask, nil
}
