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
-- compared byte for byte. created and expires are Unix milliseconds;
-- expires 0 is none (a fraud block lasts until an operator clears it).
-- The thresholds default to 0 (off), where OpenSIPS's columns have no
-- default.

CREATE TABLE IF NOT EXISTS palio_guard_bans (
    kind VARCHAR(8) NOT NULL,
    subject VARCHAR(128) NOT NULL,
    reason VARCHAR(255) NOT NULL DEFAULT '',
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, subject)
)
;
CREATE TABLE IF NOT EXISTS fraud_detection (
    ruleid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    profileid INTEGER NOT NULL,
    prefix CHAR(64) NOT NULL,
    start_hour CHAR(5) NOT NULL DEFAULT '00:00',
    end_hour CHAR(5) NOT NULL DEFAULT '23:59',
    daysoftheweek CHAR(64) NOT NULL DEFAULT 'Mon-Sun',
    cpm_warning INTEGER NOT NULL DEFAULT 0,
    cpm_critical INTEGER NOT NULL DEFAULT 0,
    call_duration_warning INTEGER NOT NULL DEFAULT 0,
    call_duration_critical INTEGER NOT NULL DEFAULT 0,
    total_calls_warning INTEGER NOT NULL DEFAULT 0,
    total_calls_critical INTEGER NOT NULL DEFAULT 0,
    concurrent_calls_warning INTEGER NOT NULL DEFAULT 0,
    concurrent_calls_critical INTEGER NOT NULL DEFAULT 0,
    sequential_calls_warning INTEGER NOT NULL DEFAULT 0,
    sequential_calls_critical INTEGER NOT NULL DEFAULT 0,
    total_minutes_warning INTEGER NOT NULL DEFAULT 0,
    total_minutes_critical INTEGER NOT NULL DEFAULT 0
)
;
INSERT OR IGNORE INTO palio_changes (name, version) VALUES ('guard', 0)
;
CREATE TRIGGER IF NOT EXISTS palio_guard_bans_ins AFTER INSERT ON palio_guard_bans
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'guard'; END
;
CREATE TRIGGER IF NOT EXISTS palio_guard_bans_upd AFTER UPDATE ON palio_guard_bans
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'guard'; END
;
CREATE TRIGGER IF NOT EXISTS palio_guard_bans_del AFTER DELETE ON palio_guard_bans
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'guard'; END
;
CREATE TRIGGER IF NOT EXISTS palio_fraud_detection_ins AFTER INSERT ON fraud_detection
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'guard'; END
;
CREATE TRIGGER IF NOT EXISTS palio_fraud_detection_upd AFTER UPDATE ON fraud_detection
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'guard'; END
;
CREATE TRIGGER IF NOT EXISTS palio_fraud_detection_del AFTER DELETE ON fraud_detection
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'guard'; END
;
