-- The router's defence (package guard): palio_guard_bans holds the bans
-- that outlive a restart and that the nodes sharing the database share
-- (sources and accounts banned for failing authentication, accounts whose
-- outbound calls a fraud threshold blocked; flood blocks live in memory),
-- and OpenSIPS's fraud_detection (fraud_detection module, OpenSIPS 3.6
-- columns) the fraud rules, with Palio's total_minutes_warning and
-- total_minutes_critical. Both bump the "guard" change counter: running
-- nodes reload them after an operator's unban, clear or rule change, and
-- after another node's ban.
--
-- kind is ip, user or fraud; subject the IP address or the user name,
-- compared byte for byte (utf8mb4_bin: "Mario" and "mario" are two
-- accounts, as in the memory store). created and expires are Unix
-- milliseconds; expires 0 is none (a fraud block lasts until an operator
-- clears it). The thresholds default to 0 (off), where OpenSIPS's columns
-- have no default. A fraud_detection table OpenSIPS created is kept as it
-- is: it lacks the two total_minutes columns (guard's README has the
-- ALTER TABLE that adds them).

CREATE TABLE IF NOT EXISTS palio_guard_bans (
    kind VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    subject VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    reason VARCHAR(255) NOT NULL DEFAULT '',
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, subject)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS fraud_detection (
    ruleid INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    profileid INT UNSIGNED NOT NULL,
    prefix CHAR(64) NOT NULL,
    start_hour CHAR(5) DEFAULT '00:00' NOT NULL,
    end_hour CHAR(5) DEFAULT '23:59' NOT NULL,
    daysoftheweek CHAR(64) DEFAULT 'Mon-Sun' NOT NULL,
    cpm_warning INT(5) UNSIGNED NOT NULL DEFAULT 0,
    cpm_critical INT(5) UNSIGNED NOT NULL DEFAULT 0,
    call_duration_warning INT(5) UNSIGNED NOT NULL DEFAULT 0,
    call_duration_critical INT(5) UNSIGNED NOT NULL DEFAULT 0,
    total_calls_warning INT(5) UNSIGNED NOT NULL DEFAULT 0,
    total_calls_critical INT(5) UNSIGNED NOT NULL DEFAULT 0,
    concurrent_calls_warning INT(5) UNSIGNED NOT NULL DEFAULT 0,
    concurrent_calls_critical INT(5) UNSIGNED NOT NULL DEFAULT 0,
    sequential_calls_warning INT(5) UNSIGNED NOT NULL DEFAULT 0,
    sequential_calls_critical INT(5) UNSIGNED NOT NULL DEFAULT 0,
    total_minutes_warning INT(5) UNSIGNED NOT NULL DEFAULT 0,
    total_minutes_critical INT(5) UNSIGNED NOT NULL DEFAULT 0
) ENGINE=InnoDB
;
INSERT IGNORE INTO palio_changes (name, version) VALUES ('guard', 0)
;
DROP TRIGGER IF EXISTS palio_guard_bans_ins
;
CREATE TRIGGER palio_guard_bans_ins AFTER INSERT ON palio_guard_bans FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'guard'
;
DROP TRIGGER IF EXISTS palio_guard_bans_upd
;
CREATE TRIGGER palio_guard_bans_upd AFTER UPDATE ON palio_guard_bans FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'guard'
;
DROP TRIGGER IF EXISTS palio_guard_bans_del
;
CREATE TRIGGER palio_guard_bans_del AFTER DELETE ON palio_guard_bans FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'guard'
;
DROP TRIGGER IF EXISTS palio_fraud_detection_ins
;
CREATE TRIGGER palio_fraud_detection_ins AFTER INSERT ON fraud_detection FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'guard'
;
DROP TRIGGER IF EXISTS palio_fraud_detection_upd
;
CREATE TRIGGER palio_fraud_detection_upd AFTER UPDATE ON fraud_detection FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'guard'
;
DROP TRIGGER IF EXISTS palio_fraud_detection_del
;
CREATE TRIGGER palio_fraud_detection_del AFTER DELETE ON fraud_detection FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'guard'
;
