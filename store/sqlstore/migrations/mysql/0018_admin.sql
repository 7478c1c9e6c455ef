-- The admin page and API (package admin): palio_admin_notice holds the
-- global notice (one row, id 1), palio_admin_audit every write done
-- through the API (who, what, when), palio_admin_logins the page's local
-- logins with their bcrypt hashes. Times are Unix milliseconds. None of
-- them is read by the router: no change counter. Login names compare
-- byte for byte (utf8mb4_bin), as in the memory store.

CREATE TABLE IF NOT EXISTS palio_admin_notice (
    id INT UNSIGNED PRIMARY KEY NOT NULL,
    text TEXT NOT NULL,
    updated BIGINT NOT NULL DEFAULT 0,
    updated_by VARCHAR(64) NOT NULL DEFAULT ''
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_admin_audit (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    time BIGINT NOT NULL,
    who VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    action VARCHAR(64) NOT NULL,
    target VARCHAR(255) NOT NULL DEFAULT '',
    detail TEXT NOT NULL,
    KEY palio_admin_audit_who (who, id)
) ENGINE=InnoDB
;
CREATE TABLE IF NOT EXISTS palio_admin_logins (
    name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PRIMARY KEY NOT NULL,
    scope VARCHAR(8) NOT NULL,
    account VARCHAR(64) NOT NULL DEFAULT '',
    domain VARCHAR(64) NOT NULL DEFAULT '',
    hash VARCHAR(255) NOT NULL,
    updated BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB
;
