package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/palio-voip/palio/routing"
)

// The routing commands: gateways, carriers and the dry run of a call.
var routingCommands = []command{
	{
		name: "route", args: "NUMBER -from USER", section: "Dialplan and routing", min: 1, max: 1,
		summary: "dry-run a call: every stage's decision and the targets, nothing sent",
		detail: `A synthetic INVITE from USER to NUMBER runs through the server's pipeline
(source check, authentication taken as USER, alias, dialplan, call class,
ENUM when enabled, routing) and the command prints the call's trace, the
targets it would be forwarded to, and the answer. The INVITE comes from
-src, by default 172.20.1.26:5060: an address of no trusted group (a phone
on the campus network), so the source check does not trust it and USER's
account and classes decide. Give a gateway's address as -src to see a call
from the PSTN. Exit status 1 when the call would be refused.`,
		example: "unisi route 00577232111 -from 5002\nunisi route 5002 -from x -src 198.51.100.11:5060",
		setup:   routeSetup,
	},
	{
		name: "gateway list", section: "Dialplan and routing", max: 0,
		summary: "list the gateways (dr_gateways) with their state",
		detail: `A gateway whose address is the seed's documentation placeholder is
"unconfigured": it is never probed nor sent a call until 'gateway
set-address' gives it a real one.`,
		example: "unisi gateway list",
		setup:   gatewayList,
	},
	{
		name: "gateway show", args: "ID", section: "Dialplan and routing", min: 1, max: 1,
		summary: "show one gateway, its carriers and the history of its state",
		detail: `The history lists the gateway's last state changes, newest first: probes
taking it down or up, an operator's enable or disable, a start with
probing off, each with its cause, reason and the node that made it. The
store keeps the last 50 of each gateway.`,
		example: "unisi gateway show gw-arezzo\nunisi gateway show gw-arezzo -n 50 -json",
		setup:   gatewayShow,
	},
	{
		name: "gateway enable", args: "ID", section: "Dialplan and routing", min: 1, max: 1,
		summary: "put a gateway back in service (running servers follow within [store] poll)",
		example: "unisi gateway enable gw-arezzo",
		setup:   trunkSwitch("gateway", true),
	},
	{
		name: "gateway disable", args: "ID", section: "Dialplan and routing", min: 1, max: 1,
		summary: "take a gateway out of service: no new calls are sent to it",
		example: "unisi gateway disable gw-arezzo",
		setup:   trunkSwitch("gateway", false),
	},
	{
		name: "gateway set-address", args: "ID ADDRESS", section: "Dialplan and routing", min: 2, max: 2,
		summary: "give a gateway its real address (host[:port] or a SIP URI)",
		example: "unisi gateway set-address gw-arezzo 10.1.2.3:5060\nunisi gateway set-address toip 'sip:10.1.2.9;transport=tcp'",
		setup:   gatewaySetAddress,
	},
	{
		name: "gateway set-tls", args: "ID", section: "Dialplan and routing", min: 1, max: 1,
		summary: "set how a gateway's certificate is checked when the server dials it over TLS",
		detail: `The settings are the gateway's row (palio_dr_tls), replaced whole: a flag
not given is cleared, and -clear clears them all. -ca is a PEM bundle of
the CAs that alone may sign the gateway's certificate (a self-signed
certificate is its own CA), read now to check it; -fingerprint pins the
certificate's SHA-256 fingerprint (openssl x509 -noout -fingerprint
-sha256), on top of the chain; -server-name is the name the certificate
of a gateway addressed by IP must carry (and the SNI). Without them a
dial is checked against [tls] root_ca (or the system's CAs) and the
address's host. Running servers apply them at their next reload.`,
		example: "unisi gateway set-tls pstn-tls -ca /etc/unisi/tls/provider-ca.pem -server-name sbc.provider.example\nunisi gateway set-tls pstn-tls -fingerprint AB:CD:...\nunisi gateway set-tls pstn-tls -clear",
		setup:   gatewaySetTLS,
	},
	{
		name: "carrier list", section: "Dialplan and routing", max: 0,
		summary: "list the carriers (dr_carriers): groups of gateways",
		example: "unisi carrier list",
		setup:   carrierList,
	},
	{
		name: "carrier enable", args: "ID", section: "Dialplan and routing", min: 1, max: 1,
		summary: "put a carrier back in service",
		example: "unisi carrier enable pstn-siena",
		setup:   trunkSwitch("carrier", true),
	},
	{
		name: "carrier disable", args: "ID", section: "Dialplan and routing", min: 1, max: 1,
		summary: "take a carrier (all its gateways, for the rules naming it) out of service",
		example: "unisi carrier disable pstn-siena",
		setup:   trunkSwitch("carrier", false),
	},
}

// probeText names a probe_mode.
func probeText(m routing.ProbeMode) string {
	switch m {
	case routing.ProbeNever:
		return "never"
	case routing.ProbeWhenInactive:
		return "when-inactive"
	case routing.ProbeAlways:
		return "always"
	}
	return "mode-" + strconv.Itoa(int(m))
}

// gatewayState is what an operator needs to see: a gateway whose address
// is a placeholder is "unconfigured", whatever its state.
func gatewayState(gw routing.GatewayStatus) string {
	if gw.Placeholder() {
		return "unconfigured"
	}
	return gw.State.String()
}

func gatewayList(fs *flag.FlagSet) runner {
	asJSON := jsonFlag(fs)
	return func(ctx context.Context, e *env, _ []string) error {
		a, err := e.app(ctx)
		if err != nil {
			return err
		}
		defer a.close()
		t := newTable("id", "address", "state", "probe", "channels", "calls", "description")
		for _, gw := range a.router.Gateways() {
			t.row(gw.GWID, gw.Address, gatewayState(gw), probeText(gw.ProbeMode), gw.Channels, gw.Calls, gw.Description)
		}
		return t.write(e.out, *asJSON)
	}
}

func gatewayShow(fs *flag.FlagSet) runner {
	asJSON := jsonFlag(fs)
	n := fs.Int("n", 10, "the number of state changes to show, newest first (at most 50)")
	return func(ctx context.Context, e *env, args []string) error {
		if *n < 1 {
			return usagef("-n %d: want at least 1", *n)
		}
		a, err := e.app(ctx)
		if err != nil {
			return err
		}
		defer a.close()
		var gw *routing.GatewayStatus
		for _, g := range a.router.Gateways() {
			if g.GWID == args[0] {
				gw = &g
				break
			}
		}
		if gw == nil {
			return fmt.Errorf("no gateway %q ('unisi gateway list' shows them)", args[0])
		}
		var carriers []string
		for _, c := range a.router.Carriers() {
			for _, id := range strings.Split(c.GWList, ",") {
				if strings.TrimSpace(strings.SplitN(id, "=", 2)[0]) == gw.GWID {
					carriers = append(carriers, c.CarrierID)
				}
			}
		}
		history, err := a.router.GatewayHistory(ctx, gw.GWID, *n)
		if err != nil {
			return err
		}
		fields := []struct {
			name  string
			value any
		}{
			{"id", gw.GWID}, {"address", gw.Address}, {"state", gatewayState(*gw)}, {"probe", probeText(gw.ProbeMode)},
			{"channels", gw.Channels}, {"calls", gw.Calls}, {"strip", gw.Strip}, {"prefix", gw.PriPrefix},
			{"attrs", gw.Attrs}, {"carriers", strings.Join(carriers, ",")}, {"description", gw.Description},
			{"tls_ca", gw.TLS.CAFile}, {"tls_fingerprint", gw.TLS.Fingerprint}, {"tls_server_name", gw.TLS.ServerName},
		}
		ht := newTable("time", "from", "to", "cause", "reason", "node")
		for _, c := range history {
			ht.row(c.Time.UTC().Format("2006-01-02 15:04:05.000Z"), c.From.String(), c.To.String(), string(c.Cause), c.Reason, c.Node)
		}
		if *asJSON {
			obj := map[string]any{}
			for _, f := range fields {
				obj[f.name] = f.value
			}
			events := []map[string]any{}
			for _, r := range ht.rows {
				ev := map[string]any{}
				for i, c := range ht.cols {
					ev[c] = r[i]
				}
				events = append(events, ev)
			}
			obj["history"] = events
			enc := json.NewEncoder(e.out)
			enc.SetIndent("", "  ")
			return enc.Encode(obj)
		}
		kv := newTable("field", "value")
		for _, f := range fields {
			kv.row(f.name, f.value)
		}
		if err := kv.write(e.out, false); err != nil {
			return err
		}
		fmt.Fprintln(e.out)
		if len(history) == 0 {
			fmt.Fprintln(e.out, "no state changes recorded")
			return nil
		}
		return ht.write(e.out, false)
	}
}

func gatewaySetAddress(fs *flag.FlagSet) runner {
	return func(ctx context.Context, e *env, args []string) error {
		a, err := e.app(ctx)
		if err != nil {
			return err
		}
		defer a.close()
		err = a.router.SetGatewayAddress(ctx, args[0], args[1])
		if errors.Is(err, routing.ErrNotFound) {
			return fmt.Errorf("no gateway %q ('unisi gateway list' shows them)", args[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.out, "address %s %s\n", args[0], strings.TrimSpace(args[1]))
		return nil
	}
}

func gatewaySetTLS(fs *flag.FlagSet) runner {
	ca := fs.String("ca", "", "PEM bundle of the CAs that alone may sign the gateway's certificate (an absolute path)")
	fp := fs.String("fingerprint", "", "SHA-256 fingerprint the gateway's certificate must have")
	name := fs.String("server-name", "", "name the certificate of a gateway addressed by IP must carry (sent as SNI)")
	clear := fs.Bool("clear", false, "clear the gateway's TLS settings")
	return func(ctx context.Context, e *env, args []string) error {
		t := routing.GatewayTLS{CAFile: *ca, Fingerprint: *fp, ServerName: *name}
		switch {
		case *clear && !t.IsZero():
			return usagef("-clear goes alone")
		case !*clear && t.IsZero():
			return usagef("give -ca, -fingerprint or -server-name, or -clear")
		}
		a, err := e.app(ctx)
		if err != nil {
			return err
		}
		defer a.close()
		err = a.router.SetGatewayTLS(ctx, args[0], t)
		if errors.Is(err, routing.ErrNotFound) {
			return fmt.Errorf("no gateway %q ('unisi gateway list' shows them)", args[0])
		}
		if err != nil {
			return err
		}
		if *clear {
			fmt.Fprintf(e.out, "tls %s cleared\n", args[0])
			return nil
		}
		fmt.Fprintf(e.out, "tls %s ca=%s fingerprint=%s server_name=%s\n", args[0], t.CAFile, t.Fingerprint, t.ServerName)
		return nil
	}
}

func carrierList(fs *flag.FlagSet) runner {
	asJSON := jsonFlag(fs)
	return func(ctx context.Context, e *env, _ []string) error {
		a, err := e.app(ctx)
		if err != nil {
			return err
		}
		defer a.close()
		t := newTable("id", "gateways", "state", "sort", "channels", "calls", "description")
		for _, c := range a.router.Carriers() {
			t.row(c.CarrierID, c.GWList, c.State.String(), string(c.SortAlg), c.Channels, c.Calls, c.Description)
		}
		return t.write(e.out, *asJSON)
	}
}

// trunkSwitch is `KIND enable|disable ID`.
func trunkSwitch(kind string, on bool) func(fs *flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, e *env, args []string) error {
			a, err := e.app(ctx)
			if err != nil {
				return err
			}
			defer a.close()
			set := a.router.SetGatewayEnabled
			if kind == "carrier" {
				set = a.router.SetCarrierEnabled
			}
			err = set(ctx, args[0], on)
			if errors.Is(err, routing.ErrNotFound) {
				return fmt.Errorf("no %s %q ('unisi %s list' shows them)", kind, args[0], kind)
			}
			if err != nil {
				return err
			}
			verb := "disabled"
			if on {
				verb = "enabled"
			}
			fmt.Fprintf(e.out, "%s %s %s\n", verb, kind, args[0])
			return nil
		}
	}
}

// reportRouting loads the routing tables as the server would and prints
// the rows it leaves out or cuts (after an import of a dr_ table).
func reportRouting(ctx context.Context, a *app, e *env) error {
	rep, err := a.router.Reload(ctx)
	if err != nil {
		return err
	}
	for _, p := range rep.Problems {
		verb := "warning"
		if p.Discarded {
			verb = "discarded"
		}
		fmt.Fprintf(e.out, "%s %s %s: %s\n", verb, p.Table, p.ID, p.Reason)
	}
	if rep.Discarded() > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("unisi import: routing: %d rows cannot be used", rep.Discarded())}
	}
	return nil
}
