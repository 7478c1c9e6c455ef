-- The admin page and API (package admin): palio_admin_notice holds the
-- global notice (one row, id 1), palio_admin_audit every write done
-- through the API (who, what, when), palio_admin_logins the page's local
-- logins with their bcrypt hashes. Times are Unix milliseconds. None of
-- them is read by the router: no change counter.

CREATE TABLE IF NOT EXISTS palio_admin_notice (
    id INTEGER PRIMARY KEY NOT NULL,
    text TEXT NOT NULL,
    updated BIGINT NOT NULL DEFAULT 0,
    updated_by VARCHAR(64) NOT NULL DEFAULT ''
)
;
CREATE TABLE IF NOT EXISTS palio_admin_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    time BIGINT NOT NULL,
    who VARCHAR(64) NOT NULL,
    action VARCHAR(64) NOT NULL,
    target VARCHAR(255) NOT NULL DEFAULT '',
    detail TEXT NOT NULL
)
;
CREATE INDEX IF NOT EXISTS palio_admin_audit_who ON palio_admin_audit (who, id)
;
CREATE TABLE IF NOT EXISTS palio_admin_logins (
    name VARCHAR(64) PRIMARY KEY NOT NULL,
    scope VARCHAR(8) NOT NULL,
    account VARCHAR(64) NOT NULL DEFAULT '',
    domain VARCHAR(64) NOT NULL DEFAULT '',
    hash VARCHAR(255) NOT NULL,
    updated BIGINT NOT NULL DEFAULT 0
)
;
