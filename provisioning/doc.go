// Package provisioning configures phones by their MAC address: it serves
// each phone (SNOM 7xx/D7xx, Cisco SPA1xx/5xx, Yealink T-series, or a
// generic one shaped by a site template) its configuration file over
// HTTP, HTTPS and TFTP, rendered from a device store (the device's model,
// name, lines, busy-lamp keys, firmware and settings), the registrar's
// subscriber store (each line's SIP password: the one its REGISTER is
// checked against) and per-family templates. An account's change reaches
// its phones at their next resync, and Resync makes that now, with the
// vendor's NOTIFY sent through the proxy to the phone's registered
// contact.
//
// OpenSIPS and Kamailio have no such module (sites run FreePBX's endpoint
// manager, Wazo's provd or scripts); Palio's follows Wazo's provd on
// security (a secret url key in the path) and adds what provisioning
// servers are most criticised for lacking: per-device HTTP
// authentication, an allow-list of networks, a rate limit per source and
// a ban (with a fail2ban-readable log line) after repeated unknown MACs,
// and no password in any log line.
//
//	devices := provisioning.NewMemStore()
//	p, err := provisioning.New(provisioning.Config{
//		Domain:     "voip.unisi.it",
//		BaseURL:    "http://10.0.0.1:8080/prov",
//		PathPrefix: "/prov",
//		Key:        "Xk9-unisi-2017",
//	}, devices, accounts, provisioning.WithResync(srv, reg))
//	if err != nil {
//		return err
//	}
//	mux.Handle("/prov/", p) // snom710-0004137441D7.htm, spa112.cfg, …
//	ts := p.NewTFTPServer(provisioning.TFTPConfig{})
//	go ts.Serve(udpConn)
//	defer ts.Close()
//
// The files and their names are the vendors' (the README lists them);
// LoadTemplates says which templates a site may override. Where a
// subscriber store keeps only digests (HA1, as the example's does),
// a phone cannot be given its password from it: such lines carry a
// per-device password (Line.Password), checked against the account's
// HA1 when served.
package provisioning
