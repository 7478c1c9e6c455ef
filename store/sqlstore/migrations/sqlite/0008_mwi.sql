-- Voicemail boxes' counts for the message-waiting lamps (package
-- presence, RFC 3842): one row per mailbox, written by the voicemail
-- server or an operator (`unisi mwi`), read by the presence server when
-- the "mwi" change counter moves.

CREATE TABLE IF NOT EXISTS palio_mwi (
    username VARCHAR(64) NOT NULL,
    domain VARCHAR(64) NOT NULL DEFAULT '' COLLATE NOCASE,
    new_messages INTEGER NOT NULL DEFAULT 0,
    old_messages INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (username, domain)
)
;
INSERT OR IGNORE INTO palio_changes (name, version) VALUES ('mwi', 0)
;
CREATE TRIGGER IF NOT EXISTS palio_mwi_ins AFTER INSERT ON palio_mwi
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mwi'; END
;
CREATE TRIGGER IF NOT EXISTS palio_mwi_upd AFTER UPDATE ON palio_mwi
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mwi'; END
;
CREATE TRIGGER IF NOT EXISTS palio_mwi_del AFTER DELETE ON palio_mwi
BEGIN UPDATE palio_changes SET version = version + 1 WHERE name = 'mwi'; END
;
