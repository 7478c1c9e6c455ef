-- dbaliases (alias_db) and address (permissions), with their change
-- counters; a counter for the accounts, bumped by subscriber, grp and
-- palio_subscriber writes, so that nodes drop their cached accounts.

CREATE TABLE IF NOT EXISTS dbaliases (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    alias_username CHAR(64) NOT NULL DEFAULT '',
    alias_domain CHAR(64) NOT NULL DEFAULT '',
    username CHAR(64) NOT NULL DEFAULT '',
    domain CHAR(64) NOT NULL DEFAULT '',
    CONSTRAINT alias_idx UNIQUE (alias_username, alias_domain),
    INDEX target_idx (username, domain)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS address (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    grp SMALLINT(5) UNSIGNED NOT NULL DEFAULT 0,
    ip CHAR(50) NOT NULL,
    mask SMALLINT UNSIGNED NOT NULL DEFAULT 32,
    port SMALLINT(5) UNSIGNED NOT NULL DEFAULT 0,
    proto CHAR(4) NOT NULL DEFAULT 'any',
    pattern CHAR(64) DEFAULT NULL,
    context_info CHAR(32) DEFAULT NULL
) ENGINE=InnoDB
;
INSERT IGNORE INTO palio_changes (name, version) VALUES ('dbaliases', 0)
;
INSERT IGNORE INTO palio_changes (name, version) VALUES ('address', 0)
;
INSERT IGNORE INTO palio_changes (name, version) VALUES ('subscriber', 0)
;
DROP TRIGGER IF EXISTS palio_dbaliases_ins
;
CREATE TRIGGER palio_dbaliases_ins AFTER INSERT ON dbaliases FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'dbaliases'
;
DROP TRIGGER IF EXISTS palio_dbaliases_upd
;
CREATE TRIGGER palio_dbaliases_upd AFTER UPDATE ON dbaliases FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'dbaliases'
;
DROP TRIGGER IF EXISTS palio_dbaliases_del
;
CREATE TRIGGER palio_dbaliases_del AFTER DELETE ON dbaliases FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'dbaliases'
;
DROP TRIGGER IF EXISTS palio_address_ins
;
CREATE TRIGGER palio_address_ins AFTER INSERT ON address FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'address'
;
DROP TRIGGER IF EXISTS palio_address_upd
;
CREATE TRIGGER palio_address_upd AFTER UPDATE ON address FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'address'
;
DROP TRIGGER IF EXISTS palio_address_del
;
CREATE TRIGGER palio_address_del AFTER DELETE ON address FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'address'
;
DROP TRIGGER IF EXISTS palio_subscriber_ins
;
CREATE TRIGGER palio_subscriber_ins AFTER INSERT ON subscriber FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'
;
DROP TRIGGER IF EXISTS palio_subscriber_upd
;
CREATE TRIGGER palio_subscriber_upd AFTER UPDATE ON subscriber FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'
;
DROP TRIGGER IF EXISTS palio_subscriber_del
;
CREATE TRIGGER palio_subscriber_del AFTER DELETE ON subscriber FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'
;
DROP TRIGGER IF EXISTS palio_grp_ins
;
CREATE TRIGGER palio_grp_ins AFTER INSERT ON grp FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'
;
DROP TRIGGER IF EXISTS palio_grp_upd
;
CREATE TRIGGER palio_grp_upd AFTER UPDATE ON grp FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'
;
DROP TRIGGER IF EXISTS palio_grp_del
;
CREATE TRIGGER palio_grp_del AFTER DELETE ON grp FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'
;
DROP TRIGGER IF EXISTS palio_psub_ins
;
CREATE TRIGGER palio_psub_ins AFTER INSERT ON palio_subscriber FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'
;
DROP TRIGGER IF EXISTS palio_psub_upd
;
CREATE TRIGGER palio_psub_upd AFTER UPDATE ON palio_subscriber FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'
;
DROP TRIGGER IF EXISTS palio_psub_del
;
CREATE TRIGGER palio_psub_del AFTER DELETE ON palio_subscriber FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'subscriber'
;
