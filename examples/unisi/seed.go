package main

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"log/slog"
	"strings"

	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/store/sqlstore"
)

// The UniSI dialplan of the seed talk, as the talk shows it.
//
//go:embed seed/unisi-dialplan.tsv
var unisiDialplan []byte

// The UniSI routing topology, as OpenSIPS drouting dumps: the PSTN
// gateways of the three sites (one PRI, 30 channels, each; Siena's four
// form the carrier pstn-siena), the Ericsson MD110s (the carrier md110),
// the ToIP trunk and the Asterisk media box. The addresses are
// documentation addresses (RFC 5737, 198.51.100.0/24) that reach no one,
// each marked as a placeholder in its attrs (placeholder=HOST, see
// routing.Gateway.Placeholder): the server never probes them nor sends
// them a call (calls whose only destinations they are get 503), and says
// so once at start-up. Put your gateways' addresses in their place with
// "gateway set-address ID ADDRESS" (gateway list shows them) or an
// import. The media box's is on this host, so that a local Asterisk
// works out of the box. The rules
// send the outside line (0…) to the PSTN (Arezzo's and Grosseto's area
// codes to their own PRI first), 2xxxx and 80… to the MD110s, the ToIP
// range to its trunk, and 88…, FAX_…, IVR_… and VM_… (voicemail boxes) to the media box.
//
//go:embed seed/dr_gateways.tsv seed/dr_carriers.tsv seed/dr_rules.tsv seed/palio_dr_limits.tsv
var unisiRouting embed.FS

// routingTables are the routing seed files in the order they load.
var routingTables = []string{"dr_gateways", "dr_carriers", "dr_rules", "palio_dr_limits"}

// mediaRule classifies the media box's accounts: the alias stage turns the
// fax number 5500 into FAX_5500 (and IVR numbers into IVR_<n>) before the
// dialplan runs, and OpenSIPS's script sent those straight to the media box
// by matching ^FAX and ^IVR; here a rule gives them the media class.
var mediaRule = dialplan.Rule{ID: 17, DPID: 0, Priority: 0, MatchOp: dialplan.Regex, MatchExp: "^(FAX|IVR|VM|QUEUE|AGENTIN|AGENTOUT)_|^VOICEMAIL$", Attrs: "media"}

// featureCodes are the media box's feature codes, translated into its
// names: *98 the caller's voicemail menu, *45<queue> and *46<queue> an
// agent's log-in and log-out.
var featureCodes = []dialplan.Rule{
	{ID: 18, DPID: 0, Priority: 0, MatchOp: dialplan.Regex, MatchExp: `^\*98$`, SubstExp: `^\*98$`, ReplExp: "VOICEMAIL", Attrs: "media"},
	{ID: 19, DPID: 0, Priority: 0, MatchOp: dialplan.Regex, MatchExp: `^\*45[0-9]+$`, SubstExp: `^\*45([0-9]+)$`, ReplExp: `AGENTIN_\1`, Attrs: "media"},
	{ID: 20, DPID: 0, Priority: 0, MatchOp: dialplan.Regex, MatchExp: `^\*46[0-9]+$`, SubstExp: `^\*46([0-9]+)$`, ReplExp: `AGENTOUT_\1`, Attrs: "media"},
}

// demoAccount is a seeded account; its password is "unisi" + its number.
type demoAccount struct {
	user    string
	classes []string
	blocked bool
}

var demoAccounts = []demoAccount{
	{"5001", []string{"local"}, false},
	{"5002", []string{"local", "national", "mobile", "international"}, false}, // the seed's account page
	{"5003", []string{"local", "national"}, false},
	{"5004", []string{"local", "national", "mobile"}, false},
	{"5009", []string{"local"}, true}, // "Account bloccato"
	{"FAX_5500", []string{"local"}, false},
	{"IVR_5000", []string{"local"}, false},
}

// demoAddresses are the sources trusted without authentication, the
// gateways of the routing seed: the PSTN gateways of the three sites
// (group 1), the ToIP trunk (group 2), the media box (group 3) and the
// MD110s (group 4).
var demoAddresses = []permission.Address{
	{Group: 1, IP: "198.51.100.11", Mask: 32, ContextInfo: "gw-siena-1"},
	{Group: 1, IP: "198.51.100.12", Mask: 32, ContextInfo: "gw-siena-2"},
	{Group: 1, IP: "198.51.100.13", Mask: 32, ContextInfo: "gw-siena-3"},
	{Group: 1, IP: "198.51.100.14", Mask: 32, ContextInfo: "gw-siena-4"},
	{Group: 1, IP: "198.51.100.21", Mask: 32, ContextInfo: "gw-arezzo"},
	{Group: 1, IP: "198.51.100.31", Mask: 32, ContextInfo: "gw-grosseto"},
	{Group: 2, IP: "198.51.100.51", Mask: 32, ContextInfo: "toip"},
	{Group: 3, IP: "127.0.0.1", Mask: 32, Port: 5080, ContextInfo: "media-asterisk"},
	{Group: 4, IP: "198.51.100.41", Mask: 32, ContextInfo: "md110-siena"},
	{Group: 4, IP: "198.51.100.42", Mask: 32, ContextInfo: "md110-arezzo"},
	{Group: 4, IP: "198.51.100.43", Mask: 32, ContextInfo: "md110-grosseto"},
}

// The built-in media box's demo: the IVR menu behind 5000 (the alias
// 5000 → IVR_5000 above), whose 1 puts the caller in queue 5000, 2 calls
// 5002, 9 leaves 5002 a message and 0 plays the menu again (no key:
// goodbye); queue 5000, ringing 5002 and 5003 together with music on
// hold; and the demo accounts' voicemail boxes. Their PIN, 1234, is a
// demo PIN like the accounts' passwords: change it ('unisi voicemail set
// 5002 -pin ...') before real use.
var (
	demoMenu = mediabox.Menu{
		ID: "5000", Prompt: "ivr-5000",
		Keys: map[string]mediabox.Action{
			"1": {Kind: mediabox.GoQueue, Arg: "5000"},
			"2": {Kind: mediabox.Transfer, Arg: "5002"},
			"9": {Kind: mediabox.Voicemail, Arg: "5002"},
			"0": {Kind: mediabox.Repeat},
		},
		OnTimeout: mediabox.Action{Kind: mediabox.Hangup},
	}
	demoQueue = mediabox.Queue{
		ID: "5000", Strategy: mediabox.RingAll, Music: "moh",
		Members: []mediabox.Member{{Number: "5002", LoggedIn: true}, {Number: "5003", LoggedIn: true}},
	}
	demoMailboxes = []string{"5001", "5002", "5003", "5004"}
	demoPIN       = "1234"
)

// importRouting is the routing configuration imports check the routing
// tables with: the example's prefix alphabet.
var importRouting = routing.Config{ExtraPrefixChars: prefixChars}

// seedTable imports one seed file; it must load whole.
func seedTable(ctx context.Context, db *sqlstore.DB, table string, tsv []byte) error {
	rep, err := db.ImportTSV(ctx, table, bytes.NewReader(tsv), sqlstore.ImportOptions{Routing: importRouting})
	if err != nil {
		return fmt.Errorf("seed: %s: %w", table, err)
	}
	if !rep.Committed {
		why := rep.Why
		if len(rep.Rejected) > 0 {
			why += fmt.Sprintf(" (line %d: %s)", rep.Rejected[0].Line, rep.Rejected[0].Reason)
		}
		return fmt.Errorf("seed: %s: %s", table, why)
	}
	return nil
}

// seed fills an empty database with the UniSI data: the dialplan, the
// routing topology, the aliases of the media box, the trusted addresses,
// demo accounts and the media box's demo menu, queue and mailboxes. A database whose dialplan table has rows is left
// alone.
func seed(ctx context.Context, db *sqlstore.DB, domain, realm string, log *slog.Logger) error {
	rules, err := db.Dialplan().Rules(ctx)
	if err != nil {
		return err
	}
	if len(rules) > 0 {
		return markPlaceholders(ctx, db, log)
	}
	if err := seedTable(ctx, db, "dialplan", unisiDialplan); err != nil {
		return err
	}
	for _, r := range append([]dialplan.Rule{mediaRule}, featureCodes...) {
		if _, err := db.Dialplan().AddRule(ctx, r); err != nil {
			return fmt.Errorf("seed: dialplan: %w", err)
		}
	}
	for _, table := range routingTables {
		tsv, err := unisiRouting.ReadFile("seed/" + table + ".tsv")
		if err != nil {
			return err
		}
		if err := seedTable(ctx, db, table, tsv); err != nil {
			return err
		}
	}
	for _, a := range []alias.Alias{
		{AliasUsername: "5500", AliasDomain: domain, Username: "FAX_5500", Domain: domain},
		{AliasUsername: "5000", AliasDomain: domain, Username: "IVR_5000", Domain: domain},
	} {
		if _, err := db.Aliases().Add(ctx, a); err != nil {
			return fmt.Errorf("seed: alias: %w", err)
		}
	}
	for _, a := range demoAddresses {
		if _, err := db.Addresses().AddAddress(ctx, a); err != nil {
			return fmt.Errorf("seed: address: %w", err)
		}
	}
	subs := db.Subscribers(-1)
	for _, d := range demoAccounts {
		sub := registrar.NewSubscriberIn(d.user, domain, realm, "unisi"+d.user)
		sub.Classes, sub.Blocked = d.classes, d.blocked
		if err := subs.AddSubscriber(ctx, sub); err != nil {
			return fmt.Errorf("seed: account %s: %w", d.user, err)
		}
	}
	box := db.MediaBox()
	if err := box.PutQueue(ctx, demoQueue); err != nil {
		return fmt.Errorf("seed: queue: %w", err)
	}
	if err := box.PutMenu(ctx, demoMenu); err != nil {
		return fmt.Errorf("seed: IVR menu: %w", err)
	}
	for _, u := range demoMailboxes {
		if err := box.PutMailbox(ctx, mediabox.Mailbox{User: u, PIN: demoPIN}); err != nil {
			return fmt.Errorf("seed: mailbox %s: %w", u, err)
		}
	}
	if err := seedDevices(ctx, db); err != nil { // app_provisioning.go
		return err
	}
	if err := seedGuard(ctx, db); err != nil {
		return err
	}
	rules, err = db.Dialplan().Rules(ctx)
	if err != nil {
		return err
	}
	log.Info("unisi: seeded a new database", "rules", len(rules), "aliases", 2, "gateways", 11, "addresses", len(demoAddresses),
		"accounts", len(demoAccounts), "passwords", "unisi<number>, e.g. 5002/unisi5002",
		"menus", 1, "queues", 1, "mailboxes", len(demoMailboxes), "pins", demoPIN)
	return nil
}

// markPlaceholders marks the placeholder addresses of a database seeded
// before they were marked: a seeded gateway that still has the seed's
// documentation address and no mark gets it.
func markPlaceholders(ctx context.Context, db *sqlstore.DB, log *slog.Logger) error {
	st := db.Routing()
	d, err := st.Load(ctx)
	if err != nil {
		return err
	}
	seeded := map[string]routing.Gateway{}
	for _, g := range seedGatewayRows() {
		if g.Placeholder() {
			seeded[g.GWID] = g
		}
	}
	n := 0
	for _, g := range d.Gateways {
		s, ok := seeded[g.GWID]
		if !ok || g.Address != s.Address || g.Placeholder() {
			continue
		}
		attrs := s.Attrs[strings.Index(s.Attrs, "placeholder="):] // the seed's mark, its last field
		if g.Attrs != "" {
			attrs = g.Attrs + ";" + attrs
		}
		if err := st.SetGatewayAddress(ctx, g.GWID, g.Address, attrs); err != nil {
			return fmt.Errorf("seed: mark %s as a placeholder: %w", g.GWID, err)
		}
		n++
	}
	if n > 0 {
		log.Info("unisi: marked the seeded gateways' documentation addresses as placeholders", "gateways", n)
	}
	return nil
}

// seedGatewayRows reads the seed's dr_gateways.tsv: gwid, address and
// attrs.
func seedGatewayRows() []routing.Gateway {
	tsv, _ := unisiRouting.ReadFile("seed/dr_gateways.tsv")
	lines := strings.Split(strings.TrimSpace(string(tsv)), "\n")
	col := map[string]int{}
	for i, h := range strings.Split(lines[0], "\t") {
		col[h] = i
	}
	var out []routing.Gateway
	for _, ln := range lines[1:] {
		f := strings.Split(ln, "\t")
		out = append(out, routing.Gateway{GWID: f[col["gwid"]], Address: f[col["address"]], Attrs: f[col["attrs"]]})
	}
	return out
}
