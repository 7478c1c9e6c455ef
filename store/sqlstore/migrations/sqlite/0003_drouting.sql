-- drouting's tables (OpenSIPS 3.6 columns) and Palio's channel limits,
-- with the "routing" change counter.

CREATE TABLE IF NOT EXISTS dr_gateways (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    gwid CHAR(64) NOT NULL,
    type INTEGER NOT NULL DEFAULT 0,
    address CHAR(128) NOT NULL,
    strip INTEGER NOT NULL DEFAULT 0,
    pri_prefix CHAR(16) DEFAULT NULL,
    attrs CHAR(255) DEFAULT NULL,
    probe_mode INTEGER NOT NULL DEFAULT 0,
    state INTEGER NOT NULL DEFAULT 0,
    socket CHAR(128) DEFAULT NULL,
    description CHAR(128) DEFAULT NULL,
    CONSTRAINT dr_gw_idx UNIQUE (gwid)
)
;
CREATE TABLE IF NOT EXISTS dr_rules (
    ruleid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    groupid CHAR(255) NOT NULL,
    prefix CHAR(64) NOT NULL,
    timerec CHAR(255) DEFAULT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    routeid CHAR(255) DEFAULT NULL,
    gwlist CHAR(255) NOT NULL,
    sort_alg CHAR(1) NOT NULL DEFAULT 'N',
    sort_profile INTEGER DEFAULT NULL,
    attrs CHAR(255) DEFAULT NULL,
    description CHAR(128) DEFAULT NULL
)
;
CREATE TABLE IF NOT EXISTS dr_carriers (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    carrierid CHAR(64) NOT NULL,
    gwlist CHAR(255) NOT NULL,
    flags INTEGER NOT NULL DEFAULT 0,
    sort_alg CHAR(1) NOT NULL DEFAULT 'N',
    state INTEGER NOT NULL DEFAULT 0,
    attrs CHAR(255) DEFAULT NULL,
    description CHAR(128) DEFAULT NULL,
    CONSTRAINT dr_carrier_idx UNIQUE (carrierid)
)
;
CREATE TABLE IF NOT EXISTS dr_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username CHAR(64) NOT NULL,
    domain CHAR(128) DEFAULT NULL,
    groupid INTEGER NOT NULL DEFAULT 0,
    description CHAR(128) DEFAULT NULL
)
;
CREATE TABLE IF NOT EXISTS palio_dr_limits (
    kind CHAR(8) NOT NULL,
    id CHAR(64) NOT NULL,
    channels INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, id)
)
;
INSERT OR IGNORE INTO palio_changes (name, version) VALUES ('routing', 0)
;
CREATE TRIGGER IF NOT EXISTS palio_dr_gateways_ins AFTER INSERT ON dr_gateways
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dr_gateways_upd AFTER UPDATE ON dr_gateways
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dr_gateways_del AFTER DELETE ON dr_gateways
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dr_rules_ins AFTER INSERT ON dr_rules
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dr_rules_upd AFTER UPDATE ON dr_rules
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dr_rules_del AFTER DELETE ON dr_rules
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dr_carriers_ins AFTER INSERT ON dr_carriers
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dr_carriers_upd AFTER UPDATE ON dr_carriers
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dr_carriers_del AFTER DELETE ON dr_carriers
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dr_groups_ins AFTER INSERT ON dr_groups
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dr_groups_upd AFTER UPDATE ON dr_groups
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_dr_groups_del AFTER DELETE ON dr_groups
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_palio_dr_limits_ins AFTER INSERT ON palio_dr_limits
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_palio_dr_limits_upd AFTER UPDATE ON palio_dr_limits
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
CREATE TRIGGER IF NOT EXISTS palio_palio_dr_limits_del AFTER DELETE ON palio_dr_limits
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'; END
;
