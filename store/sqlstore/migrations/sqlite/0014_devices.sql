-- Phone provisioning (package provisioning): the devices known by their
-- MAC address (12 lower-case hex digits), their lines (accounts on line
-- keys, in order), busy-lamp keys and per-device settings; the MACs that
-- asked for a file without being known (for an operator to assign); and
-- the resync requests an operator's `device resync` leaves for the server
-- that sends the NOTIFYs, which bump the "devices" change counter.
--
-- Times are Unix milliseconds, 0 for none. A line's password is the
-- per-device SIP password, in clear as the phone needs it (empty: the
-- account's, from subscriber); auth_secret the device's HTTP password.
-- A fetch updates last_fetch, last_ip and last_user_agent and moves no
-- counter.

CREATE TABLE IF NOT EXISTS palio_devices (
    mac CHAR(12) NOT NULL PRIMARY KEY,
    model VARCHAR(32) NOT NULL,
    name VARCHAR(128) NOT NULL DEFAULT '',
    owner VARCHAR(128) NOT NULL DEFAULT '',
    firmware_url VARCHAR(1024) NOT NULL DEFAULT '',
    auth_secret VARCHAR(128) NOT NULL DEFAULT '',
    last_fetch BIGINT NOT NULL DEFAULT 0,
    last_ip VARCHAR(64) NOT NULL DEFAULT '',
    last_user_agent VARCHAR(255) NOT NULL DEFAULT ''
)
;
CREATE TABLE IF NOT EXISTS palio_device_lines (
    mac CHAR(12) NOT NULL,
    idx INTEGER NOT NULL,
    username VARCHAR(64) NOT NULL,
    domain VARCHAR(128) NOT NULL DEFAULT '',
    display_name VARCHAR(128) NOT NULL DEFAULT '',
    password VARCHAR(128) NOT NULL DEFAULT '',
    PRIMARY KEY (mac, idx)
)
;
CREATE INDEX IF NOT EXISTS palio_device_lines_user ON palio_device_lines (username)
;
CREATE TABLE IF NOT EXISTS palio_device_keys (
    mac CHAR(12) NOT NULL,
    idx INTEGER NOT NULL,
    number VARCHAR(64) NOT NULL,
    label VARCHAR(128) NOT NULL DEFAULT '',
    PRIMARY KEY (mac, idx)
)
;
CREATE TABLE IF NOT EXISTS palio_device_settings (
    mac CHAR(12) NOT NULL,
    name VARCHAR(64) NOT NULL,
    value VARCHAR(1024) NOT NULL DEFAULT '',
    PRIMARY KEY (mac, name)
)
;
CREATE TABLE IF NOT EXISTS palio_unknown_devices (
    mac CHAR(12) NOT NULL PRIMARY KEY,
    model VARCHAR(32) NOT NULL DEFAULT '',
    ip VARCHAR(64) NOT NULL DEFAULT '',
    user_agent VARCHAR(255) NOT NULL DEFAULT '',
    first_seen BIGINT NOT NULL DEFAULT 0,
    last_seen BIGINT NOT NULL DEFAULT 0,
    fetches INTEGER NOT NULL DEFAULT 0
)
;
CREATE TABLE IF NOT EXISTS palio_device_resync (
    mac CHAR(12) NOT NULL PRIMARY KEY,
    requested BIGINT NOT NULL
)
;
INSERT OR IGNORE INTO palio_changes (name, version) VALUES ('devices', 0)
;
CREATE TRIGGER IF NOT EXISTS palio_device_resync_ins AFTER INSERT ON palio_device_resync
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'devices'; END
;
CREATE TRIGGER IF NOT EXISTS palio_device_resync_upd AFTER UPDATE ON palio_device_resync
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'devices'; END
;
