-- The accounts' owners and notes (admin.AccountInfo): what UniSI's front
-- end showed beside an account's SIP data, the person who owns it and a
-- free-text note. One row per account that has either, keyed as the
-- subscriber table keys an account (username byte for byte, utf8mb4_bin;
-- the domain without case, the default collation). The admin page reads
-- it when it shows a page, the router never: no change counter. Deleting
-- an account (sqlstore's DeleteSubscriber) deletes its row.

CREATE TABLE IF NOT EXISTS palio_account_info (
    username VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    domain VARCHAR(64) NOT NULL DEFAULT '',
    owner VARCHAR(128) NOT NULL DEFAULT '',
    note VARCHAR(255) NOT NULL DEFAULT '',
    PRIMARY KEY (username, domain)
) ENGINE=InnoDB
;
