package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/palio-voip/palio/provisioning"
)

// DeviceStore is provisioning.Store and provisioning.ResyncQueue over
// palio_devices and its tables (migration 0014): palio_device_lines,
// palio_device_keys and palio_device_settings hold a device's lines,
// keys and settings, rewritten whole with the device in one
// transaction; palio_unknown_devices the MACs that asked without being
// known; palio_device_resync the resync requests, whose writes move the
// "devices" change counter (DB.Versions, DB.Watch) so that a running
// server sends them. Times are Unix milliseconds.
type DeviceStore struct{ db *DB }

var (
	_ provisioning.Store       = (*DeviceStore)(nil)
	_ provisioning.ResyncQueue = (*DeviceStore)(nil)
)

// Devices returns the provisioning device store of db.
func (db *DB) Devices() *DeviceStore { return &DeviceStore{db} }

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

const deviceColumns = "mac, model, name, owner, firmware_url, auth_secret, last_fetch, last_ip, last_user_agent"

// devices reads the devices the WHERE clause picks (empty: all), with
// their lines, keys and settings, by MAC.
func (s *DeviceStore) devices(ctx context.Context, where string, args ...any) ([]provisioning.Device, error) {
	tx, err := s.db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT "+deviceColumns+" FROM palio_devices"+where+" ORDER BY mac", args...)
	if err != nil {
		return nil, err
	}
	var out []provisioning.Device
	index := map[provisioning.MAC]int{}
	for rows.Next() {
		var d provisioning.Device
		var mac string
		var last int64
		if err := rows.Scan(&mac, &d.Model, &d.Name, &d.Owner, &d.FirmwareURL, &d.AuthSecret, &last, &d.LastIP, &d.LastUserAgent); err != nil {
			rows.Close()
			return nil, err
		}
		if d.MAC, err = provisioning.ParseMAC(mac); err != nil {
			continue // written by another tool: not a device Palio can serve
		}
		d.LastFetch = fromMillis(last)
		index[d.MAC] = len(out)
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	// The lines, keys and settings, each table in one query; a row of a
	// MAC not read above (written in between) is skipped.
	attach := func(query string, scan func(rows *sql.Rows) (string, func(*provisioning.Device), error)) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			mac, apply, err := scan(rows)
			if err != nil {
				return err
			}
			m, err := provisioning.ParseMAC(mac)
			if i, ok := index[m]; err == nil && ok {
				apply(&out[i])
			}
		}
		return rows.Err()
	}
	err = attach("SELECT mac, username, domain, display_name, password FROM palio_device_lines"+where+" ORDER BY mac, idx",
		func(rows *sql.Rows) (string, func(*provisioning.Device), error) {
			var mac string
			var l provisioning.Line
			err := rows.Scan(&mac, &l.User, &l.Domain, &l.DisplayName, &l.Password)
			return mac, func(d *provisioning.Device) { d.Lines = append(d.Lines, l) }, err
		})
	if err == nil {
		err = attach("SELECT mac, number, label FROM palio_device_keys"+where+" ORDER BY mac, idx",
			func(rows *sql.Rows) (string, func(*provisioning.Device), error) {
				var mac string
				var k provisioning.Key
				err := rows.Scan(&mac, &k.Number, &k.Label)
				return mac, func(d *provisioning.Device) { d.Keys = append(d.Keys, k) }, err
			})
	}
	if err == nil {
		err = attach("SELECT mac, name, value FROM palio_device_settings"+where+" ORDER BY mac, name",
			func(rows *sql.Rows) (string, func(*provisioning.Device), error) {
				var mac, name, value string
				err := rows.Scan(&mac, &name, &value)
				return mac, func(d *provisioning.Device) {
					if d.Settings == nil {
						d.Settings = map[string]string{}
					}
					d.Settings[name] = value
				}, err
			})
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Device returns the device with MAC mac, or provisioning.ErrNotFound.
func (s *DeviceStore) Device(ctx context.Context, mac provisioning.MAC) (provisioning.Device, error) {
	list, err := s.devices(ctx, " WHERE mac = ?", mac.String())
	if err != nil {
		return provisioning.Device{}, fmt.Errorf("sqlstore: device %s: %w", mac, err)
	}
	if len(list) == 0 {
		return provisioning.Device{}, provisioning.ErrNotFound
	}
	return list[0], nil
}

// Devices returns every device, by MAC.
func (s *DeviceStore) Devices(ctx context.Context) ([]provisioning.Device, error) {
	list, err := s.devices(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: devices: %w", err)
	}
	return list, nil
}

// write runs fn in a write transaction (READ COMMITTED on MySQL, tried
// again when InnoDB picks it as a deadlock's victim).
func (s *DeviceStore) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return (&MediaBoxStore{s.db}).write(ctx, fn)
}

// PutDevice stores d (Validate first) with its lines, keys and settings,
// replacing the device with its MAC but keeping its last fetch; the MAC
// leaves palio_unknown_devices.
func (s *DeviceStore) PutDevice(ctx context.Context, d provisioning.Device) error {
	if err := d.Validate(); err != nil {
		return err
	}
	mac := d.MAC.String()
	err := s.write(ctx, func(tx *sql.Tx) error {
		q := s.db.dialect.upsert("palio_devices", []string{"mac", "model", "name", "owner", "firmware_url", "auth_secret"},
			[]string{"mac"}, []string{"model", "name", "owner", "firmware_url", "auth_secret"})
		if _, err := tx.ExecContext(ctx, q, mac, d.Model, d.Name, d.Owner, d.FirmwareURL, d.AuthSecret); err != nil {
			return err
		}
		if err := deleteParts(ctx, tx, mac); err != nil {
			return err
		}
		for i, l := range d.Lines {
			if _, err := tx.ExecContext(ctx, "INSERT INTO palio_device_lines (mac, idx, username, domain, display_name, password) VALUES (?, ?, ?, ?, ?, ?)",
				mac, i+1, l.User, l.Domain, l.DisplayName, l.Password); err != nil {
				return err
			}
		}
		for i, k := range d.Keys {
			if _, err := tx.ExecContext(ctx, "INSERT INTO palio_device_keys (mac, idx, number, label) VALUES (?, ?, ?, ?)", mac, i+1, k.Number, k.Label); err != nil {
				return err
			}
		}
		for name, value := range d.Settings {
			if _, err := tx.ExecContext(ctx, "INSERT INTO palio_device_settings (mac, name, value) VALUES (?, ?, ?)", mac, name, value); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM palio_unknown_devices WHERE mac = ?", mac)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: put device %s: %w", mac, err)
	}
	return nil
}

// deleteParts removes a device's lines, keys and settings.
func deleteParts(ctx context.Context, tx *sql.Tx, mac string) error {
	for _, table := range []string{"palio_device_lines", "palio_device_keys", "palio_device_settings"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE mac = ?", mac); err != nil {
			return err
		}
	}
	return nil
}

// DeleteDevice removes the device with MAC mac, its lines, keys,
// settings and pending resync, or returns provisioning.ErrNotFound.
func (s *DeviceStore) DeleteDevice(ctx context.Context, mac provisioning.MAC) error {
	m := mac.String()
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM palio_devices WHERE mac = ?", m)
		if err != nil {
			return err
		}
		if err := mustAffect(res, provisioning.ErrNotFound); err != nil {
			return err
		}
		if err := deleteParts(ctx, tx, m); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM palio_device_resync WHERE mac = ?", m)
		return err
	})
	if errors.Is(err, provisioning.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("sqlstore: delete device %s: %w", m, err)
	}
	return nil
}

// RecordFetch records f as its device's last fetch, or, for a MAC no
// device has, in palio_unknown_devices.
func (s *DeviceStore) RecordFetch(ctx context.Context, f provisioning.Fetch) error {
	mac := f.MAC.String()
	ua := truncateText(f.UserAgent, 255)
	res, err := s.db.w.ExecContext(ctx, "UPDATE palio_devices SET last_fetch = ?, last_ip = ?, last_user_agent = ? WHERE mac = ?",
		millis(f.Time), f.IP, ua, mac)
	if err != nil {
		return fmt.Errorf("sqlstore: device %s fetch: %w", mac, err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	var q string
	switch s.db.dialect {
	case MySQL:
		q = "INSERT INTO palio_unknown_devices (mac, model, ip, user_agent, first_seen, last_seen, fetches) VALUES (?, ?, ?, ?, ?, ?, 1) " +
			"ON DUPLICATE KEY UPDATE model = IF(VALUES(model) = '', model, VALUES(model)), ip = VALUES(ip), user_agent = VALUES(user_agent), " +
			"last_seen = VALUES(last_seen), fetches = fetches + 1"
	default:
		q = "INSERT INTO palio_unknown_devices (mac, model, ip, user_agent, first_seen, last_seen, fetches) VALUES (?, ?, ?, ?, ?, ?, 1) " +
			"ON CONFLICT(mac) DO UPDATE SET model = CASE WHEN excluded.model = '' THEN model ELSE excluded.model END, ip = excluded.ip, " +
			"user_agent = excluded.user_agent, last_seen = excluded.last_seen, fetches = fetches + 1"
	}
	at := millis(f.Time)
	if _, err := s.db.w.ExecContext(ctx, q, mac, f.Model, f.IP, ua, at, at); err != nil {
		return fmt.Errorf("sqlstore: unknown device %s: %w", mac, err)
	}
	return nil
}

// UnknownDevices returns the unknown devices, by MAC.
func (s *DeviceStore) UnknownDevices(ctx context.Context) ([]provisioning.UnknownDevice, error) {
	rows, err := s.db.r.QueryContext(ctx, "SELECT mac, model, ip, user_agent, first_seen, last_seen, fetches FROM palio_unknown_devices ORDER BY mac")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: unknown devices: %w", err)
	}
	defer rows.Close()
	var out []provisioning.UnknownDevice
	for rows.Next() {
		var u provisioning.UnknownDevice
		var mac string
		var first, last int64
		if err := rows.Scan(&mac, &u.Model, &u.IP, &u.UserAgent, &first, &last, &u.Count); err != nil {
			return nil, fmt.Errorf("sqlstore: unknown devices: %w", err)
		}
		if u.MAC, err = provisioning.ParseMAC(mac); err != nil {
			continue
		}
		u.FirstSeen, u.LastSeen = fromMillis(first), fromMillis(last)
		out = append(out, u)
	}
	return out, rows.Err()
}

// RequestResync queues a resync of the device with MAC mac (moving the
// "devices" counter), or returns provisioning.ErrNotFound.
func (s *DeviceStore) RequestResync(ctx context.Context, mac provisioning.MAC) error {
	m := mac.String()
	err := s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM palio_devices WHERE mac = ?", m).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return provisioning.ErrNotFound
		} else if err != nil {
			return err
		}
		q := s.db.dialect.upsert("palio_device_resync", []string{"mac", "requested"}, []string{"mac"}, []string{"requested"})
		_, err := tx.ExecContext(ctx, q, m, time.Now().UnixMilli())
		return err
	})
	if errors.Is(err, provisioning.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("sqlstore: resync %s: %w", m, err)
	}
	return nil
}

// TakeResyncs returns the pending resync requests and removes them; each
// goes to the one caller whose DELETE removed it, also among nodes.
func (s *DeviceStore) TakeResyncs(ctx context.Context) ([]provisioning.MAC, error) {
	rows, err := s.db.w.QueryContext(ctx, "SELECT mac, requested FROM palio_device_resync ORDER BY requested")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: resyncs: %w", err)
	}
	type req struct {
		mac string
		at  int64
	}
	var pending []req
	for rows.Next() {
		var r req
		if err := rows.Scan(&r.mac, &r.at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: resyncs: %w", err)
		}
		pending = append(pending, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: resyncs: %w", err)
	}
	var out []provisioning.MAC
	for _, r := range pending {
		res, err := s.db.w.ExecContext(ctx, "DELETE FROM palio_device_resync WHERE mac = ? AND requested = ?", r.mac, r.at)
		if err != nil {
			return out, fmt.Errorf("sqlstore: resyncs: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // another node took it
		}
		if m, err := provisioning.ParseMAC(r.mac); err == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// truncateText cuts s to at most n bytes on a rune boundary.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return strings.ToValidUTF8(s[:n], "")
}
