package routing

import (
	"cmp"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palio-voip/palio/internal/digits"
	"github.com/palio-voip/palio/internal/timerec"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/snapshot"
)

// table is one immutable compilation of a Store's Data: what Route reads.
// The running state of gateways and carriers (enabled, calls in progress)
// lives in their gwState and crState, which survive reloads.
type table struct {
	gws    []*gateway // by row ID
	gwByID map[string]*gateway
	crs    []*carrier // by row ID
	crByID map[string]*carrier
	groups map[int]*groupIndex

	members map[memberKey]int // dr_groups, by user and lower-case domain ("" with IgnoreDomain)

	alphabet [256]bool // bytes a prefix and a routable number may hold
}

type memberKey struct{ user, domain string }

// gateway is a compiled dr_gateways row.
type gateway struct {
	row       Gateway
	uri       sip.URI // scheme, host, port and parameters of the address; no user
	transport string  // from the socket's proto; "" to follow the URI
	rt        *gwState
	carriers  []*carrier // the carriers listing this gateway
	capped    bool       // the gateway or one of its carriers has a channel limit
	// placeholder: the address is a placeholder (Gateway.Placeholder),
	// never probed, never a destination.
	placeholder bool
}

// carrier is a compiled dr_carriers row.
type carrier struct {
	row       Carrier
	list      []entry // gateways only
	weighted  bool
	firstOnly bool
	off       bool // by its flags; its running state is rt.state
	rt        *crState
}

// rule is a compiled dr_rules row.
type rule struct {
	row      Rule
	tr       *timerec.Expr // nil: always valid
	list     []entry
	weighted bool
	maxDests int // destinations the list can expand to
}

// entry is one gwlist entry: a gateway or a carrier, with its weight.
type entry struct {
	gw     *gateway
	cr     *carrier
	weight int
}

// groupIndex holds the rules of one caller group.
type groupIndex struct {
	// trie maps each prefix that has rules for the group to its node; the
	// prefix-less rules, if any, sit at the root ("").
	trie digits.Trie[*prefixNode]
}

// prefixNode holds the rules of one group under one prefix.
type prefixNode struct {
	prefix string
	rules  []*rule // priority descending, then id ascending
	// parent is the node of the longest shorter prefix with rules for the
	// group (the prefix-less node last); nil at the end of the chain.
	parent *prefixNode
}

// Problem is something a reload left out: a row that cannot work
// (Discarded), or a part of a row (an unknown id in a gwlist, which is
// dropped, or a setting Palio does not support).
type Problem struct {
	// Table is the table of the row: dr_gateways, dr_carriers, dr_rules or
	// dr_groups.
	Table string
	// ID identifies the row: its gwid, carrierid, ruleid or id.
	ID string
	// Discarded reports whether the whole row was left out.
	Discarded bool
	// Reason says what is wrong.
	Reason string
	// Dangling reports a gwlist entry naming a gateway or carrier that
	// does not exist (the entry is dropped; the row stays).
	Dangling bool
}

// String returns "table id: reason", with "(discarded)" for a row left
// out.
func (p Problem) String() string {
	s := p.Table + " " + p.ID + ": " + p.Reason
	if p.Discarded {
		s += " (discarded)"
	}
	return s
}

// Report says what a reload loaded and what it left out.
type Report struct {
	// Gateways, Carriers, Rules and Groups count the rows loaded.
	Gateways, Carriers, Rules, Groups int
	// Problems lists the rows and parts of rows left out, in table order.
	Problems []Problem
	// Took is how long the reload took (zero from compile alone).
	Took time.Duration
}

// Summary is the report in the form every component gives: the rows
// loaded in all, and the rows left out.
func (r Report) Summary() snapshot.Report {
	out := snapshot.Report{Component: "routing", Loaded: r.Gateways + r.Carriers + r.Rules + r.Groups, Took: r.Took}
	for _, p := range r.Problems {
		if p.Discarded {
			out.Discarded = append(out.Discarded, snapshot.Discard{Table: p.Table, ID: p.ID, Reason: p.Reason})
		}
	}
	return out
}

// Discarded returns the number of rows left out.
func (r Report) Discarded() int {
	n := 0
	for _, p := range r.Problems {
		if p.Discarded {
			n++
		}
	}
	return n
}

// String summarises the report: "loaded dr_gateways 11, dr_carriers 2,
// dr_rules 11, dr_groups 1 (0 discarded, 0 other problems)".
func (r Report) String() string {
	d := r.Discarded()
	return fmt.Sprintf("loaded dr_gateways %d, dr_carriers %d, dr_rules %d, dr_groups %d (%d discarded, %d other problems)",
		r.Gateways, r.Carriers, r.Rules, r.Groups, d, len(r.Problems)-d)
}

// Check compiles d as a reload with cfg would, without a Router, and
// returns what the reload would report: the rows it would leave out and
// the gwlist entries that name nothing. An import uses it to refuse data
// before it is committed.
func Check(cfg Config, d Data) Report {
	_, rep := compile(d, compileOptions{extraPrefixChars: cfg.ExtraPrefixChars, ignoreDomain: cfg.IgnoreDomain})
	return rep
}

// ValidateGateway reports why a dr_gateways row cannot be loaded: a gwid
// that is not an id, a negative strip or channel count, an unknown
// probe_mode or state, an address that is not [sip:][user@]host[:port],
// or TLS settings that cannot be right (tls_ca not an absolute path,
// tls_fingerprint not a SHA-256 fingerprint, tls_server_name not a DNS
// name or, for a gateway addressed by name, another name). It reads no
// file: ValidateGatewayFiles does.
func ValidateGateway(g Gateway) error {
	_, err := compileGateway(g)
	return err
}

// ValidateGatewayFiles reports why the files a gateway row names cannot
// be used: a tls_ca that is missing, unreadable or holds no PEM
// certificate. Run it where the proxy runs (the path is the proxy's),
// after ValidateGateway.
func ValidateGatewayFiles(g Gateway) error {
	if g.TLS.CAFile == "" {
		return nil
	}
	if err := sip.CheckCAFile(g.TLS.CAFile); err != nil {
		return fmt.Errorf("tls_ca %q: %w", g.TLS.CAFile, err)
	}
	return nil
}

// compileOptions are the Config settings that shape a table.
type compileOptions struct {
	extraPrefixChars string
	ignoreDomain     bool
}

// compile builds a table from d. Rows that cannot work are left out and
// reported; compile itself never fails.
func compile(d Data, o compileOptions) (*table, Report) {
	b := &builder{t: &table{
		gwByID:  make(map[string]*gateway, len(d.Gateways)),
		crByID:  make(map[string]*carrier, len(d.Carriers)),
		groups:  make(map[int]*groupIndex),
		members: make(map[memberKey]int, len(d.Groups)),
	}}
	for c := '0'; c <= '9'; c++ {
		b.t.alphabet[c] = true
	}
	for i := 0; i < len(o.extraPrefixChars); i++ {
		b.t.alphabet[o.extraPrefixChars[i]] = true
	}
	b.gateways(d.Gateways)
	b.carriers(d.Carriers)
	b.rules(d.Rules)
	b.members(d.Groups, o.ignoreDomain)
	return b.t, b.rep
}

// builder compiles one table.
type builder struct {
	t   *table
	rep Report
}

func (b *builder) problem(table, id string, discarded bool, format string, args ...any) {
	b.rep.Problems = append(b.rep.Problems, Problem{Table: table, ID: id, Discarded: discarded, Reason: fmt.Sprintf(format, args...)})
}

// dangling records a gwlist entry that names no gateway or carrier.
func (b *builder) dangling(table, id string, format string, args ...any) {
	b.rep.Problems = append(b.rep.Problems, Problem{Table: table, ID: id, Dangling: true, Reason: fmt.Sprintf(format, args...)})
}

func (b *builder) gateways(rows []Gateway) {
	t := b.t
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b Gateway) int { return cmp.Compare(a.ID, b.ID) })
	for _, g := range rows {
		cg, err := compileGateway(g)
		if err == nil && t.gwByID[g.GWID] != nil {
			err = fmt.Errorf("gwid already used by an earlier row")
		}
		if err != nil {
			b.problem("dr_gateways", idOr(g.GWID, g.ID), true, "%v", err)
			continue
		}
		if strings.TrimSpace(g.Socket) != "" && cg.transport == "" {
			b.problem("dr_gateways", g.GWID, false, "socket %q names no protocol (udp, tcp, tls, ws, wss): the address decides the transport", g.Socket)
		}
		if !g.TLS.IsZero() && !cg.secure() {
			b.problem("dr_gateways", g.GWID, false, "tls_ca, tls_fingerprint and tls_server_name are not used: the gateway is not dialled over TLS (a sips: address, transport=tls or a tls: socket)")
		}
		t.gwByID[g.GWID] = cg
		t.gws = append(t.gws, cg)
	}
	b.rep.Gateways = len(t.gws)
}

func (b *builder) carriers(rows []Carrier) {
	t := b.t
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b Carrier) int { return cmp.Compare(a.ID, b.ID) })
	for _, c := range rows {
		if cc := b.carrier(c); cc != nil {
			for _, e := range cc.list {
				if !slices.Contains(e.gw.carriers, cc) {
					e.gw.carriers = append(e.gw.carriers, cc)
				}
			}
			t.crByID[c.CarrierID] = cc
			t.crs = append(t.crs, cc)
		}
	}
	b.rep.Carriers = len(t.crs)
	for _, g := range t.gws {
		g.capped = g.row.Channels > 0
		for _, c := range g.carriers {
			if c.row.Channels > 0 {
				g.capped = true
			}
		}
	}
}

// carrier compiles one carrier, or reports why it cannot.
func (b *builder) carrier(c Carrier) *carrier {
	id := idOr(c.CarrierID, c.ID)
	switch {
	case !ValidID(c.CarrierID):
		b.problem("dr_carriers", id, true, "carrierid %q: want 1 to 64 letters, digits, '_', '-', '.'", c.CarrierID)
		return nil
	case b.t.crByID[c.CarrierID] != nil:
		b.problem("dr_carriers", id, true, "carrierid already used by an earlier row")
		return nil
	case c.Channels < 0:
		b.problem("dr_carriers", id, true, "channels %d: want 0 (no limit) or more", c.Channels)
		return nil
	}
	list, err := ParseGWList(c.GWList)
	if err != nil {
		b.problem("dr_carriers", id, true, "%v", err)
		return nil
	}
	cc := &carrier{row: c, firstOnly: c.Flags&CarrierFirstOnly != 0, off: c.Flags&CarrierOff != 0}
	for _, e := range list {
		if e.Carrier {
			b.problem("dr_carriers", id, true, "gwlist names carrier %q: a carrier lists gateways only", e.ID)
			return nil
		}
	}
	for _, e := range list {
		g := b.t.gwByID[e.ID]
		if g == nil {
			b.dangling("dr_carriers", id, "gwlist: unknown gateway %q dropped", e.ID)
			continue
		}
		cc.list = append(cc.list, entry{gw: g, weight: e.Weight})
	}
	var ok bool
	if cc.weighted, ok = sortWeighted(c.SortAlg); !ok {
		b.problem("dr_carriers", id, false, "sort_alg %q not supported: the list keeps its order", string(c.SortAlg))
	}
	return cc
}

func (b *builder) rules(rows []Rule) {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b Rule) int { return cmp.Compare(a.ID, b.ID) })
	nodes := make(map[int]map[string]*prefixNode) // by group, by prefix
	for _, r := range rows {
		cr, groups := b.rule(r)
		if cr == nil {
			continue
		}
		for _, g := range groups {
			byPrefix := nodes[g]
			if byPrefix == nil {
				byPrefix = make(map[string]*prefixNode)
				nodes[g] = byPrefix
			}
			n := byPrefix[r.Prefix]
			if n == nil {
				n = &prefixNode{prefix: r.Prefix}
				byPrefix[r.Prefix] = n
			}
			if !slices.Contains(n.rules, cr) { // "1,1" lists a group twice
				n.rules = append(n.rules, cr)
			}
		}
		b.rep.Rules++
	}
	for g, byPrefix := range nodes {
		gi := &groupIndex{}
		for _, n := range byPrefix {
			slices.SortStableFunc(n.rules, func(a, b *rule) int {
				if c := cmp.Compare(b.row.Priority, a.row.Priority); c != 0 {
					return c
				}
				return cmp.Compare(a.row.ID, b.row.ID)
			})
			gi.trie.Set(n.prefix, n)
		}
		for _, n := range byPrefix {
			if n.prefix != "" {
				n.parent, _, _ = gi.trie.Longest(n.prefix[:len(n.prefix)-1])
			}
		}
		gi.trie.Compact()
		b.t.groups[g] = gi
	}
}

// rule compiles one rule and returns it with its groups, or reports why it
// cannot.
func (b *builder) rule(r Rule) (*rule, []int) {
	id := strconv.Itoa(r.ID)
	groups, err := ParseGroupIDs(r.Groups)
	if err != nil {
		b.problem("dr_rules", id, true, "%v", err)
		return nil, nil
	}
	if i := b.t.invalidPrefixChar(r.Prefix); i >= 0 {
		b.problem("dr_rules", id, true, "prefix %q: %q is not a prefix character (digits and Config.ExtraPrefixChars)", r.Prefix, r.Prefix[i])
		return nil, nil
	}
	cr := &rule{row: r}
	if strings.TrimSpace(r.TimeRec) != "" {
		if cr.tr, err = timerec.Parse(r.TimeRec); err != nil {
			b.problem("dr_rules", id, true, "timerec: %v", err)
			return nil, nil
		}
	}
	list, err := ParseGWList(r.GWList)
	if err != nil {
		b.problem("dr_rules", id, true, "%v", err)
		return nil, nil
	}
	for _, e := range list {
		if e.Carrier {
			c := b.t.crByID[e.ID]
			if c == nil {
				b.dangling("dr_rules", id, "gwlist: unknown carrier %q dropped", e.ID)
				continue
			}
			cr.list = append(cr.list, entry{cr: c, weight: e.Weight})
			cr.maxDests += len(c.list)
			continue
		}
		g := b.t.gwByID[e.ID]
		if g == nil {
			b.dangling("dr_rules", id, "gwlist: unknown gateway %q dropped", e.ID)
			continue
		}
		cr.list = append(cr.list, entry{gw: g, weight: e.Weight})
		cr.maxDests++
	}
	var ok bool
	if cr.weighted, ok = sortWeighted(r.SortAlg); !ok {
		b.problem("dr_rules", id, false, "sort_alg %q not supported: the list keeps its order", string(r.SortAlg))
	}
	return cr, groups
}

func (b *builder) members(rows []GroupMember, ignoreDomain bool) {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b GroupMember) int { return cmp.Compare(a.ID, b.ID) })
	for _, m := range rows {
		id := strconv.Itoa(m.ID)
		if m.Username == "" {
			b.problem("dr_groups", id, true, "empty username")
			continue
		}
		if m.Group < 0 {
			b.problem("dr_groups", id, true, "group %d: want 0 or more", m.Group)
			continue
		}
		k := memberKey{m.Username, strings.ToLower(m.Domain)}
		if ignoreDomain {
			k.domain = ""
		}
		if _, dup := b.t.members[k]; dup {
			b.problem("dr_groups", id, true, "%s@%s already has a group from an earlier row", m.Username, m.Domain)
			continue
		}
		b.t.members[k] = m.Group
		b.rep.Groups++
	}
}

// compileGateway checks a dr_gateways row and parses its address and
// socket.
func compileGateway(g Gateway) (*gateway, error) {
	if !ValidID(g.GWID) {
		return nil, fmt.Errorf("gwid %q: want 1 to 64 letters, digits, '_', '-', '.'", g.GWID)
	}
	if g.Strip < 0 {
		return nil, fmt.Errorf("strip %d: want 0 or more", g.Strip)
	}
	if g.Channels < 0 {
		return nil, fmt.Errorf("channels %d: want 0 (no limit) or more", g.Channels)
	}
	switch g.ProbeMode {
	case ProbeNever, ProbeWhenInactive, ProbeAlways:
	default:
		return nil, fmt.Errorf("probe_mode %d: want 0, 1 or 2", g.ProbeMode)
	}
	switch g.State {
	case StateActive, StateDisabled, StateInactive:
	default:
		return nil, fmt.Errorf("state %d: want 0, 1 or 2", g.State)
	}
	u, err := parseAddress(g.Address)
	if err != nil {
		return nil, err
	}
	if err := checkGatewayTLS(g.TLS, u.Host); err != nil {
		return nil, err
	}
	return &gateway{row: g, uri: u, transport: socketTransport(g.Socket), placeholder: isPlaceholder(g.Attrs, u)}, nil
}

// checkGatewayTLS checks the TLS columns of a gateway whose address has
// host, without reading the CA file.
func checkGatewayTLS(t GatewayTLS, host string) error {
	if t.CAFile != "" && !filepath.IsAbs(t.CAFile) {
		return fmt.Errorf("tls_ca %q: want an absolute path (the proxy reads it from its own working directory)", t.CAFile)
	}
	if t.Fingerprint != "" {
		if _, err := sip.ParseFingerprint(t.Fingerprint); err != nil {
			return fmt.Errorf("tls_fingerprint %q: want a SHA-256 fingerprint, 32 bytes in hex, colons allowed", t.Fingerprint)
		}
	}
	if t.ServerName != "" {
		if err := sip.CheckServerName(t.ServerName); err != nil {
			return fmt.Errorf("tls_server_name %q: %w", t.ServerName, err)
		}
		h := strings.Trim(host, "[]")
		if _, err := netip.ParseAddr(h); err != nil && !strings.EqualFold(strings.TrimSuffix(t.ServerName, "."), strings.TrimSuffix(h, ".")) {
			return fmt.Errorf("tls_server_name %q: the gateway is addressed by name (%s), and its certificate is checked against that name", t.ServerName, h)
		}
	}
	return nil
}

// secure reports whether the gateway is dialled over TLS or WSS: by its
// socket's proto, else by its address (a sips: URI, transport=tls or
// transport=wss).
func (g *gateway) secure() bool {
	switch g.transport {
	case "TLS", "WSS":
		return true
	case "":
	default:
		return false
	}
	if strings.EqualFold(g.uri.Scheme, "sips") {
		return true
	}
	if tp, ok := g.uri.UriParams.Get("transport"); ok {
		return strings.EqualFold(tp, "tls") || strings.EqualFold(tp, "wss")
	}
	return false
}

// parseAddress reads a gateway address: [sip:|sips:][user@]host[:port][;params].
func parseAddress(addr string) (sip.URI, error) {
	a := strings.TrimSpace(addr)
	if a == "" {
		return sip.URI{}, fmt.Errorf("address: empty")
	}
	lower := strings.ToLower(a)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		a = "sip:" + a
	} else if strings.HasPrefix(lower, "sips:") {
		a = "sips:" + a[5:]
	} else {
		a = "sip:" + a[4:]
	}
	u, err := sip.ParseURI(a)
	if err != nil {
		return sip.URI{}, fmt.Errorf("address %q: %w", addr, err)
	}
	if u.Host == "" || strings.ContainsAny(u.Host, " \t") {
		return sip.URI{}, fmt.Errorf("address %q: no host", addr)
	}
	if u.Port < 0 || u.Port > 65535 {
		return sip.URI{}, fmt.Errorf("address %q: port %d out of range", addr, u.Port)
	}
	u.User, u.Password = "", ""
	u.Headers = nil
	return u, nil
}

// socketTransport returns the transport of an OpenSIPS socket
// "proto:host:port", upper case, or "" when it names none.
func socketTransport(socket string) string {
	proto, _, ok := strings.Cut(strings.TrimSpace(socket), ":")
	if !ok {
		return ""
	}
	switch p := strings.ToUpper(proto); p {
	case "UDP", "TCP", "TLS", "WS", "WSS":
		return p
	}
	return ""
}

// sortWeighted maps a sort_alg to "weighted?", and reports false for an
// algorithm Palio does not implement (the list keeps its order).
func sortWeighted(a SortAlg) (weighted, ok bool) {
	switch a {
	case "", SortNone, "n":
		return false, true
	case SortWeight, "w":
		return true, true
	}
	return false, false
}

// invalidPrefixChar returns the offset of the first byte of s outside the
// prefix alphabet, or -1.
func (t *table) invalidPrefixChar(s string) int {
	for i := 0; i < len(s); i++ {
		if !t.alphabet[s[i]] {
			return i
		}
	}
	return -1
}

func idOr(id string, row int) string {
	if id != "" {
		return id
	}
	return "#" + strconv.Itoa(row)
}
