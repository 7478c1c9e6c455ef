package sqlstore

// SetReadHook makes Lookup call f after it read the database and before it
// applies the changes not written yet: the stress test widens the window
// in which a write-back round commits.
func SetReadHook(s *LocationStore, f func()) { s.readHook = f }
