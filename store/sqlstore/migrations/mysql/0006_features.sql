-- The call services (package features): OpenSIPS's userblacklist and
-- globalblacklist (userblacklist module, OpenSIPS 3.6 columns) and
-- Palio's palio_features, one row per account with a service on. The
-- three bump the "features" change counter, so that running nodes reload
-- the services' snapshot after a change.
--
-- OpenSIPS indexes userblacklist (username, domain, prefix) and
-- globalblacklist (prefix) without UNIQUE; Palio's tables make them
-- unique (a prefix is in a list once). The domains compare without case
-- (the default collation).

CREATE TABLE IF NOT EXISTS userblacklist (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    username VARCHAR(64) NOT NULL DEFAULT '',
    domain VARCHAR(64) NOT NULL DEFAULT '',
    prefix VARCHAR(64) NOT NULL DEFAULT '',
    whitelist TINYINT(1) NOT NULL DEFAULT 0,
    CONSTRAINT userblacklist_idx UNIQUE (username, domain, prefix)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS globalblacklist (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    prefix VARCHAR(64) NOT NULL DEFAULT '',
    whitelist TINYINT(1) NOT NULL DEFAULT 0,
    description VARCHAR(255) DEFAULT NULL,
    CONSTRAINT globalblacklist_idx UNIQUE (prefix)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_features (
    username VARCHAR(64) NOT NULL,
    domain VARCHAR(64) NOT NULL DEFAULT '',
    forward_always VARCHAR(64) NOT NULL DEFAULT '',
    forward_busy VARCHAR(64) NOT NULL DEFAULT '',
    forward_noanswer VARCHAR(64) NOT NULL DEFAULT '',
    noanswer_after INT(11) NOT NULL DEFAULT 0,
    forward_unreachable VARCHAR(64) NOT NULL DEFAULT '',
    dnd TINYINT(1) NOT NULL DEFAULT 0,
    dnd_action VARCHAR(16) NOT NULL DEFAULT '',
    anonymous_block TINYINT(1) NOT NULL DEFAULT 0,
    secretary VARCHAR(64) NOT NULL DEFAULT '',
    secretary_allow VARCHAR(255) NOT NULL DEFAULT '',
    ring_boss_after INT(11) NOT NULL DEFAULT 0,
    boss_when_secretary_fails TINYINT(1) NOT NULL DEFAULT 0,
    PRIMARY KEY (username, domain)
) ENGINE=InnoDB
;
INSERT IGNORE INTO palio_changes (name, version) VALUES ('features', 0)
;
DROP TRIGGER IF EXISTS palio_userblacklist_ins
;
CREATE TRIGGER palio_userblacklist_ins AFTER INSERT ON userblacklist FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'features'
;
DROP TRIGGER IF EXISTS palio_userblacklist_upd
;
CREATE TRIGGER palio_userblacklist_upd AFTER UPDATE ON userblacklist FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'features'
;
DROP TRIGGER IF EXISTS palio_userblacklist_del
;
CREATE TRIGGER palio_userblacklist_del AFTER DELETE ON userblacklist FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'features'
;
DROP TRIGGER IF EXISTS palio_globalblacklist_ins
;
CREATE TRIGGER palio_globalblacklist_ins AFTER INSERT ON globalblacklist FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'features'
;
DROP TRIGGER IF EXISTS palio_globalblacklist_upd
;
CREATE TRIGGER palio_globalblacklist_upd AFTER UPDATE ON globalblacklist FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'features'
;
DROP TRIGGER IF EXISTS palio_globalblacklist_del
;
CREATE TRIGGER palio_globalblacklist_del AFTER DELETE ON globalblacklist FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'features'
;
DROP TRIGGER IF EXISTS palio_features_ins
;
CREATE TRIGGER palio_features_ins AFTER INSERT ON palio_features FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'features'
;
DROP TRIGGER IF EXISTS palio_features_upd
;
CREATE TRIGGER palio_features_upd AFTER UPDATE ON palio_features FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'features'
;
DROP TRIGGER IF EXISTS palio_features_del
;
CREATE TRIGGER palio_features_del AFTER DELETE ON palio_features FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'features'
;
