-- Secrets every node on the database shares and that outlive a restart:
-- the key that signs the registrar's nonces (name 'registrar.nonce').
-- A node creates a secret the first time it needs it (insert if absent,
-- then read back), so that nodes starting together end with one.

CREATE TABLE IF NOT EXISTS palio_secrets (
    name VARCHAR(64) PRIMARY KEY NOT NULL,
    value VARBINARY(255) NOT NULL,
    created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB
;
