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
-- counter. MACs and setting names compare byte for byte (ascii_bin).

CREATE TABLE IF NOT EXISTS palio_devices (
    mac CHAR(12) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    model VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name VARCHAR(128) NOT NULL DEFAULT '',
    owner VARCHAR(128) NOT NULL DEFAULT '',
    firmware_url VARCHAR(1024) NOT NULL DEFAULT '',
    auth_secret VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    last_fetch BIGINT NOT NULL DEFAULT 0,
    last_ip VARCHAR(64) NOT NULL DEFAULT '',
    last_user_agent VARCHAR(255) NOT NULL DEFAULT ''
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_device_lines (
    mac CHAR(12) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    idx INT(11) NOT NULL,
    username VARCHAR(64) NOT NULL,
    domain VARCHAR(128) NOT NULL DEFAULT '',
    display_name VARCHAR(128) NOT NULL DEFAULT '',
    password VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    PRIMARY KEY (mac, idx),
    KEY palio_device_lines_user (username)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_device_keys (
    mac CHAR(12) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    idx INT(11) NOT NULL,
    number VARCHAR(64) NOT NULL,
    label VARCHAR(128) NOT NULL DEFAULT '',
    PRIMARY KEY (mac, idx)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_device_settings (
    mac CHAR(12) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    value VARCHAR(1024) NOT NULL DEFAULT '',
    PRIMARY KEY (mac, name)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_unknown_devices (
    mac CHAR(12) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    model VARCHAR(32) NOT NULL DEFAULT '',
    ip VARCHAR(64) NOT NULL DEFAULT '',
    user_agent VARCHAR(255) NOT NULL DEFAULT '',
    first_seen BIGINT NOT NULL DEFAULT 0,
    last_seen BIGINT NOT NULL DEFAULT 0,
    fetches INT(11) NOT NULL DEFAULT 0
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_device_resync (
    mac CHAR(12) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    requested BIGINT NOT NULL
) ENGINE=InnoDB
;
INSERT IGNORE INTO palio_changes (name, version) VALUES ('devices', 0)
;
DROP TRIGGER IF EXISTS palio_device_resync_ins
;
CREATE TRIGGER palio_device_resync_ins AFTER INSERT ON palio_device_resync FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'devices'
;
DROP TRIGGER IF EXISTS palio_device_resync_upd
;
CREATE TRIGGER palio_device_resync_upd AFTER UPDATE ON palio_device_resync FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'devices'
;
