-- The built-in media box (package mediabox): IVR menus and their keys,
-- voicemail boxes and their messages, call queues and their members.
-- Every table but the messages bumps the "mediabox" change counter, so
-- that a running box (or another node) reloads its menus and queues
-- after an operator's change; a message left or heard does not (the
-- lamps have palio_mwi and its "mwi" counter).
--
-- Names and numbers compare byte for byte, as in the memory store
-- ("Main" and "main" are two menus): the key columns are ascii_bin (the
-- names are ASCII: mediabox's Validate refuses anything else). Durations
-- are whole seconds but a message's length (duration_ms); created is
-- Unix milliseconds. Actions are written "kind" or "kind:arg"
-- (transfer:5002, menu:sub, voicemail:5002, queue:5000, repeat, hangup);
-- '' is none.

CREATE TABLE IF NOT EXISTS palio_ivr_menus (
    id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    prompt VARCHAR(64) NOT NULL DEFAULT '',
    timeout INT(11) NOT NULL DEFAULT 0,
    retries INT(11) NOT NULL DEFAULT 0,
    on_timeout VARCHAR(128) NOT NULL DEFAULT ''
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_ivr_keys (
    menu_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    digit CHAR(1) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    action VARCHAR(128) NOT NULL,
    PRIMARY KEY (menu_id, digit)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_voicemail_boxes (
    username VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    pin VARCHAR(16) NOT NULL DEFAULT '',
    email VARCHAR(255) NOT NULL DEFAULT '',
    greeting VARCHAR(255) NOT NULL DEFAULT ''
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_voicemail_msgs (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    mailbox VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    caller VARCHAR(255) NOT NULL DEFAULT '',
    created BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    file VARCHAR(255) NOT NULL DEFAULT '',
    heard TINYINT(1) NOT NULL DEFAULT 0,
    INDEX palio_voicemail_msgs_mailbox (mailbox, created, id)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_queues (
    id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    strategy VARCHAR(16) NOT NULL DEFAULT '',
    music VARCHAR(64) NOT NULL DEFAULT '',
    announce_position TINYINT(1) NOT NULL DEFAULT 0,
    ring_timeout INT(11) NOT NULL DEFAULT 0,
    max_wait INT(11) NOT NULL DEFAULT 0,
    on_timeout VARCHAR(128) NOT NULL DEFAULT ''
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_queue_members (
    queue_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    position INT(11) NOT NULL,
    number VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    logged_in TINYINT(1) NOT NULL DEFAULT 0,
    PRIMARY KEY (queue_id, position),
    CONSTRAINT palio_queue_members_number UNIQUE (queue_id, number)
) ENGINE=InnoDB
;
INSERT IGNORE INTO palio_changes (name, version) VALUES ('mediabox', 0)
;
DROP TRIGGER IF EXISTS palio_ivr_menus_ins
;
CREATE TRIGGER palio_ivr_menus_ins AFTER INSERT ON palio_ivr_menus FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_ivr_menus_upd
;
CREATE TRIGGER palio_ivr_menus_upd AFTER UPDATE ON palio_ivr_menus FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_ivr_menus_del
;
CREATE TRIGGER palio_ivr_menus_del AFTER DELETE ON palio_ivr_menus FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_ivr_keys_ins
;
CREATE TRIGGER palio_ivr_keys_ins AFTER INSERT ON palio_ivr_keys FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_ivr_keys_upd
;
CREATE TRIGGER palio_ivr_keys_upd AFTER UPDATE ON palio_ivr_keys FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_ivr_keys_del
;
CREATE TRIGGER palio_ivr_keys_del AFTER DELETE ON palio_ivr_keys FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_voicemail_boxes_ins
;
CREATE TRIGGER palio_voicemail_boxes_ins AFTER INSERT ON palio_voicemail_boxes FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_voicemail_boxes_upd
;
CREATE TRIGGER palio_voicemail_boxes_upd AFTER UPDATE ON palio_voicemail_boxes FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_voicemail_boxes_del
;
CREATE TRIGGER palio_voicemail_boxes_del AFTER DELETE ON palio_voicemail_boxes FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_queues_ins
;
CREATE TRIGGER palio_queues_ins AFTER INSERT ON palio_queues FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_queues_upd
;
CREATE TRIGGER palio_queues_upd AFTER UPDATE ON palio_queues FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_queues_del
;
CREATE TRIGGER palio_queues_del AFTER DELETE ON palio_queues FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_queue_members_ins
;
CREATE TRIGGER palio_queue_members_ins AFTER INSERT ON palio_queue_members FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_queue_members_upd
;
CREATE TRIGGER palio_queue_members_upd AFTER UPDATE ON palio_queue_members FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
DROP TRIGGER IF EXISTS palio_queue_members_del
;
CREATE TRIGGER palio_queue_members_del AFTER DELETE ON palio_queue_members FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mediabox'
;
