package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
)

// LocationStore is registrar.Store over OpenSIPS's location table.
//
// Writes go through a group commit: concurrent REGISTERs share one
// transaction, and each returns once its binding is committed. With
// LocationOptions.WriteBack they are kept in memory instead and written
// together every WriteBack (OpenSIPS's usrloc db_mode 2). Lookups go
// through a small cache in front of the read pool: this node's own writes
// update it at once (and keep the AOR cached, since it then holds what
// this node wrote last); a binding another node wrote is seen as soon as
// the AOR is not cached, that is at most LocationOptions.CacheTTL after
// this node last read or wrote that AOR (bindings that are absent are
// never cached, so a phone that registers on another node is found on the
// next call).
//
// Columns: username and domain hold the AOR (user, or user@domain with the
// registrar's UseDomain); received holds the source as OpenSIPS writes it
// ("sip:ip:port;transport=tcp"), which also carries the transport; expires
// is a unix time, 0 for permanent bindings; methods is OpenSIPS's method
// bitmask (NULL = all). cflags, kv_store and attr are not used.
type LocationStore struct {
	db    *DB
	batch *batcher
	// putQuery is the binding upsert of the dialect.
	putQuery string
	ttl      time.Duration
	now      func() time.Time
	seed     maphash.Seed
	cache    [locShards]locShard
	wb       *writeBack // nil: write-through
	mir      *mirror    // nil: lookups read the database (through the cache)
	// announceWrites: each write bumps the location change counter.
	announceWrites bool
	log            *slog.Logger
	readHook       func() // tests: runs between a lookup's read and its overlay
	// reloadHook (tests) runs between a reload's read and its swap.
	reloadHook func()
}

// LocationOptions tunes the location store.
type LocationOptions struct {
	// CacheTTL is how long a lookup result is reused (a negative value
	// turns the cache off). The default is 2 s, or WriteBack when that is
	// longer: another node's REGISTER reaches the database only up to
	// WriteBack later anyway, so a cache as old as that is no staler.
	CacheTTL time.Duration
	// Batch is the most writes one transaction takes (default 256).
	Batch int
	// CommitDelay is how long a write waits for others to share its
	// transaction when writes come closer together than that (a busy
	// registrar): it adds at most that much to a REGISTER's answer and
	// saves most of a commit's cost per write. A write that comes alone
	// is committed at once. Default 10 ms; negative: never wait.
	CommitDelay time.Duration
	// WriteBack, when positive, turns write-through into write-back: Put
	// and Delete return at once, their changes are seen by this store's
	// lookups at once, and they are written to the database together
	// every WriteBack (and by Close, DeleteExpired and List). A crash
	// loses at most that much of the latest REGISTERs (refreshes, mostly:
	// the phones send them again); other nodes see a binding up to
	// WriteBack later. A failed write is logged and retried on the next
	// round. OpenSIPS's usrloc db_mode 2; zero is db_mode 1.
	WriteBack time.Duration
	// Mirror keeps the whole table in memory, as OpenSIPS's usrloc does
	// in db_mode 1 and 2: lookups never read the database, only writes
	// reach it. Call Reload once at start (until then lookups read the
	// database) and whenever the table's change counter moves
	// (DB.Watch's "location"): writes of other programs reach the mirror
	// only that way, so it is for a store that is the only writer of its
	// database's location table but for tools that announce their writes
	// (Announce: the CLI, ImportTSV). Not for cluster nodes sharing a
	// database, whose REGISTERs do not announce themselves: they keep
	// the lookup cache.
	Mirror bool
	// Announce makes each write bump the location change counter in its
	// transaction, so that a running server's mirror reloads: for a
	// program writing beside it (the CLI). It costs a write per write.
	Announce bool
	// Logger receives the failures of write-back rounds (default
	// slog.Default()).
	Logger *slog.Logger
}

const locShards = 16

type locShard struct {
	mu sync.Mutex
	m  map[string]locEntry
	// gen counts this store's writes to the shard's AORs: a lookup caches
	// what it read only if no write came between its read and then, or a
	// binding written meanwhile would be hidden by a stale entry.
	gen uint64
}

type locEntry struct {
	bindings []registrar.Binding
	until    time.Time
}

var _ registrar.Store = (*LocationStore)(nil)

// Location returns the location store of db; Close it to stop its writer.
func (db *DB) Location(o LocationOptions) *LocationStore {
	if o.CacheTTL == 0 {
		o.CacheTTL = max(2*time.Second, o.WriteBack)
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.CommitDelay == 0 {
		o.CommitDelay = 10 * time.Millisecond
	}
	s := &LocationStore{db: db, batch: newBatcher(db.w, o.Batch, o.CommitDelay), ttl: o.CacheTTL, now: time.Now, seed: maphash.MakeSeed(),
		putQuery: db.dialect.upsert("location", locationCols, []string{"username", "domain", "contact"}, locationCols[3:])}
	for i := range s.cache {
		s.cache[i].m = map[string]locEntry{}
	}
	s.log = o.Logger
	s.announceWrites = o.Announce
	if o.Mirror {
		s.mir = &mirror{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if o.WriteBack > 0 {
		s.wb = newWriteBack()
		go s.writeBackLoop(o.WriteBack)
	}
	return s
}

// Close writes the bindings a write-back store holds, then stops the
// group-commit writer; writes still queued fail.
func (s *LocationStore) Close() {
	if s.wb != nil {
		s.wb.once.Do(func() {
			close(s.wb.stop)
			<-s.wb.done
			if err := s.flush(context.Background()); err != nil {
				s.log.Error("sqlstore: location: bindings not written at close", "error", err)
			}
		})
	}
	s.batch.close()
}

func (s *LocationStore) shard(aor string) *locShard {
	return &s.cache[maphash.String(s.seed, aor)%locShards]
}

func (s *LocationStore) forget(aor string) {
	sh := s.shard(aor)
	sh.mu.Lock()
	delete(sh.m, aor)
	sh.gen++
	sh.mu.Unlock()
}

// deleteBindingQuery deletes one binding: username, domain twice, contact.
const deleteBindingQuery = "DELETE FROM location WHERE username = ? AND (domain = ? OR (? = '' AND domain IS NULL)) AND contact = ?"

// cloneBinding copies b with its own Methods slice.
func cloneBinding(b registrar.Binding) registrar.Binding {
	b.Methods = slices.Clone(b.Methods)
	return b
}

// cloneBindings copies bindings with their own Methods slices, so that
// neither the caller nor the cache sees the other's changes.
func cloneBindings(bs []registrar.Binding) []registrar.Binding {
	if bs == nil {
		return nil
	}
	out := make([]registrar.Binding, len(bs))
	for i, b := range bs {
		out[i] = cloneBinding(b)
	}
	return out
}

// splitAOR maps an AOR to the username and domain columns.
func splitAOR(aor string) (user, domain string) {
	u, d, _ := strings.Cut(aor, "@")
	return u, d
}

func joinAOR(user string, domain sql.NullString) string {
	if domain.String == "" {
		return user
	}
	return user + "@" + domain.String
}

// receivedURI writes a binding's source the way OpenSIPS does.
func receivedURI(b registrar.Binding) any {
	if b.Received == "" {
		return nil
	}
	s := "sip:" + b.Received
	if tp := strings.ToLower(b.Transport); tp != "" && tp != "udp" {
		s += ";transport=" + tp
	}
	return s
}

// parseReceived reads it back: "ip:port" and the transport.
func parseReceived(v sql.NullString) (addr, transport string) {
	s := strings.TrimPrefix(strings.TrimPrefix(v.String, "sip:"), "sips:")
	if s == "" {
		return "", ""
	}
	addr, params, _ := strings.Cut(s, ";")
	transport = "UDP"
	for _, p := range strings.Split(params, ";") {
		if k, val, ok := strings.Cut(p, "="); ok && strings.EqualFold(k, "transport") {
			transport = strings.ToUpper(val)
		}
	}
	return addr, transport
}

// contactTransport is the transport a contact URI names (sip.URITransport;
// UDP when it names none).
func contactTransport(contact string) string {
	u, err := sip.ParseURI(contact)
	if err != nil {
		return "UDP"
	}
	return sip.URITransport(&u)
}

// OpenSIPS's method bits (parse_methods.h).
var methodBits = []struct {
	m   sip.Method
	bit int
}{
	{sip.INVITE, 1}, {sip.CANCEL, 2}, {sip.ACK, 4}, {sip.BYE, 8}, {sip.INFO, 16}, {sip.OPTIONS, 32},
	{sip.UPDATE, 64}, {sip.REGISTER, 128}, {sip.MESSAGE, 256}, {sip.SUBSCRIBE, 512}, {sip.NOTIFY, 1024},
	{sip.PRACK, 2048}, {sip.REFER, 4096}, {sip.PUBLISH, 8192},
}

func methodMask(ms []sip.Method) any {
	if ms == nil {
		return nil
	}
	n := 0
	for _, m := range ms {
		for _, mb := range methodBits {
			if mb.m == m {
				n |= mb.bit
			}
		}
	}
	return n
}

func methodList(v sql.NullInt64) []sip.Method {
	if !v.Valid {
		return nil
	}
	out := []sip.Method{}
	for _, mb := range methodBits {
		if int(v.Int64)&mb.bit != 0 {
			out = append(out, mb.m)
		}
	}
	return out
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

var locationCols = []string{"username", "domain", "contact", "received", "path", "expires", "q", "callid", "cseq",
	"last_modified", "flags", "user_agent", "socket", "methods", "sip_instance"}

// Put inserts b or replaces the binding with the same AOR and contact; it
// returns once the write is committed.
func (s *LocationStore) Put(ctx context.Context, b registrar.Binding) error {
	if b.Updated.IsZero() {
		b.Updated = s.now()
	}
	if s.wb != nil {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("sqlstore: location put %s: %w", b.AOR, err)
		}
		s.wb.add(b.AOR, b.Contact, wbOp{b: cloneBinding(b)})
		s.cachePut(b)
		s.mirror(mirrorOp{b: b})
		return nil
	}
	st, err := s.db.writeStmt(ctx, s.putQuery)
	if err != nil {
		return fmt.Errorf("sqlstore: location put %s: %w", b.AOR, err)
	}
	args := putArgs(b)
	err = s.batch.doThen(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
			return err
		}
		return s.announce(ctx, tx)
	}, func() {
		s.cachePut(b)
		s.mirror(mirrorOp{b: b})
	})
	if err != nil {
		s.forget(b.AOR)
		return fmt.Errorf("sqlstore: location put %s: %w", b.AOR, err)
	}
	return nil
}

// mirror applies one of the store's writes to its mirror, if it has one.
func (s *LocationStore) mirror(op mirrorOp) {
	if s.mir != nil {
		s.mir.apply(op)
	}
}

// putArgs are the upsert's arguments for b.
func putArgs(b registrar.Binding) []any {
	user, domain := splitAOR(b.AOR)
	return []any{user, domain, b.Contact, receivedURI(b), nullable(b.Path), unixOrZero(b.Expires), b.Q, b.CallID, int64(b.CSeq),
		b.Updated.UTC().Format("2006-01-02 15:04:05"), b.Flags, b.UserAgent, nullable(b.Socket), methodMask(b.Methods), nullable(b.Instance)}
}

// withBinding returns a new slice: bs with b in place of the binding of
// the same contact, or added. bs is not changed (lookups may hold it).
func withBinding(bs []registrar.Binding, b registrar.Binding) []registrar.Binding {
	nb := make([]registrar.Binding, len(bs), len(bs)+1)
	copy(nb, bs)
	if i := slices.IndexFunc(nb, func(x registrar.Binding) bool { return x.Contact == b.Contact }); i >= 0 {
		nb[i] = cloneBinding(b)
		return nb
	}
	return append(nb, cloneBinding(b))
}

// cachePut applies b to the cached bindings of its AOR, if cached.
func (s *LocationStore) cachePut(b registrar.Binding) {
	sh := s.shard(b.AOR)
	sh.mu.Lock()
	sh.gen++
	if e, ok := sh.m[b.AOR]; ok {
		nb := withBinding(e.bindings, b)
		// This store wrote the AOR's latest state: it is as fresh as a
		// lookup now would be.
		until := e.until
		if s.ttl > 0 {
			until = s.now().Add(s.ttl)
		}
		sh.m[b.AOR] = locEntry{nb, until}
	}
	sh.mu.Unlock()
}

// Lookup returns the bindings of aor.
func (s *LocationStore) Lookup(ctx context.Context, aor string) ([]registrar.Binding, error) {
	if s.mir != nil {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("sqlstore: location lookup %s: %w", aor, err)
		}
		if bs, ok := s.mir.lookup(aor); ok {
			return bs, nil
		}
	}
	now := s.now()
	sh := s.shard(aor)
	var gen uint64
	if s.ttl > 0 {
		sh.mu.Lock()
		e, ok := sh.m[aor]
		gen = sh.gen
		sh.mu.Unlock()
		if ok && now.Before(e.until) {
			return cloneBindings(e.bindings), nil
		}
	}
	var start uint64
	if s.wb != nil {
		start = s.wb.beginRead()
	}
	out, err := s.read(ctx, aor)
	if s.wb != nil {
		// Even after a failed read: it ends the read for the round log.
		out = s.wb.overlay(aor, start, out)
	}
	if err != nil {
		return nil, err
	}
	if s.ttl > 0 && len(out) > 0 {
		sh.mu.Lock()
		if sh.gen == gen {
			sh.m[aor] = locEntry{cloneBindings(out), now.Add(s.ttl)}
		}
		sh.mu.Unlock()
	}
	return out, nil
}

// lookupQuery reads the bindings of one AOR (an empty domain matches the
// rows stored without one).
var lookupQuery = "SELECT " + strings.Join(locationCols, ", ") + " FROM location WHERE username = ? AND (domain = ? OR (? = '' AND domain IS NULL))"

// read reads the bindings of aor from the database.
func (s *LocationStore) read(ctx context.Context, aor string) ([]registrar.Binding, error) {
	user, domain := splitAOR(aor)
	st, err := s.db.readStmt(ctx, lookupQuery)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: location lookup %s: %w", aor, err)
	}
	rows, err := st.QueryContext(ctx, user, domain, domain)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: location lookup %s: %w", aor, err)
	}
	out, err := scanBindings(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: location lookup %s: %w", aor, err)
	}
	if s.readHook != nil {
		s.readHook()
	}
	return out, nil
}

func scanBindings(rows *sql.Rows) ([]registrar.Binding, error) {
	defer rows.Close()
	var out []registrar.Binding
	for rows.Next() {
		var (
			b                              registrar.Binding
			user                           string
			domain, received, path, socket sql.NullString
			instance                       sql.NullString
			expires, cseq                  int64
			q                              float64
			updated                        any
			methods                        sql.NullInt64
		)
		if err := rows.Scan(&user, &domain, &b.Contact, &received, &path, &expires, &q, &b.CallID, &cseq,
			&updated, &b.Flags, &b.UserAgent, &socket, &methods, &instance); err != nil {
			return nil, err
		}
		b.AOR = joinAOR(user, domain)
		b.Received, b.Transport = parseReceived(received)
		if b.Transport == "" {
			b.Transport = contactTransport(b.Contact)
		}
		b.Path, b.Socket, b.Instance = path.String, socket.String, instance.String
		if expires != 0 {
			b.Expires = time.Unix(expires, 0)
		}
		b.Q = math.Round(q*100) / 100
		b.CSeq = uint32(cseq)
		b.Methods = methodList(methods)
		b.Updated = parseDateTime(updated)
		out = append(out, b)
	}
	return out, rows.Err()
}

// parseDateTime reads a DATETIME column: time.Time from MySQL (parseTime),
// text from SQLite.
func parseDateTime(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t
	case string:
		if p, err := time.ParseInLocation("2006-01-02 15:04:05", t, time.UTC); err == nil {
			return p
		}
		if p, err := time.Parse(time.RFC3339Nano, t); err == nil {
			return p
		}
	case []byte:
		return parseDateTime(string(t))
	}
	return time.Time{}
}

// Delete removes the binding of aor with contact.
func (s *LocationStore) Delete(ctx context.Context, aor, contact string) error {
	if s.wb != nil {
		bs, err := s.Lookup(ctx, aor)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(bs, func(b registrar.Binding) bool { return b.Contact == contact }) {
			return registrar.ErrNotFound
		}
		s.wb.add(aor, contact, wbOp{del: true, b: registrar.Binding{AOR: aor, Contact: contact}})
		s.forget(aor)
		s.mirror(mirrorOp{del: true, b: registrar.Binding{AOR: aor, Contact: contact}})
		return nil
	}
	user, domain := splitAOR(aor)
	var n int64
	err := s.batch.doThen(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, deleteBindingQuery, user, domain, domain, contact)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return s.announce(ctx, tx)
	}, func() {
		s.forget(aor)
		s.mirror(mirrorOp{del: true, b: registrar.Binding{AOR: aor, Contact: contact}})
	})
	if err != nil {
		s.forget(aor)
		return fmt.Errorf("sqlstore: location delete %s: %w", aor, err)
	}
	if n == 0 {
		return registrar.ErrNotFound
	}
	return nil
}

// DeleteExpired removes the bindings that lapsed by now and returns them.
func (s *LocationStore) DeleteExpired(ctx context.Context, now time.Time) ([]registrar.Binding, error) {
	if err := s.flush(ctx); err != nil {
		return nil, fmt.Errorf("sqlstore: location expiry: %w", err)
	}
	var gone []registrar.Binding
	err := s.batch.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+strings.Join(locationCols, ", ")+" FROM location WHERE expires <> 0 AND expires <= ?", now.Unix())
		if err != nil {
			return err
		}
		gone, err = scanBindings(rows)
		if err != nil || len(gone) == 0 {
			return err
		}
		if _, err = tx.ExecContext(ctx, "DELETE FROM location WHERE expires <> 0 AND expires <= ?", now.Unix()); err != nil {
			return err
		}
		return s.announce(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: location expiry: %w", err)
	}
	for _, b := range gone {
		s.forget(b.AOR)
		s.mirror(mirrorOp{del: true, b: b, expiredAt: time.Unix(now.Unix(), 0)})
	}
	return gone, nil
}

// List returns every binding.
// Count implements registrar.Store: one COUNT(*), the bindings written
// back first.
func (s *LocationStore) Count(ctx context.Context) (int, error) {
	if err := s.flush(ctx); err != nil {
		return 0, fmt.Errorf("sqlstore: location count: %w", err)
	}
	var n int
	if err := s.db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM location").Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlstore: location count: %w", err)
	}
	return n, nil
}

func (s *LocationStore) List(ctx context.Context) ([]registrar.Binding, error) {
	if err := s.flush(ctx); err != nil {
		return nil, fmt.Errorf("sqlstore: location list: %w", err)
	}
	rows, err := s.db.r.QueryContext(ctx, "SELECT "+strings.Join(locationCols, ", ")+" FROM location ORDER BY username, domain, contact_id")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: location list: %w", err)
	}
	out, err := scanBindings(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: location list: %w", err)
	}
	return out, nil
}
