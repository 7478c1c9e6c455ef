-- drouting's tables (OpenSIPS 3.6 columns) and Palio's channel limits,
-- with the "routing" change counter.

CREATE TABLE IF NOT EXISTS dr_gateways (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    gwid CHAR(64) NOT NULL,
    type INT(11) NOT NULL DEFAULT 0,
    address CHAR(128) NOT NULL,
    strip INT(11) NOT NULL DEFAULT 0,
    pri_prefix CHAR(16) DEFAULT NULL,
    attrs CHAR(255) DEFAULT NULL,
    probe_mode INT(11) NOT NULL DEFAULT 0,
    state INT(11) NOT NULL DEFAULT 0,
    socket CHAR(128) DEFAULT NULL,
    description CHAR(128) DEFAULT NULL,
    CONSTRAINT dr_gw_idx UNIQUE (gwid)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS dr_rules (
    ruleid INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    groupid CHAR(255) NOT NULL,
    prefix CHAR(64) NOT NULL,
    timerec CHAR(255) DEFAULT NULL,
    priority INT(11) NOT NULL DEFAULT 0,
    routeid CHAR(255) DEFAULT NULL,
    gwlist CHAR(255) NOT NULL,
    sort_alg CHAR(1) NOT NULL DEFAULT 'N',
    sort_profile INT(11) DEFAULT NULL,
    attrs CHAR(255) DEFAULT NULL,
    description CHAR(128) DEFAULT NULL
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS dr_carriers (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    carrierid CHAR(64) NOT NULL,
    gwlist CHAR(255) NOT NULL,
    flags INT(11) NOT NULL DEFAULT 0,
    sort_alg CHAR(1) NOT NULL DEFAULT 'N',
    state INT(11) NOT NULL DEFAULT 0,
    attrs CHAR(255) DEFAULT NULL,
    description CHAR(128) DEFAULT NULL,
    CONSTRAINT dr_carrier_idx UNIQUE (carrierid)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS dr_groups (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    username CHAR(64) NOT NULL,
    domain CHAR(128) DEFAULT NULL,
    groupid INT(11) NOT NULL DEFAULT 0,
    description CHAR(128) DEFAULT NULL
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_dr_limits (
    kind CHAR(8) NOT NULL,
    id CHAR(64) NOT NULL,
    channels INT(11) NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, id)
) ENGINE=InnoDB
;
INSERT IGNORE INTO palio_changes (name, version) VALUES ('routing', 0)
;
DROP TRIGGER IF EXISTS palio_dr_gateways_ins
;
CREATE TRIGGER palio_dr_gateways_ins AFTER INSERT ON dr_gateways FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_dr_gateways_upd
;
CREATE TRIGGER palio_dr_gateways_upd AFTER UPDATE ON dr_gateways FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_dr_gateways_del
;
CREATE TRIGGER palio_dr_gateways_del AFTER DELETE ON dr_gateways FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_dr_rules_ins
;
CREATE TRIGGER palio_dr_rules_ins AFTER INSERT ON dr_rules FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_dr_rules_upd
;
CREATE TRIGGER palio_dr_rules_upd AFTER UPDATE ON dr_rules FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_dr_rules_del
;
CREATE TRIGGER palio_dr_rules_del AFTER DELETE ON dr_rules FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_dr_carriers_ins
;
CREATE TRIGGER palio_dr_carriers_ins AFTER INSERT ON dr_carriers FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_dr_carriers_upd
;
CREATE TRIGGER palio_dr_carriers_upd AFTER UPDATE ON dr_carriers FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_dr_carriers_del
;
CREATE TRIGGER palio_dr_carriers_del AFTER DELETE ON dr_carriers FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_dr_groups_ins
;
CREATE TRIGGER palio_dr_groups_ins AFTER INSERT ON dr_groups FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_dr_groups_upd
;
CREATE TRIGGER palio_dr_groups_upd AFTER UPDATE ON dr_groups FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_dr_groups_del
;
CREATE TRIGGER palio_dr_groups_del AFTER DELETE ON dr_groups FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_palio_dr_limits_ins
;
CREATE TRIGGER palio_palio_dr_limits_ins AFTER INSERT ON palio_dr_limits FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_palio_dr_limits_upd
;
CREATE TRIGGER palio_palio_dr_limits_upd AFTER UPDATE ON palio_dr_limits FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_palio_dr_limits_del
;
CREATE TRIGGER palio_palio_dr_limits_del AFTER DELETE ON palio_dr_limits FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
