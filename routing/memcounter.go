package routing

import (
	"context"
	"sync"
	"time"
)

// MemChannels is a ChannelCounter engine in memory, for several Routers
// of one process (tests, a router and a standby in one program): each
// Node is the counter of one node. A Router without a counter counts its
// own calls and needs none.
type MemChannels struct {
	expiry time.Duration
	now    func() time.Time

	mu     sync.Mutex
	alive  map[string]time.Time         // node -> when it expires
	trunks map[string]map[string]memRow // trunk key -> node -> its counts
	alarms map[string]bool
}

type memRow struct {
	seq         int64
	used, calls int
}

// NewMemChannels returns an empty engine whose nodes expire after expiry
// without a Report (default 5 s).
func NewMemChannels(expiry time.Duration) *MemChannels {
	if expiry <= 0 {
		expiry = 5 * time.Second
	}
	return &MemChannels{
		expiry: expiry,
		now:    time.Now,
		alive:  make(map[string]time.Time),
		trunks: make(map[string]map[string]memRow),
		alarms: make(map[string]bool),
	}
}

// Node returns the counter of the node named node.
func (m *MemChannels) Node(node string) ChannelCounter { return &memCounter{m: m, node: node} }

type memCounter struct {
	m    *MemChannels
	node string
}

var _ ChannelCounter = (*memCounter)(nil)

// aliveLocked tells whether node has reported within the expiry.
func (m *MemChannels) aliveLocked(node string, now time.Time) bool {
	exp, ok := m.alive[node]
	if ok && !now.Before(exp) {
		delete(m.alive, node)
		return false
	}
	return ok
}

// sumLocked adds up the live nodes' counts on trunk key other than me's,
// forgetting dead nodes, and returns them with me's recorded row.
func (m *MemChannels) sumLocked(key, me string, now time.Time) (used, calls int, mine memRow, ok bool) {
	for n, row := range m.trunks[key] {
		switch {
		case n == me:
			mine, ok = row, true
		case m.aliveLocked(n, now):
			used += row.used
			calls += row.calls
		default:
			delete(m.trunks[key], n)
		}
	}
	return used, calls, mine, ok
}

// latest returns the counts of c stamped seq, or the recorded row if it
// is later.
func latest(c TrunkCount, seq int64, rec memRow, ok bool) memRow {
	if ok && rec.seq >= seq {
		return rec
	}
	return memRow{seq: seq, used: c.Used, calls: c.Calls}
}

func (m *MemChannels) recordLocked(key, node string, row memRow) {
	t := m.trunks[key]
	if t == nil {
		t = make(map[string]memRow)
		m.trunks[key] = t
	}
	t[node] = row
}

func (c *memCounter) Reserve(ctx context.Context, seq int64, counts []TrunkCount) (int, int, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	rows := make([]memRow, len(counts))
	for i, tc := range counts {
		used, _, rec, ok := m.sumLocked(tc.Key(), c.node, now)
		rows[i] = latest(tc, seq, rec, ok)
		if tc.Channels > 0 && used+rows[i].used > tc.Channels {
			return i, used + rows[i].used - 1, nil
		}
	}
	for i, tc := range counts {
		m.recordLocked(tc.Key(), c.node, rows[i])
	}
	if _, ok := m.alive[c.node]; !ok {
		m.alive[c.node] = now.Add(m.expiry)
	}
	return -1, 0, nil
}

func (c *memCounter) Report(ctx context.Context, seq int64, counts []TrunkCount) ([]TrunkTotal, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.alive[c.node] = now.Add(m.expiry)
	out := make([]TrunkTotal, len(counts))
	for i, tc := range counts {
		key := tc.Key()
		used, calls, rec, ok := m.sumLocked(key, c.node, now)
		row := latest(tc, seq, rec, ok)
		m.recordLocked(key, c.node, row)
		tot := TrunkTotal{Used: used + row.used, Calls: calls + row.calls, Alarm: m.alarms[key]}
		switch {
		case !tot.Alarm && tc.AlarmAt > 0 && tot.Calls >= tc.AlarmAt:
			tot.Alarm, tot.Changed = true, true
			m.alarms[key] = true
		case tot.Alarm && (tc.AlarmAt <= 0 || tot.Calls < tc.AlarmAt):
			tot.Alarm, tot.Changed = false, true
			delete(m.alarms, key)
		}
		out[i] = tot
	}
	return out, nil
}
