-- The accounts' owners and notes (admin.AccountInfo): what UniSI's front
-- end showed beside an account's SIP data, the person who owns it and a
-- free-text note. One row per account that has either, keyed as the
-- subscriber table keys an account (username, domain; the domain compares
-- without case). The admin page reads it when it shows a page, the router
-- never: no change counter. Deleting an account (sqlstore's
-- DeleteSubscriber) deletes its row.

CREATE TABLE IF NOT EXISTS palio_account_info (
    username VARCHAR(64) NOT NULL,
    domain VARCHAR(64) NOT NULL DEFAULT '' COLLATE NOCASE,
    owner VARCHAR(128) NOT NULL DEFAULT '',
    note VARCHAR(255) NOT NULL DEFAULT '',
    PRIMARY KEY (username, domain)
)
;
