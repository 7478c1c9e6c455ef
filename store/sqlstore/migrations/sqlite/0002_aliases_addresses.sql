-- dbaliases (alias_db) and address (permissions), with their change
-- counters; a counter for the accounts, bumped by subscriber, grp and
-- palio_subscriber writes, so that nodes drop their cached accounts.

CREATE TABLE IF NOT EXISTS dbaliases (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    alias_username CHAR(64) NOT NULL DEFAULT '',
    alias_domain CHAR(64) NOT NULL DEFAULT '',
    username CHAR(64) NOT NULL DEFAULT '',
    domain CHAR(64) NOT NULL DEFAULT '',
    CONSTRAINT alias_idx UNIQUE (alias_username, alias_domain)
)
;
CREATE INDEX IF NOT EXISTS target_idx ON dbaliases (username, domain)
;
CREATE TABLE IF NOT EXISTS address (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    grp SMALLINT NOT NULL DEFAULT 0,
    ip CHAR(50) NOT NULL,
    mask SMALLINT NOT NULL DEFAULT 32,
    port SMALLINT NOT NULL DEFAULT 0,
    proto CHAR(4) NOT NULL DEFAULT 'any',
    pattern CHAR(64) DEFAULT NULL,
    context_info CHAR(32) DEFAULT NULL
)
;
INSERT OR IGNORE INTO palio_changes (name, version) VALUES ('dbaliases', 0)
;
INSERT OR IGNORE INTO palio_changes (name, version) VALUES ('address', 0)
;
INSERT OR IGNORE INTO palio_changes (name, version) VALUES ('subscriber', 0)
;
CREATE TRIGGER IF NOT EXISTS palio_dbaliases_ins AFTER INSERT ON dbaliases
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'dbaliases'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dbaliases_upd AFTER UPDATE ON dbaliases
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'dbaliases'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dbaliases_del AFTER DELETE ON dbaliases
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'dbaliases'; END
;
CREATE TRIGGER IF NOT EXISTS palio_address_ins AFTER INSERT ON address
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'address'; END
;
CREATE TRIGGER IF NOT EXISTS palio_address_upd AFTER UPDATE ON address
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'address'; END
;
CREATE TRIGGER IF NOT EXISTS palio_address_del AFTER DELETE ON address
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'address'; END
;
CREATE TRIGGER IF NOT EXISTS palio_subscriber_ins AFTER INSERT ON subscriber
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'; END
;
CREATE TRIGGER IF NOT EXISTS palio_subscriber_upd AFTER UPDATE ON subscriber
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'; END
;
CREATE TRIGGER IF NOT EXISTS palio_subscriber_del AFTER DELETE ON subscriber
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'; END
;
CREATE TRIGGER IF NOT EXISTS palio_grp_ins AFTER INSERT ON grp
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'; END
;
CREATE TRIGGER IF NOT EXISTS palio_grp_upd AFTER UPDATE ON grp
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'; END
;
CREATE TRIGGER IF NOT EXISTS palio_grp_del AFTER DELETE ON grp
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'; END
;
CREATE TRIGGER IF NOT EXISTS palio_psub_ins AFTER INSERT ON palio_subscriber
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'; END
;
CREATE TRIGGER IF NOT EXISTS palio_psub_upd AFTER UPDATE ON palio_subscriber
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'; END
;
CREATE TRIGGER IF NOT EXISTS palio_psub_del AFTER DELETE ON palio_subscriber
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'; END
;
