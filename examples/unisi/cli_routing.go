package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"

	"github.com/palio-voip/palio/routing"
)

// openRouter opens the store and a Router over its routing tables, for
// the gateway and carrier commands. The Router writes state changes to the
// store, where running servers pick them up (their change counter moves).
func openRouter(ctx context.Context, g globals) (*app, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	// The Router logs state changes at Warn; the command prints them.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	return newApp(ctx, cfg, log, nil)
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

func channelsText(n int) string {
	if n <= 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

// cmdGateway is `gateway list|enable|disable ID`.
func cmdGateway(ctx context.Context, g globals, args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && len(args) != 2) || (args[0] == "list" && len(args) != 1) {
		return usagef("usage: gateway list | gateway enable|disable ID")
	}
	a, err := openRouter(ctx, g)
	if err != nil {
		return err
	}
	defer a.close()
	switch args[0] {
	case "list":
		// gwid, address, state, probe mode, channel limit, carriers' attrs
		// aside: what an operator needs to see at a glance.
		for _, gw := range a.router.Gateways() {
			fmt.Fprintf(out, "%s\t%s\t%s\tprobe=%s\tchannels=%s\t%s\n", gw.GWID, gw.Address, gw.State,
				probeText(gw.ProbeMode), channelsText(gw.Channels), dash(gw.Description))
		}
		return nil
	case "enable", "disable":
		on := args[0] == "enable"
		err := a.router.SetGatewayEnabled(ctx, args[1], on)
		if errors.Is(err, routing.ErrNotFound) {
			return fmt.Errorf("no gateway %q (gateway list shows them)", args[1])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%sd\t%s\n", args[0], args[1])
		return nil
	}
	return usagef("gateway: unknown subcommand %q (list, enable, disable)", args[0])
}

// cmdCarrier is `carrier list|enable|disable ID`.
func cmdCarrier(ctx context.Context, g globals, args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && len(args) != 2) || (args[0] == "list" && len(args) != 1) {
		return usagef("usage: carrier list | carrier enable|disable ID")
	}
	a, err := openRouter(ctx, g)
	if err != nil {
		return err
	}
	defer a.close()
	switch args[0] {
	case "list":
		for _, c := range a.router.Carriers() {
			fmt.Fprintf(out, "%s\t%s\t%s\tsort=%s\tchannels=%s\t%s\n", c.CarrierID, c.GWList, c.State,
				c.SortAlg, channelsText(c.Channels), dash(c.Description))
		}
		return nil
	case "enable", "disable":
		err := a.router.SetCarrierEnabled(ctx, args[1], args[0] == "enable")
		if errors.Is(err, routing.ErrNotFound) {
			return fmt.Errorf("no carrier %q (carrier list shows them)", args[1])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%sd\t%s\n", args[0], args[1])
		return nil
	}
	return usagef("carrier: unknown subcommand %q (list, enable, disable)", args[0])
}

// reportRouting loads the routing tables as the server would and prints
// the rows it leaves out or cuts (after an import of a dr_ table).
func reportRouting(ctx context.Context, a *app, out io.Writer) error {
	rep, err := a.router.Reload(ctx)
	if err != nil {
		return err
	}
	for _, p := range rep.Problems {
		verb := "warning"
		if p.Discarded {
			verb = "discarded"
		}
		fmt.Fprintf(out, "%s\t%s\t%s\t%s\n", verb, p.Table, p.ID, p.Reason)
	}
	if rep.Discarded() > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("unisi: routing: %d rows cannot be used", rep.Discarded())}
	}
	return nil
}
