package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

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

// cmdGateway is `gateway list|enable|disable ID|set-address ID ADDRESS`.
func cmdGateway(ctx context.Context, g globals, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "set-address" {
		return cmdGatewaySetAddress(ctx, g, args[1:], out)
	}
	return trunkCommand(ctx, g, args, out, "gateway",
		func(a *app) {
			// What an operator needs to see at a glance. A gateway whose
			// address is a placeholder is "unconfigured", whatever its state.
			for _, gw := range a.router.Gateways() {
				state := gw.State.String()
				if gw.Placeholder() {
					state = "unconfigured"
				}
				fmt.Fprintf(out, "%s\t%s\t%s\tprobe=%s\tchannels=%s\t%s\n", gw.GWID, gw.Address, state,
					probeText(gw.ProbeMode), channelsText(gw.Channels), dash(gw.Description))
			}
		},
		func(a *app, id string, on bool) error { return a.router.SetGatewayEnabled(ctx, id, on) })
}

// cmdGatewaySetAddress is `gateway set-address ID ADDRESS`: the gateway's
// real address, in place of the seed's placeholder (or an old one). The
// router checks it; running servers follow the store's change counter.
func cmdGatewaySetAddress(ctx context.Context, g globals, args []string, out io.Writer) error {
	if len(args) != 2 {
		return usagef("usage: gateway set-address ID ADDRESS (host[:port], sip:host[:port];transport=tcp ...)")
	}
	a, err := openRouter(ctx, g)
	if err != nil {
		return err
	}
	defer a.close()
	err = a.router.SetGatewayAddress(ctx, args[0], args[1])
	if errors.Is(err, routing.ErrNotFound) {
		return fmt.Errorf("no gateway %q (gateway list shows them)", args[0])
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "address\t%s\t%s\n", args[0], strings.TrimSpace(args[1]))
	return nil
}

// cmdCarrier is `carrier list|enable|disable ID`.
func cmdCarrier(ctx context.Context, g globals, args []string, out io.Writer) error {
	return trunkCommand(ctx, g, args, out, "carrier",
		func(a *app) {
			for _, c := range a.router.Carriers() {
				fmt.Fprintf(out, "%s\t%s\t%s\tsort=%s\tchannels=%s\t%s\n", c.CarrierID, c.GWList, c.State,
					c.SortAlg, channelsText(c.Channels), dash(c.Description))
			}
		},
		func(a *app, id string, on bool) error { return a.router.SetCarrierEnabled(ctx, id, on) })
}

// trunkCommand runs `KIND list` with list, or `KIND enable|disable ID`
// with set, on a Router over the configured store.
func trunkCommand(ctx context.Context, g globals, args []string, out io.Writer, kind string,
	list func(a *app), set func(a *app, id string, on bool) error) error {
	switch {
	case len(args) == 1 && args[0] == "list":
	case len(args) == 2 && (args[0] == "enable" || args[0] == "disable"):
	case len(args) == 0 || args[0] == "list" || args[0] == "enable" || args[0] == "disable":
		return usagef("usage: %s list | %s enable|disable ID%s", kind, kind, map[bool]string{true: " | gateway set-address ID ADDRESS"}[kind == "gateway"])
	default:
		return usagef("%s: unknown subcommand %q (list, enable, disable%s)", kind, args[0], map[bool]string{true: ", set-address"}[kind == "gateway"])
	}
	a, err := openRouter(ctx, g)
	if err != nil {
		return err
	}
	defer a.close()
	if args[0] == "list" {
		list(a)
		return nil
	}
	err = set(a, args[1], args[0] == "enable")
	if errors.Is(err, routing.ErrNotFound) {
		return fmt.Errorf("no %s %q (%s list shows them)", kind, args[1], kind)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%sd\t%s\n", args[0], args[1])
	return nil
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
