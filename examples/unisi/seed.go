package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"log/slog"

	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/store/sqlstore"
)

// The UniSI dialplan of the seed talk, as the talk shows it.
//
//go:embed seed/unisi-dialplan.tsv
var unisiDialplan []byte

// mediaRule classifies the media box's accounts: the alias stage turns the
// fax number 5500 into FAX_5500 (and IVR numbers into IVR_<n>) before the
// dialplan runs, and OpenSIPS's script sent those straight to the media box
// by matching ^FAX and ^IVR; here a rule gives them the media class.
var mediaRule = dialplan.Rule{ID: 17, DPID: 0, Priority: 0, MatchOp: dialplan.Regex, MatchExp: "^(FAX|IVR)_", Attrs: "media"}

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

// demoAddresses: the PSTN gateways of the three sites (group 1), the ToIP
// trunk (group 2), the media box (group 3). Addresses are illustrative.
var demoAddresses = []permission.Address{
	{Group: 1, IP: "10.10.1.1", Mask: 32, ContextInfo: "gw-siena-1"},
	{Group: 1, IP: "10.10.1.2", Mask: 32, ContextInfo: "gw-siena-2"},
	{Group: 1, IP: "10.10.1.3", Mask: 32, ContextInfo: "gw-siena-3"},
	{Group: 1, IP: "10.10.1.4", Mask: 32, ContextInfo: "gw-siena-4"},
	{Group: 1, IP: "10.20.1.1", Mask: 32, ContextInfo: "gw-arezzo"},
	{Group: 1, IP: "10.30.1.1", Mask: 32, ContextInfo: "gw-grosseto"},
	{Group: 2, IP: "192.0.2.10", Mask: 32, ContextInfo: "toip"},
	{Group: 3, IP: "127.0.0.1", Mask: 32, Port: 5080, ContextInfo: "mediabox"},
}

// seed fills an empty database with the UniSI data: the dialplan, the
// aliases of the media box, the trusted addresses and demo accounts. A
// database whose dialplan table has rows is left alone.
func seed(ctx context.Context, db *sqlstore.DB, domain, realm string, log *slog.Logger) error {
	rules, err := db.Dialplan().Rules(ctx)
	if err != nil {
		return err
	}
	if len(rules) > 0 {
		return nil
	}
	rep, err := db.ImportTSV(ctx, "dialplan", bytes.NewReader(unisiDialplan), nil)
	if err != nil {
		return fmt.Errorf("seed: dialplan: %w", err)
	}
	if len(rep.Rejected) > 0 {
		return fmt.Errorf("seed: dialplan: %d rows rejected (line %d: %s)", len(rep.Rejected), rep.Rejected[0].Line, rep.Rejected[0].Reason)
	}
	if _, err := db.Dialplan().AddRule(ctx, mediaRule); err != nil {
		return fmt.Errorf("seed: dialplan: %w", err)
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
		sub := newSubscriber(d.user, domain, realm, "unisi"+d.user)
		sub.Classes, sub.Blocked = d.classes, d.blocked
		if err := subs.AddSubscriber(ctx, sub); err != nil {
			return fmt.Errorf("seed: account %s: %w", d.user, err)
		}
	}
	log.Info("unisi: seeded a new database", "rules", rep.Loaded+1, "aliases", 2, "addresses", len(demoAddresses),
		"accounts", len(demoAccounts), "passwords", "unisi<number>, e.g. 5002/unisi5002")
	return nil
}

// newSubscriber makes an account whose HA1s fit the realm the registrar
// challenges with.
func newSubscriber(user, domain, realm, password string) registrar.Subscriber {
	md5, _ := registrar.HA1(user, realm, password, registrar.MD5)
	sha, _ := registrar.HA1(user, realm, password, registrar.SHA256)
	return registrar.Subscriber{Username: user, Domain: domain, HA1: md5, HA1SHA256: sha}
}
