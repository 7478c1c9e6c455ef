-- The history of gateway state changes (routing.StateChange): probes
-- taking a gateway down or up, an operator enabling or disabling it,
-- failed calls. Written by the Router that made the change, read by the
-- CLI's "gateway show". The store keeps the last routing.HistoryKeep
-- changes of each gateway. time_ms is in Unix milliseconds.

CREATE TABLE IF NOT EXISTS palio_dr_events (
    id BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT NOT NULL,
    gwid VARCHAR(64) NOT NULL,
    time_ms BIGINT NOT NULL,
    from_state INT NOT NULL,
    to_state INT NOT NULL,
    cause VARCHAR(32) NOT NULL DEFAULT '',
    reason VARCHAR(255) NOT NULL DEFAULT '',
    node VARCHAR(64) NOT NULL DEFAULT '',
    KEY palio_dr_events_gwid (gwid, id)
) ENGINE=InnoDB
;
