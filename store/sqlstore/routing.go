package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/palio-voip/palio/routing"
)

// RoutingStore is routing.Store over OpenSIPS's drouting tables
// (dr_gateways, dr_rules, dr_carriers, dr_groups: every column), Palio's
// channel limits (palio_dr_limits: kind "gw" or "carrier", the gwid or
// carrierid, channels) and the gateways' TLS settings (palio_dr_tls: gwid,
// ca, fingerprint, server_name; a row only for a gateway that has any).
type RoutingStore struct{ db *DB }

var _ routing.Store = (*RoutingStore)(nil)

// Routing returns the routing store of db.
func (db *DB) Routing() *RoutingStore { return &RoutingStore{db} }

// Load returns every row, each table by ascending id.
func (s *RoutingStore) Load(ctx context.Context) (routing.Data, error) {
	return loadRouting(ctx, s.db.r)
}

// querier is what loadRouting reads through: the pool, or a transaction
// (an import checks the rows it has written before it commits).
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// loadRouting reads the drouting tables and the channel limits through q.
func loadRouting(ctx context.Context, q querier) (routing.Data, error) {
	s := routingQuery{q}
	var d routing.Data
	limits := map[[2]string]int{}
	if err := s.query(ctx, "SELECT kind, id, channels FROM palio_dr_limits", func(rows *sql.Rows) error {
		var kind, id string
		var n int
		if err := rows.Scan(&kind, &id, &n); err != nil {
			return err
		}
		limits[[2]string{kind, id}] = n
		return nil
	}); err != nil {
		return d, err
	}
	gwTLS := map[string]routing.GatewayTLS{}
	if err := s.query(ctx, "SELECT gwid, ca, fingerprint, server_name FROM palio_dr_tls", func(rows *sql.Rows) error {
		var id string
		var t routing.GatewayTLS
		if err := rows.Scan(&id, &t.CAFile, &t.Fingerprint, &t.ServerName); err != nil {
			return err
		}
		gwTLS[id] = t
		return nil
	}); err != nil {
		return d, err
	}
	if err := s.query(ctx, "SELECT id, gwid, type, address, strip, pri_prefix, attrs, probe_mode, state, socket, description FROM dr_gateways ORDER BY id", func(rows *sql.Rows) error {
		var g routing.Gateway
		var pri, attrs, socket, desc sql.NullString
		var probe, state int
		if err := rows.Scan(&g.ID, &g.GWID, &g.Type, &g.Address, &g.Strip, &pri, &attrs, &probe, &state, &socket, &desc); err != nil {
			return err
		}
		g.PriPrefix, g.Attrs, g.Socket, g.Description = pri.String, attrs.String, socket.String, desc.String
		g.ProbeMode, g.State = routing.ProbeMode(probe), routing.State(state)
		g.Channels = limits[[2]string{"gw", g.GWID}]
		g.TLS = gwTLS[g.GWID]
		d.Gateways = append(d.Gateways, g)
		return nil
	}); err != nil {
		return d, err
	}
	if err := s.query(ctx, "SELECT id, carrierid, gwlist, flags, sort_alg, state, attrs, description FROM dr_carriers ORDER BY id", func(rows *sql.Rows) error {
		var c routing.Carrier
		var attrs, desc sql.NullString
		var flags, state int
		var alg string
		if err := rows.Scan(&c.ID, &c.CarrierID, &c.GWList, &flags, &alg, &state, &attrs, &desc); err != nil {
			return err
		}
		c.Flags, c.SortAlg, c.State = routing.CarrierFlags(flags), routing.SortAlg(alg), routing.State(state)
		c.Attrs, c.Description = attrs.String, desc.String
		c.Channels = limits[[2]string{"carrier", c.CarrierID}]
		d.Carriers = append(d.Carriers, c)
		return nil
	}); err != nil {
		return d, err
	}
	if err := s.query(ctx, "SELECT ruleid, groupid, prefix, timerec, priority, routeid, gwlist, sort_alg, sort_profile, attrs, description FROM dr_rules ORDER BY ruleid", func(rows *sql.Rows) error {
		var r routing.Rule
		var timerec, routeid, attrs, desc sql.NullString
		var profile sql.NullInt64
		var alg string
		if err := rows.Scan(&r.ID, &r.Groups, &r.Prefix, &timerec, &r.Priority, &routeid, &r.GWList, &alg, &profile, &attrs, &desc); err != nil {
			return err
		}
		r.TimeRec, r.RouteID, r.Attrs, r.Description = timerec.String, routeid.String, attrs.String, desc.String
		r.SortAlg, r.SortProfile = routing.SortAlg(alg), int(profile.Int64)
		d.Rules = append(d.Rules, r)
		return nil
	}); err != nil {
		return d, err
	}
	err := s.query(ctx, "SELECT id, username, domain, groupid, description FROM dr_groups ORDER BY id", func(rows *sql.Rows) error {
		var g routing.GroupMember
		var domain, desc sql.NullString
		if err := rows.Scan(&g.ID, &g.Username, &domain, &g.Group, &desc); err != nil {
			return err
		}
		g.Domain, g.Description = domain.String, desc.String
		d.Groups = append(d.Groups, g)
		return nil
	})
	return d, err
}

// routingQuery runs the row callbacks of loadRouting.
type routingQuery struct{ q querier }

func (s routingQuery) query(ctx context.Context, q string, row func(*sql.Rows) error) error {
	rows, err := s.q.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("sqlstore: routing: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return fmt.Errorf("sqlstore: routing: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: routing: %w", err)
	}
	return nil
}

// SetGatewayState stores a gateway's state (persistent_state).
func (s *RoutingStore) SetGatewayState(ctx context.Context, gwid string, state routing.State) error {
	res, err := s.db.w.ExecContext(ctx, "UPDATE dr_gateways SET state = ? WHERE "+s.db.dialect.exact("gwid"), append([]any{int(state)}, s.db.dialect.exactArgs(gwid)...)...)
	if err != nil {
		return fmt.Errorf("sqlstore: gateway %s state: %w", gwid, err)
	}
	return mustAffect(res, routing.ErrNotFound)
}

// SetGatewayStateUnlessDisabled stores a gateway's state unless it is
// disabled (1), in one UPDATE; when no row changed, a second statement
// tells a disabled gateway from an unknown one.
func (s *RoutingStore) SetGatewayStateUnlessDisabled(ctx context.Context, gwid string, state routing.State) (bool, error) {
	where := s.db.dialect.exact("gwid")
	args := s.db.dialect.exactArgs(gwid)
	res, err := s.db.w.ExecContext(ctx, "UPDATE dr_gateways SET state = ? WHERE "+where+" AND state <> ?",
		append(append([]any{int(state)}, args...), int(routing.StateDisabled))...)
	if err != nil {
		return false, fmt.Errorf("sqlstore: gateway %s state: %w", gwid, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("sqlstore: gateway %s state: %w", gwid, err)
	} else if n > 0 {
		return true, nil
	}
	var one int
	err = s.db.w.QueryRowContext(ctx, "SELECT 1 FROM dr_gateways WHERE "+where, args...).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, routing.ErrNotFound
	case err != nil:
		return false, fmt.Errorf("sqlstore: gateway %s state: %w", gwid, err)
	}
	return false, nil
}

// SetCarrierState stores a carrier's state.
func (s *RoutingStore) SetCarrierState(ctx context.Context, id string, state routing.State) error {
	res, err := s.db.w.ExecContext(ctx, "UPDATE dr_carriers SET state = ? WHERE "+s.db.dialect.exact("carrierid"), append([]any{int(state)}, s.db.dialect.exactArgs(id)...)...)
	if err != nil {
		return fmt.Errorf("sqlstore: carrier %s state: %w", id, err)
	}
	return mustAffect(res, routing.ErrNotFound)
}

// SetGatewayAddress stores a gateway's address and attrs (the CLI's
// gateway set-address); an empty attrs is NULL.
func (s *RoutingStore) SetGatewayAddress(ctx context.Context, gwid, address, attrs string) error {
	res, err := s.db.w.ExecContext(ctx, "UPDATE dr_gateways SET address = ?, attrs = ? WHERE "+s.db.dialect.exact("gwid"),
		append([]any{address, nullable(attrs)}, s.db.dialect.exactArgs(gwid)...)...)
	if err != nil {
		return fmt.Errorf("sqlstore: gateway %s address: %w", gwid, err)
	}
	return mustAffect(res, routing.ErrNotFound)
}

// SetGatewayTLS stores a gateway's TLS settings in palio_dr_tls (the
// CLI's gateway set-tls); the zero value removes its row.
func (s *RoutingStore) SetGatewayTLS(ctx context.Context, gwid string, t routing.GatewayTLS) error {
	tx, err := s.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: gateway %s tls: %w", gwid, err)
	}
	defer tx.Rollback()
	var id string
	err = tx.QueryRowContext(ctx, "SELECT gwid FROM dr_gateways WHERE "+s.db.dialect.exact("gwid"), s.db.dialect.exactArgs(gwid)...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlstore: gateway %s tls: %w", gwid, routing.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: gateway %s tls: %w", gwid, err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM palio_dr_tls WHERE "+s.db.dialect.exact("gwid"), s.db.dialect.exactArgs(gwid)...); err != nil {
		return fmt.Errorf("sqlstore: gateway %s tls: %w", gwid, err)
	}
	if !t.IsZero() {
		if _, err := tx.ExecContext(ctx, "INSERT INTO palio_dr_tls (gwid, ca, fingerprint, server_name) VALUES (?, ?, ?, ?)",
			gwid, t.CAFile, t.Fingerprint, t.ServerName); err != nil {
			return fmt.Errorf("sqlstore: gateway %s tls: %w", gwid, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: gateway %s tls: %w", gwid, err)
	}
	return nil
}

// Replace replaces every row of the routing tables with d, in one
// transaction (provisioning a topology; the tests' seed).
func (s *RoutingStore) Replace(ctx context.Context, d routing.Data) error {
	tx, err := s.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: routing replace: %w", err)
	}
	defer tx.Rollback()
	for _, t := range []string{"dr_gateways", "dr_rules", "dr_carriers", "dr_groups", "palio_dr_limits", "palio_dr_tls"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return fmt.Errorf("sqlstore: routing replace: %w", err)
		}
	}
	exec := func(q string, args ...any) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("sqlstore: routing replace: %w", err)
		}
		return nil
	}
	for _, g := range d.Gateways {
		if err := exec("INSERT INTO dr_gateways (id, gwid, type, address, strip, pri_prefix, attrs, probe_mode, state, socket, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			g.ID, g.GWID, g.Type, g.Address, g.Strip, nullable(g.PriPrefix), nullable(g.Attrs), int(g.ProbeMode), int(g.State), nullable(g.Socket), nullable(g.Description)); err != nil {
			return err
		}
		if g.Channels != 0 {
			if err := exec("INSERT INTO palio_dr_limits (kind, id, channels) VALUES ('gw', ?, ?)", g.GWID, g.Channels); err != nil {
				return err
			}
		}
		if !g.TLS.IsZero() {
			if err := exec("INSERT INTO palio_dr_tls (gwid, ca, fingerprint, server_name) VALUES (?, ?, ?, ?)",
				g.GWID, g.TLS.CAFile, g.TLS.Fingerprint, g.TLS.ServerName); err != nil {
				return err
			}
		}
	}
	for _, c := range d.Carriers {
		if err := exec("INSERT INTO dr_carriers (id, carrierid, gwlist, flags, sort_alg, state, attrs, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			c.ID, c.CarrierID, c.GWList, int(c.Flags), string(c.SortAlg), int(c.State), nullable(c.Attrs), nullable(c.Description)); err != nil {
			return err
		}
		if c.Channels != 0 {
			if err := exec("INSERT INTO palio_dr_limits (kind, id, channels) VALUES ('carrier', ?, ?)", c.CarrierID, c.Channels); err != nil {
				return err
			}
		}
	}
	for _, r := range d.Rules {
		if err := exec("INSERT INTO dr_rules (ruleid, groupid, prefix, timerec, priority, routeid, gwlist, sort_alg, sort_profile, attrs, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			r.ID, r.Groups, r.Prefix, nullable(r.TimeRec), r.Priority, nullable(r.RouteID), r.GWList, string(r.SortAlg), r.SortProfile, nullable(r.Attrs), nullable(r.Description)); err != nil {
			return err
		}
	}
	for _, g := range d.Groups {
		if err := exec("INSERT INTO dr_groups (id, username, domain, groupid, description) VALUES (?, ?, ?, ?, ?)",
			g.ID, g.Username, nullable(g.Domain), g.Group, nullable(g.Description)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: routing replace: %w", err)
	}
	return nil
}

// AddStateChange records c in palio_dr_events and drops the changes of
// its gateway beyond routing.HistoryKeep, in one transaction.
func (s *RoutingStore) AddStateChange(ctx context.Context, c routing.StateChange) error {
	tx, err := s.db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: gateway %s history: %w", c.Gateway, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO palio_dr_events (gwid, time_ms, from_state, to_state, cause, reason, node) VALUES (?, ?, ?, ?, ?, ?, ?)",
		c.Gateway, c.Time.UnixMilli(), int(c.From), int(c.To), string(c.Cause), truncate(c.Reason, 255), truncate(c.Node, 64)); err != nil {
		return fmt.Errorf("sqlstore: gateway %s history: %w", c.Gateway, err)
	}
	// The id of the oldest change to keep; older ones go.
	var keep int64
	err = tx.QueryRowContext(ctx, "SELECT id FROM palio_dr_events WHERE "+s.db.dialect.exact("gwid")+" ORDER BY id DESC LIMIT 1 OFFSET ?",
		append(s.db.dialect.exactArgs(c.Gateway), routing.HistoryKeep-1)...).Scan(&keep)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("sqlstore: gateway %s history: %w", c.Gateway, err)
	default:
		if _, err := tx.ExecContext(ctx, "DELETE FROM palio_dr_events WHERE "+s.db.dialect.exact("gwid")+" AND id < ?",
			append(s.db.dialect.exactArgs(c.Gateway), keep)...); err != nil {
			return fmt.Errorf("sqlstore: gateway %s history: %w", c.Gateway, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: gateway %s history: %w", c.Gateway, err)
	}
	return nil
}

// StateHistory returns the last n changes recorded for gwid, newest
// first.
func (s *RoutingStore) StateHistory(ctx context.Context, gwid string, n int) ([]routing.StateChange, error) {
	var out []routing.StateChange
	rows, err := s.db.r.QueryContext(ctx, "SELECT time_ms, from_state, to_state, cause, reason, node FROM palio_dr_events WHERE "+
		s.db.dialect.exact("gwid")+" ORDER BY id DESC LIMIT ?", append(s.db.dialect.exactArgs(gwid), n)...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: gateway %s history: %w", gwid, err)
	}
	defer rows.Close()
	for rows.Next() {
		var ms int64
		var from, to int
		var cause string
		c := routing.StateChange{Gateway: gwid}
		if err := rows.Scan(&ms, &from, &to, &cause, &c.Reason, &c.Node); err != nil {
			return nil, fmt.Errorf("sqlstore: gateway %s history: %w", gwid, err)
		}
		c.Time, c.From, c.To, c.Cause = time.UnixMilli(ms), routing.State(from), routing.State(to), routing.Cause(cause)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: gateway %s history: %w", gwid, err)
	}
	return out, nil
}

// truncate cuts s to at most n bytes of valid UTF-8, for a column of n.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
