package permission

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
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

// Discard is a row that was not loaded, and why.
type Discard struct {
	ID     int
	Reason string
}

var protos = map[string]bool{"any": true, "udp": true, "tcp": true, "tls": true, "ws": true, "wss": true, "sctp": true}

// compile builds a table, skipping the rows OpenSIPS skips: a bad IP, a
// mask too long for the family, an unknown proto or "none".
func compile(rows []Address) (*table, []Discard) {
	t := &table{byGrp: map[int]*groupTable{}}
	var discards []Discard
	for _, r := range rows {
		ip, err := netip.ParseAddr(strings.TrimSpace(r.IP))
		if err != nil {
			discards = append(discards, Discard{r.ID, fmt.Sprintf("ip %q is not an IPv4 or IPv6 address", r.IP)})
			continue
		}
		ip = ip.Unmap()
		bits := ip.BitLen()
		if r.Mask < 0 || r.Mask > bits {
			discards = append(discards, Discard{r.ID, fmt.Sprintf("mask %d is out of range for %s (0..%d)", r.Mask, r.IP, bits)})
			continue
		}
		proto := strings.ToLower(strings.TrimSpace(r.Proto))
		if proto == "" {
			proto = "any"
		}
		if !protos[proto] {
			discards = append(discards, Discard{r.ID, fmt.Sprintf("proto %q is not any, udp, tcp, tls, ws, wss or sctp", r.Proto)})
			continue
		}
		if r.Port < 0 || r.Port > 65535 {
			discards = append(discards, Discard{r.ID, fmt.Sprintf("port %d is out of range", r.Port)})
			continue
		}
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
