-- The TLS settings of drouting's gateways (routing.GatewayTLS), which
-- OpenSIPS keeps nowhere: how the proxy checks a gateway's certificate
-- when it dials it over TLS. One row per gateway that has any (gwid as in
-- dr_gateways): the CA file, the pinned SHA-256 fingerprint, the name the
-- certificate of a gateway addressed by IP must carry. Changes bump the
-- "routing" change counter, as the drouting tables' do.

CREATE TABLE IF NOT EXISTS palio_dr_tls (
    gwid CHAR(64) NOT NULL PRIMARY KEY,
    ca VARCHAR(255) NOT NULL DEFAULT '',
    fingerprint VARCHAR(128) NOT NULL DEFAULT '',
    server_name VARCHAR(255) NOT NULL DEFAULT ''
) ENGINE=InnoDB
;
DROP TRIGGER IF EXISTS palio_palio_dr_tls_ins
;
CREATE TRIGGER palio_palio_dr_tls_ins AFTER INSERT ON palio_dr_tls FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_palio_dr_tls_upd
;
CREATE TRIGGER palio_palio_dr_tls_upd AFTER UPDATE ON palio_dr_tls FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
DROP TRIGGER IF EXISTS palio_palio_dr_tls_del
;
CREATE TRIGGER palio_palio_dr_tls_del AFTER DELETE ON palio_dr_tls FOR EACH ROW
UPDATE palio_changes SET version = version + 1 WHERE name = 'routing'
;
