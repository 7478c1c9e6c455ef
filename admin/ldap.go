package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Directory authenticates logins that are not local: the university's
// LDAP for the staff. LDAP has it.
type Directory interface {
	// Authenticate checks name's password and returns the principal it
	// logs in as; ErrBadCredentials for a wrong name or password, or a
	// person the directory knows but who is in none of the mapped
	// groups.
	Authenticate(ctx context.Context, name, password string) (Principal, error)
}

// ErrBadCredentials is a Directory's refusal of a login.
var ErrBadCredentials = errors.New("admin: wrong name or password")

// LDAPConfig says how to log in against an LDAP directory: bind as the
// user, then map the groups the user is a member of to a scope.
type LDAPConfig struct {
	// URL is the server ("ldap://ldap.unisi.it:389", "ldaps://...").
	URL string
	// UserDN is the user's DN with %s for the escaped login name
	// ("uid=%s,ou=people,dc=unisi,dc=it"): the login binds as that DN
	// with its password.
	UserDN string
	// GroupBase is where the groups are searched; a group lists its
	// members' DNs in member (groupOfNames) or uniqueMember.
	GroupBase string
	// AdminGroups and UserGroups are the groups' DNs (compared without
	// case) whose members log in as administrators or as users.
	AdminGroups, UserGroups []string
	// AccountAttr is the user's attribute holding the SIP account a user
	// login owns ("telephoneNumber"); its first value, digits and letters
	// only as the account's user part.
	AccountAttr string
	// Timeout bounds the dial and each operation (default 5 s).
	Timeout time.Duration
}

// LDAP is a Directory over an LDAP server (github.com/go-ldap/ldap/v3):
// one connection per login, bound as the user (no service account).
type LDAP struct{ cfg LDAPConfig }

var _ Directory = (*LDAP)(nil)

// NewLDAP returns the directory of cfg.
func NewLDAP(cfg LDAPConfig) (*LDAP, error) {
	if cfg.URL == "" || !strings.Contains(cfg.UserDN, "%s") {
		return nil, errors.New("admin: ldap: want a URL and a user DN with %s")
	}
	if len(cfg.AdminGroups)+len(cfg.UserGroups) > 0 && cfg.GroupBase == "" {
		return nil, errors.New("admin: ldap: groups without a group base")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &LDAP{cfg: cfg}, nil
}

// Authenticate binds as name and maps its groups: an administrators'
// group wins over a users' one. A user login needs AccountAttr.
func (l *LDAP) Authenticate(ctx context.Context, name, password string) (Principal, error) {
	// An empty password would be an unauthenticated bind, which
	// servers accept: never a login.
	if name == "" || password == "" {
		return Principal{}, ErrBadCredentials
	}
	timeout := l.cfg.Timeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = time.Until(d)
	}
	conn, err := ldap.DialURL(l.cfg.URL, ldap.DialWithDialer(&net.Dialer{Timeout: timeout}))
	if err != nil {
		return Principal{}, fmt.Errorf("admin: ldap: %w", err)
	}
	defer conn.Close()
	conn.SetTimeout(timeout)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	dn := fmt.Sprintf(l.cfg.UserDN, ldap.EscapeDN(name))
	if err := conn.Bind(dn, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) || ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return Principal{}, ErrBadCredentials
		}
		return Principal{}, fmt.Errorf("admin: ldap: bind: %w", err)
	}
	p := Principal{Name: name}
	if l.cfg.GroupBase != "" {
		f := fmt.Sprintf("(|(member=%s)(uniqueMember=%s))", ldap.EscapeFilter(dn), ldap.EscapeFilter(dn))
		res, err := conn.Search(ldap.NewSearchRequest(l.cfg.GroupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, int(timeout.Seconds()), false, f, []string{"dn"}, nil))
		if err != nil {
			return Principal{}, fmt.Errorf("admin: ldap: groups of %s: %w", name, err)
		}
		in := func(groups []string) bool {
			for _, e := range res.Entries {
				if slices.ContainsFunc(groups, func(g string) bool { return strings.EqualFold(g, e.DN) }) {
					return true
				}
			}
			return false
		}
		switch {
		case in(l.cfg.AdminGroups):
			p.Scope = ScopeAdmin
		case in(l.cfg.UserGroups):
			p.Scope = ScopeUser
		}
	}
	if p.Scope == "" {
		return Principal{}, ErrBadCredentials
	}
	if p.Scope == ScopeUser {
		if l.cfg.AccountAttr == "" {
			return Principal{}, ErrBadCredentials
		}
		res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, int(timeout.Seconds()), false, "(objectClass=*)", []string{l.cfg.AccountAttr}, nil))
		if err != nil {
			return Principal{}, fmt.Errorf("admin: ldap: %s of %s: %w", l.cfg.AccountAttr, name, err)
		}
		if len(res.Entries) == 1 {
			p.Account = strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
					return r
				}
				return -1
			}, res.Entries[0].GetAttributeValue(l.cfg.AccountAttr))
		}
		if p.Account == "" {
			return Principal{}, ErrBadCredentials // a user without an account has no page
		}
	}
	return p, nil
}
