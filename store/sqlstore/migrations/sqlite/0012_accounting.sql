-- Call records (package accounting): OpenSIPS's acc (v7) and
-- missed_calls (v5) with their 3.6 columns, as its acc module writes them
-- with do_accounting("db", "cdr|missed|failed"): every call in acc, the
-- unanswered ones in missed_calls too. Palio adds its own columns, named
-- palio_*: the record's unique id (which makes a batch written twice
-- harmless), caller and callee accounts, From user@host, the number as
-- dialled and as translated, class, gateway, carrier, direction, hang-up
-- side and cause, cost in millionths of the currency unit and the rate
-- that priced it. Times are DATETIME in the server's local time, as
-- OpenSIPS writes them; created is the INVITE's arrival.
--
-- palio_rates is the rate table (prices in millionths of the currency
-- unit, billing increments in seconds): one rate per class and prefix;
-- it bumps the "rates" change counter. palio_departments gives accounts
-- a department for the reports.

CREATE TABLE IF NOT EXISTS acc (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    method CHAR(16) NOT NULL DEFAULT '',
    from_tag CHAR(64) NOT NULL DEFAULT '',
    to_tag CHAR(64) NOT NULL DEFAULT '',
    callid CHAR(64) NOT NULL DEFAULT '',
    sip_code CHAR(3) NOT NULL DEFAULT '',
    sip_reason CHAR(32) NOT NULL DEFAULT '',
    time DATETIME NOT NULL,
    duration INTEGER NOT NULL DEFAULT 0,
    ms_duration INTEGER NOT NULL DEFAULT 0,
    setuptime INTEGER NOT NULL DEFAULT 0,
    created DATETIME DEFAULT NULL,
    palio_id CHAR(32) DEFAULT NULL,
    palio_caller VARCHAR(128) NOT NULL DEFAULT '',
    palio_from VARCHAR(128) NOT NULL DEFAULT '',
    palio_callee VARCHAR(128) NOT NULL DEFAULT '',
    palio_dialled VARCHAR(64) NOT NULL DEFAULT '',
    palio_number VARCHAR(64) NOT NULL DEFAULT '',
    palio_class VARCHAR(32) NOT NULL DEFAULT '',
    palio_gateway VARCHAR(64) NOT NULL DEFAULT '',
    palio_carrier VARCHAR(64) NOT NULL DEFAULT '',
    palio_direction VARCHAR(8) NOT NULL DEFAULT '',
    palio_hangup VARCHAR(8) NOT NULL DEFAULT '',
    palio_cause VARCHAR(16) NOT NULL DEFAULT '',
    palio_cost BIGINT NOT NULL DEFAULT 0,
    palio_rate INTEGER NOT NULL DEFAULT 0
)
;
CREATE INDEX IF NOT EXISTS acc_callid_idx ON acc (callid)
;
CREATE INDEX IF NOT EXISTS palio_acc_created ON acc (created)
;
CREATE UNIQUE INDEX IF NOT EXISTS palio_acc_id ON acc (palio_id)
;
CREATE TABLE IF NOT EXISTS missed_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    method CHAR(16) NOT NULL DEFAULT '',
    from_tag CHAR(64) NOT NULL DEFAULT '',
    to_tag CHAR(64) NOT NULL DEFAULT '',
    callid CHAR(64) NOT NULL DEFAULT '',
    sip_code CHAR(3) NOT NULL DEFAULT '',
    sip_reason CHAR(32) NOT NULL DEFAULT '',
    time DATETIME NOT NULL,
    setuptime INTEGER NOT NULL DEFAULT 0,
    created DATETIME DEFAULT NULL,
    palio_id CHAR(32) DEFAULT NULL,
    palio_caller VARCHAR(128) NOT NULL DEFAULT '',
    palio_from VARCHAR(128) NOT NULL DEFAULT '',
    palio_callee VARCHAR(128) NOT NULL DEFAULT '',
    palio_dialled VARCHAR(64) NOT NULL DEFAULT '',
    palio_number VARCHAR(64) NOT NULL DEFAULT '',
    palio_class VARCHAR(32) NOT NULL DEFAULT '',
    palio_gateway VARCHAR(64) NOT NULL DEFAULT '',
    palio_carrier VARCHAR(64) NOT NULL DEFAULT '',
    palio_direction VARCHAR(8) NOT NULL DEFAULT '',
    palio_hangup VARCHAR(8) NOT NULL DEFAULT '',
    palio_cause VARCHAR(16) NOT NULL DEFAULT '',
    palio_cost BIGINT NOT NULL DEFAULT 0,
    palio_rate INTEGER NOT NULL DEFAULT 0
)
;
CREATE INDEX IF NOT EXISTS missed_calls_callid_idx ON missed_calls (callid)
;
CREATE INDEX IF NOT EXISTS palio_missed_calls_created ON missed_calls (created)
;
CREATE UNIQUE INDEX IF NOT EXISTS palio_missed_calls_id ON missed_calls (palio_id)
;
CREATE TABLE IF NOT EXISTS palio_rates (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    class VARCHAR(32) NOT NULL DEFAULT '',
    prefix VARCHAR(32) NOT NULL DEFAULT '',
    per_minute BIGINT NOT NULL DEFAULT 0,
    connect_fee BIGINT NOT NULL DEFAULT 0,
    billing_initial INTEGER NOT NULL DEFAULT 60,
    billing_increment INTEGER NOT NULL DEFAULT 60,
    free TINYINT NOT NULL DEFAULT 0,
    description VARCHAR(255) NOT NULL DEFAULT '',
    CONSTRAINT palio_rates_key UNIQUE (class, prefix)
)
;
CREATE TABLE IF NOT EXISTS palio_departments (
    username CHAR(64) NOT NULL,
    domain CHAR(64) NOT NULL DEFAULT '',
    department VARCHAR(64) NOT NULL,
    PRIMARY KEY (username, domain)
)
;
INSERT OR IGNORE INTO palio_changes (name, version) VALUES ('rates', 0)
;
CREATE TRIGGER IF NOT EXISTS palio_rates_ins AFTER INSERT ON palio_rates
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'rates'; END
;
CREATE TRIGGER IF NOT EXISTS palio_rates_upd AFTER UPDATE ON palio_rates
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'rates'; END
;
CREATE TRIGGER IF NOT EXISTS palio_rates_del AFTER DELETE ON palio_rates
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'rates'; END
;
