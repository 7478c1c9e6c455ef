package routing

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/palio-voip/palio/sip"
)

// Decision is where a call goes: the rule chosen for it and its
// destinations in the order they are tried. Route and Explain return it;
// the stage puts it in the context of each attempt (DecisionFrom), for
// CDRs and for the pipeline's dry run.
type Decision struct {
	// Group is the caller's group and Number the dialled number (the
	// Request-URI user) the rule was chosen for.
	Group  int
	Number string
	// Rule is the id of the chosen rule, Prefix the prefix it matched
	// ("" for a prefix-less rule), Priority its priority.
	Rule     int
	Prefix   string
	Priority int
	// Attrs and RouteID are the rule's attrs and routeid columns.
	Attrs   string
	RouteID string
	// Destinations are the usable gateways, in the order they are tried:
	// the rule's list sorted by its sort_alg, carriers expanded in place
	// (their gateways sorted by the carrier's sort_alg).
	Destinations []Destination
	// Skipped lists the entries of the rule left out, and why.
	Skipped []Skipped
	// Attempt is, in the context of the stage's next handler, the index in
	// Destinations of the destination being tried; 0 elsewhere.
	Attempt int

	// Where the rule sits, for rule fallback.
	node  *prefixNode
	index int
}

// Destination is one gateway a call may be sent to.
type Destination struct {
	// Gateway is the gateway's GWID.
	Gateway string
	// Carrier is the CarrierID the gateway was reached through, or "" when
	// the rule lists the gateway itself.
	Carrier string
	// Weight is the entry's weight in the list it came from.
	Weight int
	// User is the number sent to the gateway: the dialled number without
	// the gateway's Strip leading characters, after its PriPrefix.
	User string
	// Attrs and CarrierAttrs are the attrs of the gateway and of the
	// carrier.
	Attrs, CarrierAttrs string

	gw *gateway
}

// Target returns the target the stage hands the Forwarder for d: the
// Request-URI sip:User@address (scheme, host, port and parameters of the
// gateway's address), the transport of the gateway's socket, and the
// gateway's id, which the dialog table records for trunk counting and
// CDRs.
func (d Destination) Target() sip.Target {
	if d.gw == nil {
		return sip.Target{Gateway: d.Gateway}
	}
	u := d.gw.uri
	u.User = d.User
	u.UriParams = u.UriParams.Clone()
	return sip.Target{URI: u, Transport: d.gw.transport, Gateway: d.Gateway}
}

// String returns "gwid (User@address)", with "via #carrier" when reached
// through a carrier.
func (d Destination) String() string {
	s := d.Gateway + " (" + d.User + "@"
	if d.gw != nil {
		s += d.gw.row.Address
	}
	s += ")"
	if d.Carrier != "" {
		s += " via #" + d.Carrier
	}
	return s
}

// Skipped is an entry of a rule that is not tried, and why.
type Skipped struct {
	// Gateway and Carrier name the entry: a gateway (of a carrier, when
	// Carrier is set too) or a whole carrier (Gateway empty).
	Gateway, Carrier string
	// Reason says why: "disabled", "inactive", "placeholder address"
	// (Gateway.Placeholder), "full: 30 of 30 channels", "carrier off"...
	Reason string
}

// String says which rule was chosen: "group 0, number 0577232111: rule
// 10, prefix 00, priority 0, attrs national".
func (d *Decision) String() string {
	prefix := d.Prefix
	if prefix == "" {
		prefix = "(none)"
	}
	attrs := d.Attrs
	if attrs == "" {
		attrs = "-"
	}
	return fmt.Sprintf("group %d, number %s: rule %d, prefix %s, priority %d, attrs %s", d.Group, d.Number, d.Rule, prefix, d.Priority, attrs)
}

// String says what was left out: "gw-arezzo\tinactive", "gw-siena-1 via
// #pstn-siena\tfull: 30 of 30 channels", "#pstn\tcarrier off".
func (s Skipped) String() string {
	name := s.Gateway
	switch {
	case name == "":
		name = "#" + s.Carrier
	case s.Carrier != "":
		name += " via #" + s.Carrier
	}
	return name + "\t" + s.Reason
}

// ordered is a destination in the order the stage tries it, for the
// call's trace: "1\tgw-siena-1 via #pstn-siena\tsip:0577232111@...".
type ordered struct {
	n   int
	dst Destination
}

func (o ordered) String() string {
	via := ""
	if o.dst.Carrier != "" {
		via = " via #" + o.dst.Carrier
	}
	tg := o.dst.Target()
	return strconv.Itoa(o.n) + "\t" + o.dst.Gateway + via + "\t" + tg.String()
}

// trace writes the decision into the call's record: the rule, then each
// destination in order and each entry left out.
func (d *Decision) trace(call *sip.Call) {
	if call == nil {
		return
	}
	call.SetRule(strconv.Itoa(d.Rule))
	call.Trace("routing", d)
	// One allocation for the destinations' lines, none for the skipped
	// ones: the trace points into d.
	lines := make([]ordered, len(d.Destinations))
	for i, dst := range d.Destinations {
		lines[i] = ordered{i + 1, dst}
		call.Trace("destination", &lines[i])
	}
	for i := range d.Skipped {
		call.Trace("skipped", &d.Skipped[i])
	}
}

type decisionKey struct{}

// NewContext returns a context carrying d.
func NewContext(ctx context.Context, d Decision) context.Context {
	return context.WithValue(ctx, decisionKey{}, &d)
}

// DecisionFrom returns the decision the routing stage placed in ctx for
// the attempt in progress.
func DecisionFrom(ctx context.Context) (Decision, bool) {
	d, ok := ctx.Value(decisionKey{}).(*Decision)
	if !ok {
		return Decision{}, false
	}
	return *d, true
}

// first finds the first rule for a call and builds its decision.
func (r *Router) first(t *table, group int, number string, now time.Time) (Decision, bool) {
	gi := t.groups[group]
	if gi == nil {
		return Decision{}, false
	}
	var n *prefixNode
	switch {
	case t.invalidPrefixChar(number) >= 0:
		if r.cfg.ExactLength {
			return Decision{}, false
		}
		n, _ = gi.trie.Get("")
	case r.cfg.ExactLength:
		if number == "" {
			return Decision{}, false
		}
		n, _ = gi.trie.Get(number)
	default:
		n, _, _ = gi.trie.Longest(number)
	}
	n, i, ok := r.find(n, 0, now)
	if !ok {
		return Decision{}, false
	}
	return r.decide(group, number, n, i), true
}

// next finds the rule after d's for rule fallback.
func (r *Router) next(t *table, d Decision, now time.Time) (Decision, bool) {
	if d.node == nil {
		return Decision{}, false
	}
	n, i, ok := r.find(d.node, d.index+1, now)
	if !ok {
		return Decision{}, false
	}
	return r.decide(d.Group, d.Number, n, i), true
}

// find returns the first time-valid rule at node n from index i on, then
// up the chain of shorter prefixes (not with ExactLength).
func (r *Router) find(n *prefixNode, i int, now time.Time) (*prefixNode, int, bool) {
	for n != nil {
		for ; i < len(n.rules); i++ {
			if tr := n.rules[i].tr; tr == nil || tr.Match(now) {
				return n, i, true
			}
		}
		if r.cfg.ExactLength {
			break
		}
		n, i = n.parent, 0
	}
	return nil, 0, false
}

// decide builds the decision for rule n.rules[i].
func (r *Router) decide(group int, number string, n *prefixNode, i int) Decision {
	rl := n.rules[i]
	d := Decision{
		Group: group, Number: number,
		Rule: rl.row.ID, Prefix: rl.row.Prefix, Priority: rl.row.Priority,
		Attrs: rl.row.Attrs, RouteID: rl.row.RouteID,
		node: n, index: i,
	}
	if rl.maxDests > 0 {
		d.Destinations = make([]Destination, 0, rl.maxDests)
	}
	var buf [16]int
	for _, k := range r.order(rl.list, rl.weighted, buf[:0]) {
		e := rl.list[k]
		if e.gw != nil {
			r.add(&d, e.gw, nil, e.weight)
			continue
		}
		c := e.cr
		if c.off || c.rt.load() != StateActive {
			d.Skipped = append(d.Skipped, Skipped{Carrier: c.row.CarrierID, Reason: "carrier off"})
			continue
		}
		var cbuf [16]int
		added := false
		for _, ck := range r.order(c.list, c.weighted, cbuf[:0]) {
			ce := c.list[ck]
			if added && c.firstOnly {
				break
			}
			added = r.add(&d, ce.gw, c, ce.weight) || added
		}
	}
	return d
}

// add appends gateway g (of carrier c, if not nil) to d's destinations,
// or to its skipped entries when it cannot take the call now.
func (r *Router) add(d *Decision, g *gateway, c *carrier, weight int) bool {
	crid := ""
	if c != nil {
		crid = c.row.CarrierID
	}
	if g.placeholder {
		d.Skipped = append(d.Skipped, Skipped{Gateway: g.row.GWID, Carrier: crid, Reason: reasonPlaceholder})
		return false
	}
	if st := g.rt.load(); st != StateActive {
		d.Skipped = append(d.Skipped, Skipped{Gateway: g.row.GWID, Carrier: crid, Reason: st.String()})
		return false
	}
	if f, full := r.full(g); full {
		d.Skipped = append(d.Skipped, Skipped{Gateway: g.row.GWID, Carrier: crid, Reason: f.String()})
		return false
	}
	dst := Destination{Gateway: g.row.GWID, Carrier: crid, Weight: weight, User: rewrite(d.Number, g.row.Strip, g.row.PriPrefix), Attrs: g.row.Attrs, gw: g}
	if c != nil {
		dst.CarrierAttrs = c.row.Attrs
	}
	d.Destinations = append(d.Destinations, dst)
	return true
}

// rewrite applies a gateway's strip and pri_prefix to number.
func rewrite(number string, strip int, pri string) string {
	number = number[min(strip, len(number)):]
	if pri == "" {
		return number
	}
	return pri + number
}
