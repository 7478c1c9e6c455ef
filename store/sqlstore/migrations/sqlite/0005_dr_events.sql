-- The history of gateway state changes (routing.StateChange): probes
-- taking a gateway down or up, an operator enabling or disabling it,
-- failed calls. Written by the Router that made the change, read by the
-- CLI's "gateway show". The store keeps the last routing.HistoryKeep
-- changes of each gateway. time_ms is in Unix milliseconds.

CREATE TABLE IF NOT EXISTS palio_dr_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gwid VARCHAR(64) NOT NULL,
    time_ms BIGINT NOT NULL,
    from_state INTEGER NOT NULL,
    to_state INTEGER NOT NULL,
    cause VARCHAR(32) NOT NULL DEFAULT '',
    reason VARCHAR(255) NOT NULL DEFAULT '',
    node VARCHAR(64) NOT NULL DEFAULT ''
)
;
CREATE INDEX IF NOT EXISTS palio_dr_events_gwid ON palio_dr_events (gwid, id)
;
