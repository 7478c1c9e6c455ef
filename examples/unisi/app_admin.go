package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/admin"
	"github.com/palio-voip/palio/cluster"
	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/sip"
)

// AdminConfig is [admin]: the management page and API (package admin)
// under /admin/ on [http] listen.
type AdminConfig struct {
	// Enabled serves /admin/.
	Enabled bool `toml:"enabled"`
	// User is the first administrator's login, created at start when the
	// database has no login of that name, with the password read from
	// PasswordFile (its first line). An existing login is left alone.
	User         string `toml:"user"`
	PasswordFile string `toml:"password_file"`
	// LDAP, when set, logs the staff in against the directory
	// ([admin.ldap], admin.LDAPConfig): names that are not local logins.
	LDAP *AdminLDAPConfig `toml:"ldap"`
}

// AdminLDAPConfig is [admin.ldap]: admin.LDAPConfig's fields.
type AdminLDAPConfig struct {
	URL         string   `toml:"url"`
	UserDN      string   `toml:"user_dn"`
	GroupBase   string   `toml:"group_base"`
	AdminGroups []string `toml:"admin_groups"`
	UserGroups  []string `toml:"user_groups"`
	AccountAttr string   `toml:"account_attr"`
}

// directory is the LDAP directory of [admin.ldap], or nil.
func (ac AdminConfig) directory() (admin.Directory, error) {
	l := ac.LDAP
	if l == nil {
		return nil, nil
	}
	d, err := admin.NewLDAP(admin.LDAPConfig{URL: l.URL, UserDN: l.UserDN, GroupBase: l.GroupBase,
		AdminGroups: l.AdminGroups, UserGroups: l.UserGroups, AccountAttr: l.AccountAttr})
	if err != nil {
		return nil, fmt.Errorf("config: admin.ldap: %w", err)
	}
	return d, nil
}

func defaultAdmin() AdminConfig { return AdminConfig{User: "admin"} }

// check reads the password file when the first administrator is to be
// created; it is read again at start.
func (ac AdminConfig) check() error {
	if !ac.Enabled {
		return nil
	}
	if _, err := ac.directory(); err != nil {
		return err
	}
	if ac.PasswordFile == "" {
		return nil
	}
	if ac.User == "" {
		return errors.New("config: admin.user is empty")
	}
	_, err := ac.password()
	return err
}

// password is the first line of PasswordFile.
func (ac AdminConfig) password() (string, error) {
	b, err := os.ReadFile(ac.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("config: admin.password_file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(pw, "\r"), nil
}

// The calls list of the admin page follows every node's events.
var _ admin.CallEvents = cluster.Calls{}

// startAdmin mounts the admin page and API on hmux when [admin] enables
// them: the stores the router reads, its live calls and trunks. The
// returned function ends the live pages' event streams, so that the HTTP
// server's shutdown does not wait for them.
func (a *app) startAdmin(ctx context.Context, srv *sip.Server, hmux *http.ServeMux, log *slog.Logger, reg prometheus.Registerer) (stop func(), err error) {
	ac := a.cfg.Admin
	if !ac.Enabled {
		return func() {}, nil
	}
	st := a.db.Admin()
	if ac.PasswordFile != "" {
		pw, err := ac.password()
		if err != nil {
			return nil, err
		}
		created, err := admin.Bootstrap(ctx, st, ac.User, pw)
		if err != nil {
			return nil, fmt.Errorf("admin: first login %s: %w", ac.User, err)
		}
		if created {
			log.Info("unisi: created the admin login", "login", ac.User)
		}
	}
	dir, err := ac.directory()
	if err != nil {
		return nil, err
	}
	cfg := admin.Config{Directory: dir, Dialplan: a.plan, Rules: a.db.Dialplan(), Pipeline: a,
		Domain: a.domain, Realm: a.cfg.Registrar.Realm, Classes: unisiClasses(),
		Accounts: a.subs, Aliases: a.db.Aliases(), Features: a.db.Features(),
		Calls:  a.calls, // the cluster's calls (cluster.Calls), or this node's
		Trunks: a.router, CDRs: a.db.Accounting(), Departments: a.db.Accounting(), Bans: a.db.Guard(),
		Floods: admin.FloodFunc(func() []guard.Ban {
			if g := a.guard.Load(); g != nil {
				return g.FloodBlocks()
			}
			return nil
		}),
		Locations: a.loc, Devices: a.db.Devices(), Logins: st, AccountInfo: st,
	}
	if a.ops != nil && a.ops.alerts != nil {
		cfg.Alerts = a.ops.alerts // the alerts page: what this node raised
	}
	h, err := admin.New(cfg, st, admin.WithLogger(log), admin.WithRegisterer(reg),
		admin.WithAuthFailures(func(src netip.Addr, user, reason string) {
			if g := a.guard.Load(); g != nil {
				g.AuthFailed(src, user, reason)
			}
		}))
	if err != nil {
		return nil, err
	}
	hmux.Handle("/admin/", h)
	return h.Close, nil
}
