package admin

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
)

// MemStore is a Store in memory, for tests and programs without a
// database. The zero value is not usable: call NewMemStore.
type MemStore struct {
	mu     sync.Mutex
	notice Notice
	audit  []AuditEntry
	logins map[string]Login
	infos  map[[2]string]AccountInfo // by username and lower-case domain
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{logins: map[string]Login{}, infos: map[[2]string]AccountInfo{}}
}

var (
	_ Store            = (*MemStore)(nil)
	_ LoginStore       = (*MemStore)(nil)
	_ AccountInfoStore = (*MemStore)(nil)
)

// Notice returns the notice.
func (s *MemStore) Notice(ctx context.Context) (Notice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notice, nil
}

// SetNotice replaces the notice.
func (s *MemStore) SetNotice(ctx context.Context, n Notice) error {
	if err := n.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notice = n
	return nil
}

// AddAudit appends e.
func (s *MemStore) AddAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.ID = int64(len(s.audit) + 1)
	s.audit = append(s.audit, e)
	return e, nil
}

// Audit returns the entries f selects, newest first.
func (s *MemStore) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AuditEntry
	for _, e := range slices.Backward(s.audit) {
		if f.Who != "" && e.Who != f.Who {
			continue
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

// Login returns the login called name.
func (s *MemStore) Login(ctx context.Context, name string) (Login, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.logins[name]
	if !ok {
		return Login{}, ErrNotFound
	}
	return l, nil
}

// PutLogin stores l.
func (s *MemStore) PutLogin(ctx context.Context, l Login) error {
	if err := l.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins[l.Name] = l
	return nil
}

// DeleteLogin removes a login.
func (s *MemStore) DeleteLogin(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.logins[name]; !ok {
		return ErrNotFound
	}
	delete(s.logins, name)
	return nil
}

// Logins returns every login, by name.
func (s *MemStore) Logins(ctx context.Context) ([]Login, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.SortedFunc(maps.Values(s.logins), func(a, b Login) int { return strings.Compare(a.Name, b.Name) }), nil
}

func infoKey(username, domain string) [2]string { return [2]string{username, strings.ToLower(domain)} }

// AccountInfo returns the info of username@domain; a zero one when none.
func (s *MemStore) AccountInfo(ctx context.Context, username, domain string) (AccountInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.infos[infoKey(username, domain)]; ok {
		return i, nil
	}
	return AccountInfo{Username: username, Domain: domain}, nil
}

// AccountInfos returns every account's info, by username and domain.
func (s *MemStore) AccountInfos(ctx context.Context) ([]AccountInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.SortedFunc(maps.Values(s.infos), func(a, b AccountInfo) int {
		return cmp.Or(strings.Compare(a.Username, b.Username), strings.Compare(strings.ToLower(a.Domain), strings.ToLower(b.Domain)))
	}), nil
}

// PutAccountInfo stores i; one without owner and note removes it.
func (s *MemStore) PutAccountInfo(ctx context.Context, i AccountInfo) error {
	if err := i.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i.IsZero() {
		delete(s.infos, infoKey(i.Username, i.Domain))
		return nil
	}
	s.infos[infoKey(i.Username, i.Domain)] = i
	return nil
}

// DeleteAccountInfo removes the info of username@domain.
func (s *MemStore) DeleteAccountInfo(ctx context.Context, username, domain string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.infos, infoKey(username, domain))
	return nil
}
