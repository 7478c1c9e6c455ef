-- Voicemail boxes' counts for the message-waiting lamps (package
-- presence, RFC 3842): one row per mailbox, written by the voicemail
-- server or an operator (`unisi mwi`), read by the presence server when
-- the "mwi" change counter moves.

CREATE TABLE IF NOT EXISTS palio_mwi (
    username VARCHAR(64) NOT NULL,
    domain VARCHAR(64) NOT NULL DEFAULT '',
    new_messages INT(11) NOT NULL DEFAULT 0,
    old_messages INT(11) NOT NULL DEFAULT 0,
    PRIMARY KEY (username, domain)
) ENGINE=InnoDB
;
INSERT IGNORE INTO palio_changes (name, version) VALUES ('mwi', 0)
;
DROP TRIGGER IF EXISTS palio_mwi_ins
;
CREATE TRIGGER palio_mwi_ins AFTER INSERT ON palio_mwi FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mwi'
;
DROP TRIGGER IF EXISTS palio_mwi_upd
;
CREATE TRIGGER palio_mwi_upd AFTER UPDATE ON palio_mwi FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mwi'
;
DROP TRIGGER IF EXISTS palio_mwi_del
;
CREATE TRIGGER palio_mwi_del AFTER DELETE ON palio_mwi FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'mwi'
;
