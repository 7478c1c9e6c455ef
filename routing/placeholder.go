package routing

import (
	"context"
	"fmt"
	"strings"

	"github.com/palio-voip/palio/sip"
)

// A placeholder address is one a seed or a template ships in place of the
// site's real gateway address, which is not known yet (UniSI's example
// seeds documentation addresses, RFC 5737). Nothing may be sent there: it
// reaches no one, or someone else. The mark is a field of the gateway's
// attrs naming the host of that address ("site=siena;placeholder=198.51.100.11"),
// so that it needs no schema change and lapses by itself as soon as the
// address changes, whatever changes it (SetGatewayAddress, an import, an
// OpenSIPS tool editing dr_gateways).

// placeholderField starts the attrs field that marks a placeholder address.
const placeholderField = "placeholder="

// reasonPlaceholder is the Skipped reason of a placeholder gateway.
const reasonPlaceholder = "placeholder address"

// Placeholder reports whether g's address is a placeholder: one of the
// fields of its Attrs (separated by ';') is "placeholder=HOST", and HOST is
// the host of its Address (compared without case; an IPv6 address with or
// without its brackets). Such a gateway is unconfigured: the Router never
// probes it and never sends a call to it (Route lists it in Skipped as
// "placeholder address", so failover goes on to the next destination, and
// a call with no other destination gets 503), and says so in its log once
// when a reload finds it. OpenSIPS rows never carry the mark, and a row
// whose address no longer has that host is not a placeholder, however the
// address was changed; SetGatewayAddress also removes the field.
func (g Gateway) Placeholder() bool {
	host, ok := placeholderHost(g.Attrs)
	if !ok {
		return false
	}
	u, err := parseAddress(g.Address)
	return err == nil && sameHost(u.Host, host)
}

// isPlaceholder is Placeholder for a row whose address is parsed.
func isPlaceholder(attrs string, u sip.URI) bool {
	host, ok := placeholderHost(attrs)
	return ok && sameHost(u.Host, host)
}

// placeholderHost returns the HOST of the first "placeholder=HOST" field
// of attrs.
func placeholderHost(attrs string) (string, bool) {
	if !strings.Contains(attrs, placeholderField) {
		return "", false
	}
	for f := range strings.SplitSeq(attrs, ";") {
		if h, ok := strings.CutPrefix(strings.TrimSpace(f), placeholderField); ok && strings.TrimSpace(h) != "" {
			return strings.TrimSpace(h), true
		}
	}
	return "", false
}

// withoutPlaceholder returns attrs without its "placeholder=" fields, the
// other fields as they were.
func withoutPlaceholder(attrs string) string {
	if !strings.Contains(attrs, placeholderField) {
		return attrs
	}
	var keep []string
	for f := range strings.SplitSeq(attrs, ";") {
		if !strings.HasPrefix(strings.TrimSpace(f), placeholderField) {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, ";")
}

func sameHost(a, b string) bool {
	trim := func(h string) string { return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]") }
	return strings.EqualFold(trim(a), trim(b))
}

// notePlaceholders logs, once per gateway, the placeholders that t brings
// (new gateways, or gateways that were not placeholders in prev, which is
// nil at the first load) and the placeholders of prev that t configures,
// and sets the gauge of placeholders.
func (r *Router) notePlaceholders(prev, t *table) {
	n := 0
	for _, g := range t.gws {
		if !g.placeholder {
			continue
		}
		n++
		if prev != nil {
			if old := prev.gwByID[g.row.GWID]; old != nil && old.placeholder && old.row.Address == g.row.Address {
				continue
			}
		}
		r.log.Warn("routing: gateway "+g.row.GWID+" has a placeholder address: not probed, calls to it fail with 503 until configured",
			"gateway", g.row.GWID, "address", g.row.Address)
	}
	r.m.placeholders.Set(float64(n))
	if prev == nil {
		return
	}
	for _, old := range prev.gws {
		if !old.placeholder {
			continue
		}
		if g := t.gwByID[old.row.GWID]; g != nil && !g.placeholder {
			r.log.Info("routing: gateway "+g.row.GWID+" configured: "+g.row.Address, "gateway", g.row.GWID, "address", g.row.Address)
		}
	}
}

// SetGatewayAddress gives gateway gwid a new address (host[:port], with
// an optional sip: or sips: scheme and URI parameters, as Gateway.Address)
// and removes the placeholder mark from its attrs: the CLI's "gateway
// set-address ID ADDRESS", the way out of the placeholder state. The row
// is read from the store, so that a row a reload discarded for its bad
// address can be mended too. The address is checked as a reload checks
// it, and a row that would not load is not written: the error says why.
// Otherwise the row is written to the store (Store.SetGatewayAddress) and
// the tables are reloaded, so that the gateway is routed to and probed
// (per its probe_mode) at once; other Routers over the store see it at
// their next Reload. An unknown gwid fails with ErrNotFound. Like
// Reload, it waits for a reload in progress, or for ctx.
func (r *Router) SetGatewayAddress(ctx context.Context, gwid, address string) error {
	return r.storeAndReload(ctx, gwid, "address", func(ctx context.Context) error { return r.storeAddress(ctx, gwid, address) })
}

// storeAndReload writes a gateway's row with store, inside a reload so
// that the tables carry it when it returns. The error says whether the
// row (what) was stored when the reload failed after it.
func (r *Router) storeAndReload(ctx context.Context, gwid, what string, store func(context.Context) error) error {
	stored := false
	var rowErr error
	_, err := r.reload(ctx, func(ctx context.Context) error {
		rowErr = store(ctx)
		stored = rowErr == nil
		return rowErr
	})
	switch {
	case err == nil:
		return nil
	case rowErr != nil:
		return rowErr
	case stored:
		return fmt.Errorf("routing: gateway %s: %s stored, but the tables did not reload: %w", gwid, what, err)
	}
	return fmt.Errorf("routing: gateway %s: %w", gwid, err)
}

// storeAddress checks and writes the new address of gwid, without its
// placeholder mark.
func (r *Router) storeAddress(ctx context.Context, gwid, address string) error {
	row, err := r.storedGateway(ctx, gwid)
	if err != nil {
		return err
	}
	row.Address = strings.TrimSpace(address)
	row.Attrs = withoutPlaceholder(row.Attrs)
	if _, err := compileGateway(*row); err != nil {
		return fmt.Errorf("routing: gateway %s: %w", gwid, err)
	}
	if err := r.store.SetGatewayAddress(ctx, gwid, row.Address, row.Attrs); err != nil {
		return fmt.Errorf("routing: gateway %s: %w", gwid, err)
	}
	return nil
}

// storedGateway is the store's row of gwid, as it is now (ErrNotFound
// for none), for a write that changes part of it.
func (r *Router) storedGateway(ctx context.Context, gwid string) (*Gateway, error) {
	d, err := r.store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("routing: gateway %s: %w", gwid, err)
	}
	for i := range d.Gateways {
		if d.Gateways[i].GWID == gwid {
			return &d.Gateways[i], nil
		}
	}
	return nil, fmt.Errorf("routing: gateway %s: %w", gwid, ErrNotFound)
}
