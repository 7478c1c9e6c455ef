package routingtest

import "github.com/palio-voip/palio/routing"

// UniSIPrefixChars is the Config.ExtraPrefixChars the UniSI tables need:
// the letters and underscore of the FAX_ and IVR_ accounts of the
// Asterisk media box.
const UniSIPrefixChars = "AFIRVX_"

// UniSI returns the University of Siena's routing tables, as the seed talk
// describes the deployment (addresses invented, in UniSI's 172.20/16 VoIP
// range):
//
//   - PSTN gateways, one PRI (30 channels) each: gw-siena-1..4 (area code
//     0577), gw-arezzo (0575), gw-grosseto (0564). They strip the
//     outside-line 0, so that 0 0577 232111 reaches the PSTN as
//     0577232111. The Siena four form the carrier pstn-siena (120
//     channels), weighted evenly.
//   - The Ericsson MD110 PBXs of the three sites (md110-siena,
//     md110-arezzo, md110-grosseto), as the carrier md110, Siena first.
//   - The ToIP trunk (toip, over TCP) and the Asterisk media box
//     (media-asterisk).
//
// Rules, group 0 (everyone): national numbers (0 + 0…) through
// pstn-siena, except 0575… (Arezzo's gateway, then pstn-siena) and 0564…
// (Grosseto's, then pstn-siena); mobile (0 + 3…) and international
// (0 + 00…) through pstn-siena; legacy extensions 2xxx and 80… to the
// MD110s; 05771530xxx to the ToIP trunk; 88…, FAX_… and IVR_… to the media
// box. Group 1 (the library counter phone 5890) may call only the legacy,
// ToIP and media destinations.
func UniSI() routing.Data {
	gw := func(id int, gwid, addr string, strip int, probe routing.ProbeMode, channels int, attrs, desc string) routing.Gateway {
		return routing.Gateway{ID: id, GWID: gwid, Address: addr, Strip: strip, ProbeMode: probe,
			Channels: channels, Attrs: attrs, Description: desc}
	}
	rule := func(id int, groups, prefix, gwlist, attrs string) routing.Rule {
		return routing.Rule{ID: id, Groups: groups, Prefix: prefix, GWList: gwlist, SortAlg: routing.SortNone, Attrs: attrs}
	}
	return routing.Data{
		Gateways: []routing.Gateway{
			gw(1, "gw-siena-1", "172.20.0.11:5060", 1, routing.ProbeAlways, 30, "site=siena", "Siena PRI 1 (0577)"),
			gw(2, "gw-siena-2", "172.20.0.12:5060", 1, routing.ProbeAlways, 30, "site=siena", "Siena PRI 2 (0577)"),
			gw(3, "gw-siena-3", "172.20.0.13:5060", 1, routing.ProbeAlways, 30, "site=siena", "Siena PRI 3 (0577)"),
			gw(4, "gw-siena-4", "172.20.0.14:5060", 1, routing.ProbeAlways, 30, "site=siena", "Siena PRI 4 (0577)"),
			gw(5, "gw-arezzo", "172.20.16.11:5060", 1, routing.ProbeAlways, 30, "site=arezzo", "Arezzo PRI (0575)"),
			gw(6, "gw-grosseto", "172.20.32.11:5060", 1, routing.ProbeAlways, 30, "site=grosseto", "Grosseto PRI (0564)"),
			gw(7, "md110-siena", "172.20.0.21:5060", 0, routing.ProbeWhenInactive, 0, "site=siena", "Ericsson MD110, Siena"),
			gw(8, "md110-arezzo", "172.20.16.21:5060", 0, routing.ProbeWhenInactive, 0, "site=arezzo", "Ericsson MD110, Arezzo"),
			gw(9, "md110-grosseto", "172.20.32.21:5060", 0, routing.ProbeWhenInactive, 0, "site=grosseto", "Ericsson MD110, Grosseto"),
			gw(10, "toip", "172.20.0.31:5060;transport=tcp", 0, routing.ProbeAlways, 0, "", "ToIP trunk"),
			gw(11, "media-asterisk", "172.20.0.41:5060", 0, routing.ProbeAlways, 0, "", "Asterisk media box: IVR, FAX, queues, voicemail"),
		},
		Carriers: []routing.Carrier{
			{ID: 1, CarrierID: "pstn-siena", GWList: "gw-siena-1=25,gw-siena-2=25,gw-siena-3=25,gw-siena-4=25",
				SortAlg: routing.SortWeight, Channels: 120, Attrs: "pstn", Description: "the four Siena PRIs"},
			{ID: 2, CarrierID: "md110", GWList: "md110-siena,md110-arezzo,md110-grosseto",
				SortAlg: routing.SortNone, Attrs: "legacy", Description: "the MD110 network, Siena first"},
		},
		Rules: []routing.Rule{
			rule(10, "0", "00", "#pstn-siena", "national"),
			rule(11, "0", "00575", "gw-arezzo,#pstn-siena", "national"),
			rule(12, "0", "00564", "gw-grosseto,#pstn-siena", "national"),
			rule(13, "0", "03", "#pstn-siena", "mobile"),
			rule(14, "0", "000", "#pstn-siena", "international"),
			rule(20, "0,1", "2", "#md110", "legacy"),
			rule(21, "0,1", "80", "#md110", "legacy"),
			rule(30, "0,1", "05771530", "toip", "toip"),
			rule(40, "0,1", "88", "media-asterisk", "media"),
			rule(41, "0,1", "FAX_", "media-asterisk", "media"),
			rule(42, "0,1", "IVR_", "media-asterisk", "media"),
		},
		Groups: []routing.GroupMember{
			{ID: 1, Username: "5890", Domain: "voip.unisi.it", Group: 1, Description: "library counter: internal calls only"},
		},
	}
}
