-- The built-in media box (package mediabox): IVR menus and their keys,
-- voicemail boxes and their messages, call queues and their members.
-- Every table but the messages bumps the "mediabox" change counter, so
-- that a running box (or another node) reloads its menus and queues
-- after an operator's change; a message left or heard does not (the
-- lamps have palio_mwi and its "mwi" counter).
--
-- Names and numbers compare byte for byte, as in the memory store
-- ("Main" and "main" are two menus). Durations are whole seconds but
-- a message's length (duration_ms); created is Unix milliseconds.
-- Actions are written "kind" or "kind:arg" (transfer:5002, menu:sub,
-- voicemail:5002, queue:5000, repeat, hangup); '' is none.

CREATE TABLE IF NOT EXISTS palio_ivr_menus (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    prompt VARCHAR(64) NOT NULL DEFAULT '',
    timeout INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    on_timeout VARCHAR(128) NOT NULL DEFAULT ''
)
;
CREATE TABLE IF NOT EXISTS palio_ivr_keys (
    menu_id VARCHAR(64) NOT NULL,
    digit CHAR(1) NOT NULL,
    action VARCHAR(128) NOT NULL,
    PRIMARY KEY (menu_id, digit)
)
;
CREATE TABLE IF NOT EXISTS palio_voicemail_boxes (
    username VARCHAR(64) NOT NULL PRIMARY KEY,
    pin VARCHAR(16) NOT NULL DEFAULT '',
    email VARCHAR(255) NOT NULL DEFAULT '',
    greeting VARCHAR(255) NOT NULL DEFAULT ''
)
;
CREATE TABLE IF NOT EXISTS palio_voicemail_msgs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    mailbox VARCHAR(64) NOT NULL,
    caller VARCHAR(255) NOT NULL DEFAULT '',
    created BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    file VARCHAR(255) NOT NULL DEFAULT '',
    heard TINYINT NOT NULL DEFAULT 0
)
;
CREATE INDEX IF NOT EXISTS palio_voicemail_msgs_mailbox ON palio_voicemail_msgs (mailbox, created, id)
;
CREATE TABLE IF NOT EXISTS palio_queues (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    strategy VARCHAR(16) NOT NULL DEFAULT '',
    music VARCHAR(64) NOT NULL DEFAULT '',
    announce_position TINYINT NOT NULL DEFAULT 0,
    ring_timeout INTEGER NOT NULL DEFAULT 0,
    max_wait INTEGER NOT NULL DEFAULT 0,
    on_timeout VARCHAR(128) NOT NULL DEFAULT ''
)
;
CREATE TABLE IF NOT EXISTS palio_queue_members (
    queue_id VARCHAR(64) NOT NULL,
    position INTEGER NOT NULL,
    number VARCHAR(64) NOT NULL,
    logged_in TINYINT NOT NULL DEFAULT 0,
    PRIMARY KEY (queue_id, position),
    CONSTRAINT palio_queue_members_number UNIQUE (queue_id, number)
)
;
INSERT OR IGNORE INTO palio_changes (name, version) VALUES ('mediabox', 0)
;
CREATE TRIGGER IF NOT EXISTS palio_ivr_menus_ins AFTER INSERT ON palio_ivr_menus
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_ivr_menus_upd AFTER UPDATE ON palio_ivr_menus
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_ivr_menus_del AFTER DELETE ON palio_ivr_menus
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_ivr_keys_ins AFTER INSERT ON palio_ivr_keys
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_ivr_keys_upd AFTER UPDATE ON palio_ivr_keys
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_ivr_keys_del AFTER DELETE ON palio_ivr_keys
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_voicemail_boxes_ins AFTER INSERT ON palio_voicemail_boxes
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_voicemail_boxes_upd AFTER UPDATE ON palio_voicemail_boxes
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_voicemail_boxes_del AFTER DELETE ON palio_voicemail_boxes
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_queues_ins AFTER INSERT ON palio_queues
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_queues_upd AFTER UPDATE ON palio_queues
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_queues_del AFTER DELETE ON palio_queues
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_queue_members_ins AFTER INSERT ON palio_queue_members
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_queue_members_upd AFTER UPDATE ON palio_queue_members
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
CREATE TRIGGER IF NOT EXISTS palio_queue_members_del AFTER DELETE ON palio_queue_members
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'; END
;
