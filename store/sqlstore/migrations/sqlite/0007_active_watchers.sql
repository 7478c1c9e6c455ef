-- Subscriptions of the presence server (package presence): OpenSIPS's
-- active_watchers (presence module, OpenSIPS 3.6 columns), written
-- through by the notifier so that a restart keeps them, plus the columns
-- Palio's notifier needs that OpenSIPS keeps elsewhere: the URIs of the
-- SUBSCRIBE's From and To (palio_watcher_uri, palio_to_uri) and the
-- address and transport it came from, where NOTIFYs go without a route
-- set (palio_received, palio_transport). expires is a Unix time, as in
-- OpenSIPS; record_route is the route set, comma-separated.

CREATE TABLE IF NOT EXISTS active_watchers (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    presentity_uri VARCHAR(255) NOT NULL,
    watcher_username VARCHAR(64) NOT NULL,
    watcher_domain VARCHAR(64) NOT NULL,
    to_user VARCHAR(64) NOT NULL DEFAULT '',
    to_domain VARCHAR(64) NOT NULL DEFAULT '',
    event VARCHAR(64) NOT NULL DEFAULT 'presence',
    event_id VARCHAR(64) DEFAULT NULL,
    to_tag VARCHAR(64) NOT NULL,
    from_tag VARCHAR(64) NOT NULL,
    callid VARCHAR(255) NOT NULL,
    local_cseq INTEGER NOT NULL,
    remote_cseq INTEGER NOT NULL,
    contact VARCHAR(255) NOT NULL,
    record_route TEXT,
    expires INTEGER NOT NULL,
    status INTEGER NOT NULL DEFAULT 2,
    reason VARCHAR(64),
    version INTEGER NOT NULL DEFAULT 0,
    socket_info VARCHAR(64) NOT NULL DEFAULT '',
    local_contact VARCHAR(255) NOT NULL DEFAULT '',
    palio_watcher_uri VARCHAR(255) NOT NULL DEFAULT '',
    palio_to_uri VARCHAR(255) NOT NULL DEFAULT '',
    palio_received VARCHAR(64) NOT NULL DEFAULT '',
    palio_transport VARCHAR(8) NOT NULL DEFAULT '',
    CONSTRAINT active_watchers_idx UNIQUE (callid, to_tag, from_tag)
)
;
CREATE INDEX IF NOT EXISTS active_watchers_expires ON active_watchers (expires)
;
CREATE INDEX IF NOT EXISTS active_watchers_pres ON active_watchers (presentity_uri, event)
;
