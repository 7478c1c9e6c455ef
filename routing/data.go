package routing

import "strconv"

// The types in this file mirror OpenSIPS's drouting tables field for
// column, so that a store can map them 1:1 (dr_gateways v6, dr_carriers v3,
// dr_rules v4, dr_groups v2). Two fields have no OpenSIPS column:
// Gateway.Channels and Carrier.Channels, the trunk capacity, which the SQL
// store keeps in the Palio table palio_dr_limits.

// State is the state of a gateway or carrier: the state column of
// dr_gateways and dr_carriers, with OpenSIPS's values.
type State int

const (
	// StateActive: calls may be sent there.
	StateActive State = 0
	// StateDisabled: switched off by an operator (the CLI's "gateway
	// disable", OpenSIPS's dr_gw_status 0). Probing never re-enables it;
	// only an operator does.
	StateDisabled State = 1
	// StateInactive: switched off by a failed probe or a failed call
	// (Config.DisableCodes). Probing re-enables it when it answers again.
	// Carriers have no such state: any state but 0 is off for a carrier.
	StateInactive State = 2
)

// String returns "active", "disabled" or "inactive".
func (s State) String() string {
	switch s {
	case StateActive:
		return "active"
	case StateDisabled:
		return "disabled"
	case StateInactive:
		return "inactive"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// ProbeMode says when a gateway is probed with OPTIONS: the probe_mode
// column of dr_gateways.
type ProbeMode int

const (
	// ProbeNever: the gateway is never probed.
	ProbeNever ProbeMode = 0
	// ProbeWhenInactive: the gateway is probed only while it is not
	// active, so that it comes back once it answers; it goes inactive
	// when a call to it fails with one of Config.DisableCodes.
	ProbeWhenInactive ProbeMode = 1
	// ProbeAlways: the gateway is probed at every interval; a failed
	// probe makes it inactive, a good one active again.
	ProbeAlways ProbeMode = 2
)

// SortAlg orders the destinations of a rule or of a carrier: the sort_alg
// column (CHAR(1)) of dr_rules and dr_carriers.
type SortAlg string

const (
	// SortNone keeps the order of the list ('N', and the empty string).
	SortNone SortAlg = "N"
	// SortWeight orders the list at random, each entry's chance of coming
	// next proportional to its weight, without replacement ('W').
	SortWeight SortAlg = "W"
	// SortQuality is OpenSIPS's qrouting order ('Q'). Palio has no
	// qrouting: such lists keep their order, with a warning at load.
	SortQuality SortAlg = "Q"
)

// CarrierFlags are the bits of dr_carriers.flags.
type CarrierFlags int

const (
	// CarrierFirstOnly sends calls only to the first usable gateway of
	// the carrier (after the carrier's sort), never to the others.
	CarrierFirstOnly CarrierFlags = 1 << 0
	// CarrierOff switches the carrier off, as a non-zero state does.
	CarrierOff CarrierFlags = 1 << 1
)

// Gateway is a destination calls are sent to: a PSTN gateway, a PBX, a SIP
// trunk, a media server. It is a row of dr_gateways.
type Gateway struct {
	// ID is the row id (id), used only to order rows.
	ID int
	// GWID names the gateway in gwlists, logs, metrics and events (gwid,
	// unique, up to 64 characters: letters, digits, '_', '-' and '.').
	GWID string
	// Type is the gateway type, kept for the store (OpenSIPS matches it
	// in is_from_gw; Palio's routing does not read it).
	Type int
	// Address is where the gateway is: host[:port], optionally with a
	// sip: or sips: scheme and URI parameters ("172.20.0.11:5060",
	// "sip:trunk.example.net;transport=tcp"). A user part is ignored.
	Address string
	// Strip is how many leading characters of the dialled number are
	// removed before sending to this gateway (UniSI's outside-line 0).
	Strip int
	// PriPrefix is prepended to the number after Strip (pri_prefix, up to
	// 16 characters).
	PriPrefix string
	// Attrs is a free string returned with each destination (attrs).
	// Among its ';'-separated fields, "placeholder=HOST" marks the
	// address as a placeholder while its host is HOST (see Placeholder).
	Attrs string
	// ProbeMode says when the gateway is probed with OPTIONS.
	ProbeMode ProbeMode
	// State is the gateway's state as stored; the Router keeps the
	// running state (see Router.Gateways).
	State State
	// Socket is OpenSIPS's sending socket, "proto:host:port" (socket).
	// Palio sends from the listener of the transport, so only the proto
	// counts: it sets the transport of calls and probes.
	Socket string
	// Description is free text (description).
	Description string
	// Channels is the number of concurrent calls the gateway can carry
	// (30 for a PRI); 0 means no limit. It has no OpenSIPS column: SQL
	// stores keep it in palio_dr_limits.
	Channels int
	// TLS says how the proxy checks the gateway's server certificate when
	// it dials it over TLS or WSS; the zero value means the roots and the
	// host of Address. It has no OpenSIPS column: SQL stores keep it in
	// palio_dr_tls.
	TLS GatewayTLS
}

// GatewayTLS is how the proxy checks the certificate a gateway presents
// when the proxy dials it over TLS or WSS (a sip.TLSGateway keyed by the
// host of the gateway's address; see Router's WithTLS). Every dial checks
// the chain, the dates and the host; these refine it.
type GatewayTLS struct {
	// CAFile is the absolute path of a PEM bundle of the CAs that alone
	// may sign the gateway's certificate (a self-signed certificate is
	// its own CA); empty means the proxy's roots (root_ca). Column
	// tls_ca.
	CAFile string
	// Fingerprint pins the SHA-256 fingerprint of the gateway's
	// certificate (hex, colons allowed, as openssl x509 -fingerprint
	// -sha256 prints it), checked on top of the chain. Column
	// tls_fingerprint.
	Fingerprint string
	// ServerName is the DNS name the certificate of a gateway addressed
	// by IP must carry, also sent as SNI; empty means the IP address
	// itself. A gateway addressed by name is checked against that name,
	// so ServerName may only repeat it. Column tls_server_name.
	ServerName string
}

// IsZero reports whether g sets nothing.
func (g GatewayTLS) IsZero() bool { return g == GatewayTLS{} }

// Carrier is a named group of gateways that rules can use as one entry of
// their gwlist ("#id"): a row of dr_carriers.
type Carrier struct {
	// ID is the row id (id).
	ID int
	// CarrierID names the carrier (carrierid, unique, up to 64
	// characters of the same alphabet as GWID).
	CarrierID string
	// GWList lists the carrier's gateways (gwlist): ids separated by ','
	// or '|', each with an optional "=weight". It may not name carriers.
	GWList string
	// Flags holds CarrierFirstOnly and CarrierOff (flags).
	Flags CarrierFlags
	// SortAlg orders the carrier's gateways (sort_alg).
	SortAlg SortAlg
	// State is the carrier's state as stored: StateActive, or off.
	State State
	// Attrs is a free string returned with each destination reached
	// through the carrier (attrs).
	Attrs string
	// Description is free text (description).
	Description string
	// Channels is the number of concurrent calls the carrier's gateways
	// can carry together (120 for four PRIs); 0 means no limit. It has no
	// OpenSIPS column: SQL stores keep it in palio_dr_limits.
	Channels int
}

// Rule says where calls from some groups to numbers with some prefix go,
// and when: a row of dr_rules.
type Rule struct {
	// ID is the rule id (ruleid). Among rules of equal priority under one
	// prefix, the lower id is tried first.
	ID int
	// Groups lists the caller groups the rule serves (groupid, a list of
	// integers separated by ',' or '|').
	Groups string
	// Prefix is the dialled-number prefix the rule matches (prefix, up to
	// 64 characters of the prefix alphabet: digits and
	// Config.ExtraPrefixChars); empty for a rule of last resort.
	Prefix string
	// TimeRec restricts the rule to a time recurrence (timerec, OpenSIPS
	// syntax); empty means always.
	TimeRec string
	// Priority orders rules under one prefix: higher first.
	Priority int
	// RouteID names an OpenSIPS script route to run (routeid). Palio has
	// no script: it is returned in the Decision for the program to use.
	RouteID string
	// GWList lists the destinations (gwlist): gateway ids and "#"carrier
	// ids separated by ',' or '|', each with an optional "=weight".
	GWList string
	// SortAlg orders the destinations (sort_alg).
	SortAlg SortAlg
	// SortProfile is the qrouting profile (sort_profile), kept for the
	// store; Palio has no qrouting.
	SortProfile int
	// Attrs is a free string returned with the decision (attrs).
	Attrs string
	// Description is free text (description).
	Description string
}

// GroupMember puts a caller in a group: a row of dr_groups.
type GroupMember struct {
	// ID is the row id (id). When a user has several rows, the lowest id
	// wins.
	ID int
	// Username and Domain identify the caller: the user and host of the
	// From URI (username, domain).
	Username string
	Domain   string
	// Group is the caller's group (groupid).
	Group int
	// Description is free text (description).
	Description string
}

// Data is the whole routing configuration, as a Store loads it.
type Data struct {
	Gateways []Gateway     // dr_gateways (with the gateway limits of palio_dr_limits)
	Carriers []Carrier     // dr_carriers (with the carrier limits of palio_dr_limits)
	Rules    []Rule        // dr_rules
	Groups   []GroupMember // dr_groups
}

// Clone returns a copy of d that shares no slice with it.
func (d Data) Clone() Data {
	return Data{
		Gateways: append([]Gateway(nil), d.Gateways...),
		Carriers: append([]Carrier(nil), d.Carriers...),
		Rules:    append([]Rule(nil), d.Rules...),
		Groups:   append([]GroupMember(nil), d.Groups...),
	}
}
