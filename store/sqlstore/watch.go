package sqlstore

import (
	"context"
	"log/slog"
	"time"
)

// Watch polls the change counters (palio_changes) every interval until ctx
// ends, and calls onChange with the names of the tables whose counter moved
// since the previous poll (the first poll only records them). Several Palio
// nodes sharing a database use it to reload their snapshots after a change
// made through another node or by an external tool. A database that does
// not answer is logged once per outage and polled again.
func (db *DB) Watch(ctx context.Context, interval time.Duration, log *slog.Logger, onChange func(tables []string)) {
	if log == nil {
		log = slog.Default()
	}
	var last map[string]int64
	down := false
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		vers, err := db.Versions(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !down {
				log.Warn("sqlstore: change poll failed; snapshots stay as they are", "error", err)
				down = true
			}
		case err == nil:
			if down {
				log.Info("sqlstore: change poll works again")
				down = false
			}
			if last != nil {
				var changed []string
				for name, v := range vers {
					if last[name] != v {
						changed = append(changed, name)
					}
				}
				if len(changed) > 0 {
					onChange(changed)
				}
			}
			last = vers
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
