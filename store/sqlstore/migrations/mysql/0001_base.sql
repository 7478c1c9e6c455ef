-- Palio's own bookkeeping, the dialplan, the subscriber and location tables.
-- A statement ends with a semicolon alone on its line.
-- OpenSIPS tables are created only when missing, so that Palio can share an
-- existing OpenSIPS database; their columns follow OpenSIPS 3.6's schema.

CREATE TABLE IF NOT EXISTS palio_changes (
    name VARCHAR(64) PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS dialplan (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    dpid INT(11) NOT NULL,
    pr INT(11) NOT NULL DEFAULT 0,
    match_op INT(11) NOT NULL,
    match_exp CHAR(64) NOT NULL,
    match_flags INT(11) NOT NULL DEFAULT 0,
    subst_exp CHAR(64) DEFAULT NULL,
    repl_exp CHAR(32) DEFAULT NULL,
    timerec CHAR(255) DEFAULT NULL,
    disabled INT(11) NOT NULL DEFAULT 0,
    attrs CHAR(255) DEFAULT NULL
) ENGINE=InnoDB
;
INSERT IGNORE INTO palio_changes (name, version) VALUES ('dialplan', 0)
;
DROP TRIGGER IF EXISTS palio_dialplan_ins
;
CREATE TRIGGER palio_dialplan_ins AFTER INSERT ON dialplan FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'dialplan'
;
DROP TRIGGER IF EXISTS palio_dialplan_upd
;
CREATE TRIGGER palio_dialplan_upd AFTER UPDATE ON dialplan FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'dialplan'
;
DROP TRIGGER IF EXISTS palio_dialplan_del
;
CREATE TRIGGER palio_dialplan_del AFTER DELETE ON dialplan FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'dialplan'
;
CREATE TABLE IF NOT EXISTS subscriber (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    username CHAR(64) NOT NULL DEFAULT '',
    domain CHAR(64) NOT NULL DEFAULT '',
    password CHAR(25) NOT NULL DEFAULT '',
    ha1 CHAR(64) NOT NULL DEFAULT '',
    ha1_sha256 CHAR(64) NOT NULL DEFAULT '',
    ha1_sha512t256 CHAR(64) NOT NULL DEFAULT '',
    CONSTRAINT account_idx UNIQUE (username, domain),
    INDEX username_idx (username)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS grp (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    username CHAR(64) NOT NULL DEFAULT '',
    domain CHAR(64) NOT NULL DEFAULT '',
    grp CHAR(64) NOT NULL DEFAULT '',
    last_modified DATETIME NOT NULL DEFAULT '1900-01-01 00:00:01',
    CONSTRAINT account_group_idx UNIQUE (username, domain, grp)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_subscriber (
    username CHAR(64) NOT NULL,
    domain CHAR(64) NOT NULL DEFAULT '',
    blocked INT(11) NOT NULL DEFAULT 0,
    inbound_classes CHAR(255) NOT NULL DEFAULT '',
    PRIMARY KEY (username, domain)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS location (
    contact_id BIGINT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    username CHAR(64) NOT NULL DEFAULT '',
    domain CHAR(64) DEFAULT NULL,
    contact TEXT NOT NULL,
    received CHAR(255) DEFAULT NULL,
    path CHAR(255) DEFAULT NULL,
    expires INT(10) UNSIGNED NOT NULL,
    q FLOAT(10,2) NOT NULL DEFAULT 1.0,
    callid CHAR(255) NOT NULL DEFAULT 'Default-Call-ID',
    cseq INT(11) NOT NULL DEFAULT 13,
    last_modified DATETIME NOT NULL DEFAULT '1900-01-01 00:00:01',
    flags INT(11) NOT NULL DEFAULT 0,
    cflags CHAR(255) DEFAULT NULL,
    user_agent CHAR(255) NOT NULL DEFAULT '',
    socket CHAR(64) DEFAULT NULL,
    methods INT(11) DEFAULT NULL,
    sip_instance CHAR(255) DEFAULT NULL,
    kv_store TEXT DEFAULT NULL,
    attr CHAR(255) DEFAULT NULL
) ENGINE=InnoDB
;
CREATE UNIQUE INDEX palio_location_contact ON location (username, domain, contact(255))
;
CREATE INDEX palio_location_expires ON location (expires)
;
