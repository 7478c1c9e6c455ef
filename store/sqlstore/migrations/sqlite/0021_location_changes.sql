-- A change counter for the location table. Unlike the other tables' it is
-- not bumped by triggers: a server's own REGISTERs would then reload its
-- mirror of the table (sqlstore's LocationOptions.Mirror) at every poll.
-- The programs that write bindings beside a running server bump it in the
-- transaction of their write (LocationOptions.Announce: the CLI, and the
-- import of location rows); a tool of one's own does the same:
--   UPDATE palio_changes SET version = version + 1 WHERE name = 'location'

INSERT OR IGNORE INTO palio_changes (name, version) VALUES ('location', 0)
;
