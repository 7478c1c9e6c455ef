package sqlstore

import "time"

// SetReadHook makes Lookup call f after it read the database and before it
// applies the changes not written yet: the stress test widens the window
// in which a write-back round commits.
func SetReadHook(s *LocationStore, f func()) { s.readHook = f }

// SetNow makes the store read the time from f (the cache's expiry).
func SetNow(s *LocationStore, f func() time.Time) { s.now = f }
