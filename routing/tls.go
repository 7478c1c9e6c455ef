package routing

import (
	"context"
	"errors"
	"fmt"

	"github.com/palio-voip/palio/sip"
)

// WithTLS gives the Router the sip.TLS its server dials with: at every
// reload the Router hands it the TLS settings of the gateways dialled
// over TLS or WSS (Gateway.TLS, keyed by the host of each address:
// sip.TLS.SetGateways), so that a dial to a gateway is checked against
// its row. An entry the TLS cannot load (a CA file missing) is reported
// among the reload's problems, and the dials to that gateway are refused
// until a reload loads it.
func WithTLS(t *sip.TLS) Option { return func(r *Router) { r.tls.Store(t) } }

// UseTLS is WithTLS for a sip.TLS made after the Router (a server's,
// built once the tables are loaded): it reloads the tables, handing the
// gateways' TLS settings to t, and returns the reload's report.
func (r *Router) UseTLS(ctx context.Context, t *sip.TLS) (Report, error) {
	r.tls.Store(t)
	return r.Reload(ctx)
}

// pushTLS hands the TLS settings of t's gateways to the Router's
// sip.TLS, and returns the problems it reports.
func (r *Router) pushTLS(t *table) []Problem {
	tc := r.tls.Load()
	if tc == nil {
		return nil
	}
	var entries []sip.TLSGateway
	for _, g := range t.gws {
		if g.row.TLS.IsZero() || g.placeholder || !g.secure() {
			continue
		}
		entries = append(entries, sip.TLSGateway{
			Host: g.uri.Host, Name: g.row.GWID,
			CAFile: g.row.TLS.CAFile, Fingerprint: g.row.TLS.Fingerprint, ServerName: g.row.TLS.ServerName,
		})
	}
	err := tc.SetGateways(entries)
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []Problem
	for _, e := range errs {
		var ge *sip.GatewayError
		if errors.As(e, &ge) {
			out = append(out, Problem{Table: "dr_gateways", ID: ge.Gateway.Name, Reason: "tls: " + ge.Err.Error()})
			continue
		}
		out = append(out, Problem{Table: "dr_gateways", ID: "*", Reason: "tls: gateway settings not applied: " + e.Error()})
	}
	return out
}

// SetGatewayTLS gives gateway gwid new TLS settings (the zero GatewayTLS
// clears them): the CLI's "gateway set-tls". They are checked as a reload
// checks them (ValidateGateway) and the CA file is read
// (ValidateGatewayFiles); settings that would not load are not written,
// and the error names the field at fault. Otherwise the row is written
// (Store.SetGatewayTLS) and the tables reloaded, so that the next dial to
// the gateway uses them; other Routers over the store see them at their
// next Reload. An unknown gwid fails with ErrNotFound. Like Reload, it
// waits for a reload in progress, or for ctx.
func (r *Router) SetGatewayTLS(ctx context.Context, gwid string, t GatewayTLS) error {
	return r.storeAndReload(ctx, gwid, "tls settings", func(ctx context.Context) error { return r.storeTLS(ctx, gwid, t) })
}

// storeTLS checks and writes the TLS settings of gwid.
func (r *Router) storeTLS(ctx context.Context, gwid string, t GatewayTLS) error {
	row, err := r.storedGateway(ctx, gwid)
	if err != nil {
		return err
	}
	row.TLS = t
	if err := ValidateGateway(*row); err != nil {
		return fmt.Errorf("routing: gateway %s: %w", gwid, err)
	}
	if err := ValidateGatewayFiles(*row); err != nil {
		return fmt.Errorf("routing: gateway %s: %w", gwid, err)
	}
	if err := r.store.SetGatewayTLS(ctx, gwid, t); err != nil {
		return fmt.Errorf("routing: gateway %s: %w", gwid, err)
	}
	return nil
}
