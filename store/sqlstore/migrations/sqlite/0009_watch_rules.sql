-- Who may watch whom (package presence): a row lets (allow 1) or stops
-- (allow 0) a watcher ("user@domain") from watching an account's lamps.
-- Behind the "watchrules" change counter.

CREATE TABLE IF NOT EXISTS palio_watch_rules (
    username VARCHAR(64) NOT NULL,
    domain VARCHAR(64) NOT NULL DEFAULT '' COLLATE NOCASE,
    watcher VARCHAR(128) NOT NULL COLLATE NOCASE,
    allow TINYINT NOT NULL DEFAULT 0,
    PRIMARY KEY (username, domain, watcher)
)
;
INSERT OR IGNORE INTO palio_changes (name, version) VALUES ('watchrules', 0)
;
CREATE TRIGGER IF NOT EXISTS palio_watch_rules_ins AFTER INSERT ON palio_watch_rules
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'watchrules'; END
;
CREATE TRIGGER IF NOT EXISTS palio_watch_rules_upd AFTER UPDATE ON palio_watch_rules
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'watchrules'; END
;
CREATE TRIGGER IF NOT EXISTS palio_watch_rules_del AFTER DELETE ON palio_watch_rules
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'watchrules'; END
;
