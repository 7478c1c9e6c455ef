package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
)

// APIPrefix is where the JSON API is served.
const APIPrefix = "/admin/api/"

// routes registers the API. Admin-only routes go through h.admin; the
// account routes a user may reach for their own account through h.self.
func (h *Handler) routes() {
	m := h
	m.HandleFunc("GET /admin/api/openapi.json", h.serveOpenAPI)
	m.HandleFunc("GET /admin/api/accounts", h.admin(h.listAccounts))
	m.HandleFunc("POST /admin/api/accounts", h.admin(h.createAccount))
	m.HandleFunc("GET /admin/api/accounts/{account}", h.self(h.getAccount))
	m.HandleFunc("PATCH /admin/api/accounts/{account}", h.admin(h.editAccount))
	m.HandleFunc("DELETE /admin/api/accounts/{account}", h.admin(h.deleteAccount))
	m.HandleFunc("POST /admin/api/accounts/{account}/block", h.admin(h.blockAccount(true)))
	m.HandleFunc("POST /admin/api/accounts/{account}/unblock", h.admin(h.blockAccount(false)))
	m.HandleFunc("POST /admin/api/accounts/{account}/password", h.self(h.resetPassword))
	m.HandleFunc("GET /admin/api/accounts/{account}/features", h.self(h.getFeatures))
	m.HandleFunc("PATCH /admin/api/accounts/{account}/features", h.self(h.setFeatures))
	m.HandleFunc("GET /admin/api/accounts/{account}/cdrs", h.self(h.accountCDRs))
	m.HandleFunc("GET /admin/api/accounts/{account}/contacts", h.self(h.contacts))
	m.HandleFunc("GET /admin/api/accounts/{account}/devices", h.self(h.accountDevices))
	m.HandleFunc("GET /admin/api/accounts/{account}/report", h.self(h.accountReport))
	m.HandleFunc("GET /admin/api/accounts/{account}/blacklist", h.self(h.listBlacklist))
	m.HandleFunc("POST /admin/api/accounts/{account}/blacklist", h.self(h.addBlacklist))
	m.HandleFunc("DELETE /admin/api/accounts/{account}/blacklist/{id}", h.self(h.deleteBlacklist))
	m.HandleFunc("GET /admin/api/blacklist", h.admin(h.listGlobal))
	m.HandleFunc("POST /admin/api/blacklist", h.admin(h.addGlobal))
	m.HandleFunc("PATCH /admin/api/blacklist/{id}", h.admin(h.editGlobal))
	m.HandleFunc("DELETE /admin/api/blacklist/{id}", h.admin(h.deleteGlobal))
	m.HandleFunc("GET /admin/api/reports", h.admin(h.listReport))
	m.HandleFunc("GET /admin/api/devices", h.admin(h.listDevices))
	m.HandleFunc("GET /admin/api/devices/unknown", h.admin(h.listUnknownDevices))
	m.HandleFunc("POST /admin/api/devices/unknown/{mac}/assign", h.admin(h.assignDevice))
	m.HandleFunc("PATCH /admin/api/devices/{mac}", h.admin(h.editDevice))
	m.HandleFunc("DELETE /admin/api/devices/{mac}", h.admin(h.deleteDevice))
	m.HandleFunc("POST /admin/api/devices/{mac}/resync", h.admin(h.resyncDevice))
	m.HandleFunc("GET /admin/api/dialplan/translate", h.admin(h.translate))
	m.HandleFunc("GET /admin/api/dialplan/rules", h.admin(h.listRules))
	m.HandleFunc("POST /admin/api/dialplan/rules", h.admin(h.createRule))
	m.HandleFunc("GET /admin/api/dialplan/rules/{id}", h.admin(h.getRule))
	m.HandleFunc("PATCH /admin/api/dialplan/rules/{id}", h.admin(h.editRule))
	m.HandleFunc("DELETE /admin/api/dialplan/rules/{id}", h.admin(h.deleteRule))
	m.HandleFunc("GET /admin/api/route", h.admin(h.route))
	m.HandleFunc("POST /admin/api/route", h.admin(h.route))
	m.HandleFunc("GET /admin/api/aliases", h.admin(h.listAliases))
	m.HandleFunc("POST /admin/api/aliases", h.admin(h.createAlias))
	m.HandleFunc("DELETE /admin/api/aliases/{alias}", h.admin(h.deleteAlias))
	m.HandleFunc("GET /admin/api/calls", h.admin(h.listCalls))
	m.HandleFunc("POST /admin/api/calls/{callid}/hangup", h.admin(h.hangup))
	m.HandleFunc("GET /admin/api/gateways", h.admin(h.listGateways))
	m.HandleFunc("POST /admin/api/gateways/{id}/enable", h.admin(h.switchTrunk("gateway", true)))
	m.HandleFunc("POST /admin/api/gateways/{id}/disable", h.admin(h.switchTrunk("gateway", false)))
	m.HandleFunc("GET /admin/api/carriers", h.admin(h.listCarriers))
	m.HandleFunc("POST /admin/api/carriers/{id}/enable", h.admin(h.switchTrunk("carrier", true)))
	m.HandleFunc("POST /admin/api/carriers/{id}/disable", h.admin(h.switchTrunk("carrier", false)))
	m.HandleFunc("GET /admin/api/cdrs", h.admin(h.listCDRs))
	m.HandleFunc("GET /admin/api/cdrs.csv", h.admin(h.exportCDRs))
	m.HandleFunc("GET /admin/api/bans", h.admin(h.listBans))
	m.HandleFunc("DELETE /admin/api/bans/{kind}/{subject}", h.admin(h.deleteBan))
	m.HandleFunc("GET /admin/api/notice", h.loggedIn(h.getNotice))
	m.HandleFunc("PUT /admin/api/notice", h.admin(h.setNotice))
	m.HandleFunc("GET /admin/api/audit", h.admin(h.listAudit))
	m.HandleFunc("GET /admin/api/alerts", h.admin(h.listAlerts))
	m.HandleFunc("POST /admin/api/login", h.any(h.login))
	m.HandleFunc("POST /admin/api/logout", h.any(h.logout))
	m.HandleFunc("GET /admin/api/session", h.any(h.session))
	m.HandleFunc("POST /admin/api/session/password", h.loggedIn(h.changeOwnPassword))
	m.HandleFunc("GET /admin/api/logins", h.admin(h.listLogins))
	m.HandleFunc("PUT /admin/api/logins/{name}", h.admin(h.putLogin))
	m.HandleFunc("DELETE /admin/api/logins/{name}", h.admin(h.deleteLogin))
	h.mux.HandleFunc("/admin/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no such API route"})
	})
}

// HandleFunc registers an API route and remembers its pattern (Routes).
func (h *Handler) HandleFunc(pattern string, fn http.HandlerFunc) {
	h.patterns = append(h.patterns, pattern)
	h.mux.HandleFunc(pattern, fn)
}

// Routes returns the API's route patterns ("GET /admin/api/accounts"),
// as registered: the OpenAPI file documents each.
func (h *Handler) Routes() []string { return slices.Clone(h.patterns) }

// apiFunc is an API handler: it answers, or returns the error to answer.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// admin serves fn to administrators only.
func (h *Handler) admin(fn apiFunc) http.HandlerFunc {
	return h.any(func(w http.ResponseWriter, r *http.Request) error {
		if p := principalFrom(r.Context()); p.Scope != ScopeAdmin {
			return errForbidden
		}
		return fn(w, r)
	})
}

// self serves fn to administrators, and to a user for their own
// account ({account}).
func (h *Handler) self(fn apiFunc) http.HandlerFunc {
	return h.any(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		if p.Scope == ScopeAdmin {
			return fn(w, r)
		}
		user, domain, err := h.accountName(r.PathValue("account"))
		if err != nil || p.Scope != ScopeUser || user != p.Account || !strings.EqualFold(domain, h.domainOf(p)) {
			return errForbidden
		}
		return fn(w, r)
	})
}

// loggedIn serves fn to any logged-in principal.
func (h *Handler) loggedIn(fn apiFunc) http.HandlerFunc {
	return h.any(func(w http.ResponseWriter, r *http.Request) error {
		if principalFrom(r.Context()).Scope == "" {
			return errForbidden
		}
		return fn(w, r)
	})
}

// any serves fn to every request that passed authenticate, answering its error.
func (h *Handler) any(fn apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.writeError(w, r, err)
		}
	}
}

func (h *Handler) domainOf(p Principal) string {
	if p.Domain != "" {
		return p.Domain
	}
	return h.cfg.Domain
}

// audit records a write done by the request's principal. A failure to
// record is logged, not answered: the write is done.
func (h *Handler) audit(r *http.Request, action, target, detail string) {
	e := AuditEntry{Time: h.now().UTC(), Who: principalFrom(r.Context()).Name, Action: action, Target: target, Detail: detail}
	if _, err := h.store.AddAudit(context.WithoutCancel(r.Context()), e); err != nil {
		h.log.Error("admin: audit log not written", "action", action, "target", target, "error", err)
	}
	h.log.Info("admin: write", "who", e.Who, "action", action, "target", target)
}

// accountName reads USER[@DOMAIN]; the domain defaults to Config.Domain.
// The user must be a SIP user part (sip.CheckUserPart, as the operator
// commands check it).
func (h *Handler) accountName(s string) (user, domain string, err error) {
	user, domain, ok := strings.Cut(s, "@")
	if !ok {
		domain = h.cfg.Domain
	}
	if err := sip.CheckUserPart(user); err != nil {
		return "", "", fieldErr("username", err)
	}
	return user, domain, nil
}

// Account is an account as the API shows it: never its HA1. Owner and
// Note are its AccountInfo (Config.AccountInfo).
type Account struct {
	Username string   `json:"username"`
	Domain   string   `json:"domain"`
	Blocked  bool     `json:"blocked"`
	Classes  []string `json:"classes"`
	Inbound  []string `json:"inbound"`
	Owner    string   `json:"owner,omitempty"`
	Note     string   `json:"note,omitempty"`
}

// withInfo is a with its owner and note, when the handler has a store of them.
func (h *Handler) withInfo(ctx context.Context, a Account) (Account, error) {
	if h.cfg.AccountInfo == nil {
		return a, nil
	}
	i, err := h.cfg.AccountInfo.AccountInfo(ctx, a.Username, a.Domain)
	if err != nil {
		return a, err
	}
	a.Owner, a.Note = i.Owner, i.Note
	return a, nil
}

// checkInfo checks the owner and note a request gives (nil: not given)
// over cur, and returns the info to store and the audit's words for what
// changed; without Config.AccountInfo, giving either is 501.
func (h *Handler) checkInfo(cur AccountInfo, owner, note *string) (AccountInfo, []string, error) {
	if owner == nil && note == nil {
		return cur, nil, nil
	}
	if h.cfg.AccountInfo == nil {
		return cur, nil, errNotConfigured
	}
	next := cur
	var changed []string
	if owner != nil {
		next.Owner = *owner
		changed = append(changed, fmt.Sprintf("owner=%q", next.Owner))
	}
	if note != nil {
		next.Note = *note
		changed = append(changed, fmt.Sprintf("note=%q", next.Note))
	}
	if err := next.Validate(); err != nil {
		return cur, nil, err
	}
	return next, changed, nil
}

func accountOf(s registrar.Subscriber) Account {
	return Account{Username: s.Username, Domain: s.Domain, Blocked: s.Blocked, Classes: nonNil(s.Classes), Inbound: nonNil(s.InboundClasses)}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// CheckAccount checks an account as the operator commands do, through
// the same library code (registrar.Subscriber.Validate, then
// permission.ClassConfig.CheckAccount against the deployment's classes),
// and names the field at fault.
func (h *Handler) CheckAccount(sub registrar.Subscriber) error {
	if err := sub.Validate(); err != nil {
		return fieldErr(subscriberField(sub), err)
	}
	if err := h.cfg.Classes.CheckAccount(sub.Classes, nil); err != nil {
		return fieldErr("classes", err)
	}
	if err := h.cfg.Classes.CheckAccount(nil, sub.InboundClasses); err != nil {
		return fieldErr("inbound", err)
	}
	return nil
}

// subscriberField finds the field Subscriber.Validate refused by asking
// it again about each field alone.
func subscriberField(sub registrar.Subscriber) string {
	if sip.CheckUserPart(sub.Username) != nil {
		return "username"
	}
	if (registrar.Subscriber{Username: sub.Username, Domain: sub.Domain, HA1: "x"}).Validate() != nil {
		return "domain"
	}
	if (registrar.Subscriber{Username: sub.Username, Domain: sub.Domain, HA1: "x", Classes: sub.Classes}).Validate() != nil {
		return "classes"
	}
	if (registrar.Subscriber{Username: sub.Username, Domain: sub.Domain, HA1: "x", InboundClasses: sub.InboundClasses}).Validate() != nil {
		return "inbound"
	}
	return "password"
}

func (h *Handler) accounts() (Accounts, error) {
	if h.cfg.Accounts == nil {
		return nil, errNotConfigured
	}
	return h.cfg.Accounts, nil
}

// listAccounts answers the accounts overview (?q=: by number,
// department or name, as the accounts page searches).
func (h *Handler) listAccounts(w http.ResponseWriter, r *http.Request) error {
	out, err := h.accountSummaries(r.Context(), r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// account returns the account named by the path, exactly in its domain.
func (h *Handler) account(ctx context.Context, name string) (registrar.Subscriber, error) {
	st, err := h.accounts()
	if err != nil {
		return registrar.Subscriber{}, err
	}
	user, domain, err := h.accountName(name)
	if err != nil {
		return registrar.Subscriber{}, err
	}
	sub, err := st.Subscriber(ctx, user, domain)
	if err == nil && !strings.EqualFold(sub.Domain, domain) {
		err = registrar.ErrNotFound // the store matched the user in another domain
	}
	if err != nil {
		return registrar.Subscriber{}, fmt.Errorf("admin: account %s@%s: %w", user, domain, err)
	}
	return sub, nil
}

func (h *Handler) getAccount(w http.ResponseWriter, r *http.Request) error {
	sub, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	a, err := h.withInfo(r.Context(), accountOf(sub))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// accountRequest is the body of an account's creation or edit.
type accountRequest struct {
	Username string    `json:"username"`
	Domain   string    `json:"domain"`
	Password *string   `json:"password"`
	Classes  *[]string `json:"classes"`
	Inbound  *[]string `json:"inbound"`
	// Owner and Note are the account's AccountInfo (administrators only).
	Owner *string `json:"owner"`
	Note  *string `json:"note"`
}

func (h *Handler) createAccount(w http.ResponseWriter, r *http.Request) error {
	st, err := h.accounts()
	if err != nil {
		return err
	}
	var req accountRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Domain == "" {
		req.Domain = h.cfg.Domain
	}
	if err := sip.CheckUserPart(req.Username); err != nil {
		return fieldErr("username", err)
	}
	if req.Password == nil || *req.Password == "" {
		return fieldErr("password", errors.New("required"))
	}
	sub := registrar.NewSubscriberIn(req.Username, req.Domain, h.cfg.Realm, *req.Password)
	sub.Classes = []string{"local"} // the operator command's default
	if req.Classes != nil {
		sub.Classes = *req.Classes
	}
	if req.Inbound != nil {
		sub.InboundClasses = *req.Inbound
	}
	if err := h.CheckAccount(sub); err != nil {
		return err
	}
	info, infoChanged, err := h.checkInfo(AccountInfo{Username: sub.Username, Domain: sub.Domain}, req.Owner, req.Note)
	if err != nil {
		return err
	}
	if h.cfg.AccountInfo != nil {
		if err := info.Validate(); err != nil { // the account's names as the info's store keys them
			return err
		}
	}
	if cur, err := st.Subscriber(r.Context(), sub.Username, sub.Domain); err == nil && strings.EqualFold(cur.Domain, sub.Domain) {
		return fmt.Errorf("admin: account %s@%s: %w", sub.Username, sub.Domain, errConflict)
	} else if err != nil && !errors.Is(err, registrar.ErrNotFound) {
		return err
	}
	if err := st.AddSubscriber(r.Context(), sub); err != nil {
		return err
	}
	detail := "classes=" + strings.Join(sub.Classes, ",") + " inbound=" + strings.Join(sub.InboundClasses, ",")
	if h.cfg.AccountInfo != nil {
		// Stored whole (an empty one deletes the row): what a deleted
		// namesake left in a store that does not cascade is not lent to
		// the new account.
		if err := h.cfg.AccountInfo.PutAccountInfo(r.Context(), info); err != nil {
			return err
		}
	}
	if infoChanged != nil {
		detail += " " + strings.Join(infoChanged, " ")
	}
	h.audit(r, "account.create", sub.Username+"@"+sub.Domain, detail)
	a := accountOf(sub)
	a.Owner, a.Note = info.Owner, info.Note
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (h *Handler) editAccount(w http.ResponseWriter, r *http.Request) error {
	st, err := h.accounts()
	if err != nil {
		return err
	}
	var req accountRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Username != "" || req.Domain != "" {
		return fieldErr(map[bool]string{true: "username", false: "domain"}[req.Username != ""], errors.New("cannot be changed: delete the account and create another"))
	}
	cur, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	next := cur
	var changed []string
	if req.Password != nil {
		if *req.Password == "" {
			return fieldErr("password", errors.New("empty"))
		}
		p := registrar.NewSubscriberIn(cur.Username, cur.Domain, h.cfg.Realm, *req.Password)
		next.Password, next.HA1, next.HA1SHA256 = "", p.HA1, p.HA1SHA256
		changed = append(changed, "password")
	}
	if req.Classes != nil {
		next.Classes = *req.Classes
		changed = append(changed, "classes="+strings.Join(next.Classes, ","))
	}
	if req.Inbound != nil {
		next.InboundClasses = *req.Inbound
		changed = append(changed, "inbound="+strings.Join(next.InboundClasses, ","))
	}
	if len(changed) == 0 && req.Owner == nil && req.Note == nil {
		return fieldErr("body", errors.New("nothing to change: give password, classes, inbound, owner or note"))
	}
	if err := h.CheckAccount(next); err != nil {
		return err
	}
	info := AccountInfo{Username: cur.Username, Domain: cur.Domain}
	if req.Owner != nil || req.Note != nil {
		if h.cfg.AccountInfo == nil {
			return errNotConfigured
		}
		if info, err = h.cfg.AccountInfo.AccountInfo(r.Context(), cur.Username, cur.Domain); err != nil {
			return err
		}
	}
	info, infoChanged, err := h.checkInfo(info, req.Owner, req.Note)
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		if err := st.UpdateSubscriber(r.Context(), next); err != nil {
			return err
		}
	}
	if infoChanged != nil {
		if err := h.cfg.AccountInfo.PutAccountInfo(r.Context(), info); err != nil {
			return err
		}
	}
	h.audit(r, "account.edit", cur.Username+"@"+cur.Domain, strings.Join(append(changed, infoChanged...), " "))
	a, err := h.withInfo(r.Context(), accountOf(next))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (h *Handler) deleteAccount(w http.ResponseWriter, r *http.Request) error {
	cur, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	if err := h.cfg.Accounts.DeleteSubscriber(r.Context(), cur.Username, cur.Domain); err != nil {
		return err
	}
	if h.cfg.AccountInfo != nil {
		// Its owner and note go with it (sqlstore's DeleteSubscriber
		// deletes them already; a memory store does not).
		if err := h.cfg.AccountInfo.DeleteAccountInfo(r.Context(), cur.Username, cur.Domain); err != nil {
			h.log.Warn("admin: the deleted account's owner and note are left", "account", cur.Username+"@"+cur.Domain, "error", err)
		}
	}
	h.audit(r, "account.delete", cur.Username+"@"+cur.Domain, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) blockAccount(block bool) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		cur, err := h.account(r.Context(), r.PathValue("account"))
		if err != nil {
			return err
		}
		if cur.Blocked != block {
			if err := h.cfg.Accounts.SetBlocked(r.Context(), cur.Username, cur.Domain, block); err != nil {
				return err
			}
			h.audit(r, map[bool]string{true: "account.block", false: "account.unblock"}[block], cur.Username+"@"+cur.Domain, "")
		}
		cur.Blocked = block
		writeJSON(w, http.StatusOK, accountOf(cur))
		return nil
	}
}

// passwordRequest is the body of a password reset.
type passwordRequest struct {
	Password string `json:"password"`
}

func (h *Handler) resetPassword(w http.ResponseWriter, r *http.Request) error {
	var req passwordRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Password == "" {
		return fieldErr("password", errors.New("required"))
	}
	cur, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	p := registrar.NewSubscriberIn(cur.Username, cur.Domain, h.cfg.Realm, req.Password)
	next := cur
	next.Password, next.HA1, next.HA1SHA256 = "", p.HA1, p.HA1SHA256
	if err := h.CheckAccount(next); err != nil {
		return err
	}
	if err := h.cfg.Accounts.UpdateSubscriber(r.Context(), next); err != nil {
		return err
	}
	h.audit(r, "account.password", cur.Username+"@"+cur.Domain, "")
	writeJSON(w, http.StatusOK, accountOf(next))
	return nil
}

// settingsOf returns the account's call services, or empty ones.
func (h *Handler) settingsOf(ctx context.Context, user, domain string) (features.Settings, error) {
	all, err := h.cfg.Features.Settings(ctx)
	if err != nil {
		return features.Settings{}, err
	}
	for _, s := range all {
		if s.User == user && strings.EqualFold(s.Domain, domain) {
			return s, nil
		}
	}
	return features.Settings{User: user, Domain: domain}, nil
}

// featureMap is an account's settings as KEY: VALUE, the keys of
// features.Keys with the values of features.Settings.Get ("off").
func featureMap(s features.Settings) map[string]string {
	out := make(map[string]string, len(features.Keys))
	for _, k := range features.Keys {
		out[k] = s.Get(k)
	}
	return out
}

func (h *Handler) getFeatures(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Features == nil {
		return errNotConfigured
	}
	sub, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	s, err := h.settingsOf(r.Context(), sub.Username, sub.Domain)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, featureMap(s))
	return nil
}

// setFeatures changes some of an account's settings, as `feature set`
// does: features.Change applies and checks them.
func (h *Handler) setFeatures(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Features == nil {
		return errNotConfigured
	}
	// Read as any, so that a value of the wrong type is named by its key.
	var raw map[string]any
	if err := readJSON(r, &raw); err != nil {
		return err
	}
	req := make(map[string]string, len(raw))
	for k, v := range raw {
		s, ok := v.(string)
		if !ok && slices.Contains(features.Keys, k) {
			return fieldErr(k, errors.New("wrong type, want string"))
		}
		req[k] = s
	}
	sub, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	cur, err := h.settingsOf(r.Context(), sub.Username, sub.Domain)
	if err != nil {
		return err
	}
	// In the order of features.Keys, so that the outcome does not depend
	// on the map's; a key the library does not know is named.
	var pairs []string
	for k := range req {
		if !slices.Contains(features.Keys, k) {
			return fieldErr(k, fmt.Errorf("unknown setting (keys: %s)", strings.Join(features.Keys, ", ")))
		}
	}
	for _, k := range features.Keys {
		if v, ok := req[k]; ok {
			scratch := cur
			if err := scratch.Set(k, v); err != nil {
				return fieldErr(k, err)
			}
			pairs = append(pairs, k, v)
		}
	}
	exists := func(ctx context.Context, u string) (bool, error) {
		_, err := h.account(ctx, u+"@"+sub.Domain)
		if errors.Is(err, registrar.ErrNotFound) {
			return false, nil
		}
		var fe *sip.FieldError
		if errors.As(err, &fe) {
			return false, nil
		}
		return err == nil, err
	}
	next, changed, warnings, err := features.Change(r.Context(), cur, pairs, exists)
	if err != nil {
		field := "body"
		for i := 0; i < len(pairs); i += 2 {
			if strings.Contains(err.Error(), pairs[i]) {
				field = pairs[i]
				break
			}
		}
		return fieldErr(field, err)
	}
	if len(changed) > 0 {
		if err := h.cfg.Features.PutSettings(r.Context(), next); err != nil {
			return err
		}
		h.audit(r, "features.set", sub.Username+"@"+sub.Domain, strings.Join(changed, " "))
	}
	writeJSON(w, http.StatusOK, map[string]any{"settings": featureMap(next), "changed": nonNil(changed), "warnings": nonNil(warnings)})
	return nil
}

// Alias is an alias as the API shows it: alias and target as USER@DOMAIN.
type Alias struct {
	Alias  string `json:"alias"`
	Target string `json:"target"`
}

func (h *Handler) listAliases(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Aliases == nil {
		return errNotConfigured
	}
	list, err := h.cfg.Aliases.Aliases(r.Context())
	if err != nil {
		return err
	}
	out := []Alias{}
	for _, a := range list {
		out = append(out, Alias{a.AliasUsername + "@" + a.AliasDomain, a.Username + "@" + a.Domain})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// split reads USER[@DOMAIN] with Config.Domain as the default.
func (h *Handler) split(s string) (string, string) {
	u, d, ok := strings.Cut(s, "@")
	if !ok {
		d = h.cfg.Domain
	}
	return u, d
}

func (h *Handler) createAlias(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Aliases == nil {
		return errNotConfigured
	}
	var req Alias
	if err := readJSON(r, &req); err != nil {
		return err
	}
	au, ad := h.split(req.Alias)
	tu, td := h.split(req.Target)
	a := alias.Alias{AliasUsername: au, AliasDomain: ad, Username: tu, Domain: td}
	if err := a.Validate(); err != nil {
		// Which side: the library's check of the alias alone.
		field := "target"
		if (alias.Alias{AliasUsername: au, AliasDomain: ad, Username: "x", Domain: ad}).Validate() != nil {
			field = "alias"
		}
		return fieldErr(field, err)
	}
	a, err := h.cfg.Aliases.Add(r.Context(), a)
	if err != nil {
		return err
	}
	out := Alias{a.AliasUsername + "@" + a.AliasDomain, a.Username + "@" + a.Domain}
	h.audit(r, "alias.create", out.Alias, "target="+out.Target)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (h *Handler) deleteAlias(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Aliases == nil {
		return errNotConfigured
	}
	au, ad := h.split(r.PathValue("alias"))
	if err := h.cfg.Aliases.Delete(r.Context(), au, ad); err != nil {
		return err
	}
	h.audit(r, "alias.delete", au+"@"+ad, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listCalls(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Calls == nil {
		return errNotConfigured
	}
	writeJSON(w, http.StatusOK, nonNil(h.cfg.Calls.LiveCalls(h.now())))
	return nil
}

// hangupRequest is the optional body of a hang-up.
type hangupRequest struct {
	Reason string `json:"reason"`
}

func (h *Handler) hangup(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Calls == nil {
		return errNotConfigured
	}
	var req hangupRequest
	if r.ContentLength != 0 {
		if err := readJSON(r, &req); err != nil {
			return err
		}
	}
	if req.Reason == "" {
		req.Reason = "hung up by the operator"
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	callID := r.PathValue("callid")
	n, err := h.cfg.Calls.Hangup(ctx, callID, req.Reason)
	if errors.Is(err, sip.ErrNoDialog) || (err == nil && n == 0) {
		return fmt.Errorf("admin: call %s: %w", callID, sip.ErrNoDialog)
	}
	if err != nil && n == 0 {
		// Another node's call (cluster.Calls), and that node did not end it.
		writeJSON(w, http.StatusBadGateway, apiError{Error: err.Error()})
		return nil
	}
	h.audit(r, "call.hangup", callID, "reason="+req.Reason)
	out := map[string]any{"hung_up": n}
	if err != nil {
		out["warning"] = err.Error() // ended here; an end did not confirm its BYE
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Trunk is a gateway or a carrier with its live usage.
type Trunk struct {
	ID          string `json:"id"`
	Address     string `json:"address,omitempty"`
	Gateways    string `json:"gateways,omitempty"`
	Description string `json:"description"`
	State       string `json:"state"`
	Calls       int    `json:"calls"`
	Channels    int    `json:"channels"`
	Alarm       bool   `json:"alarm"`
}

// TrunkUsage returns every gateway's and carrier's state and usage.
func TrunkUsage(t Trunks) (gateways, carriers []Trunk) {
	gateways, carriers = []Trunk{}, []Trunk{}
	for _, g := range t.Gateways() {
		gateways = append(gateways, Trunk{ID: g.GWID, Address: g.Address, Description: g.Description, State: g.State.String(), Calls: g.Calls, Channels: g.Channels, Alarm: g.Alarm})
	}
	for _, c := range t.Carriers() {
		carriers = append(carriers, Trunk{ID: c.CarrierID, Gateways: c.GWList, Description: c.Description, State: c.State.String(), Calls: c.Calls, Channels: c.Channels, Alarm: c.Alarm})
	}
	return gateways, carriers
}

func (h *Handler) listGateways(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Trunks == nil {
		return errNotConfigured
	}
	g, _ := TrunkUsage(h.cfg.Trunks)
	writeJSON(w, http.StatusOK, g)
	return nil
}

func (h *Handler) listCarriers(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Trunks == nil {
		return errNotConfigured
	}
	_, c := TrunkUsage(h.cfg.Trunks)
	writeJSON(w, http.StatusOK, c)
	return nil
}

// switchTrunk enables or disables a gateway or carrier, as `gateway
// enable|disable` does: the router's own switch, which stores the state.
func (h *Handler) switchTrunk(kind string, on bool) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if h.cfg.Trunks == nil {
			return errNotConfigured
		}
		id := r.PathValue("id")
		set := h.cfg.Trunks.SetGatewayEnabled
		if kind == "carrier" {
			set = h.cfg.Trunks.SetCarrierEnabled
		}
		if err := set(r.Context(), id, on); err != nil {
			return err
		}
		verb := map[bool]string{true: "enable", false: "disable"}[on]
		h.audit(r, kind+"."+verb, id, "")
		gws, crs := TrunkUsage(h.cfg.Trunks)
		list := gws
		if kind == "carrier" {
			list = crs
		}
		for _, t := range list {
			if t.ID == id {
				writeJSON(w, http.StatusOK, t)
				return nil
			}
		}
		return fmt.Errorf("admin: %s %s: %w", kind, id, routing.ErrNotFound)
	}
}

// parseTime reads a query's time: RFC 3339, or a date (its midnight in
// UTC; with end, the next midnight, so that a "to" date is included).
func parseTime(field, s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fieldErr(field, fmt.Errorf("%q: want a date (2026-12-04) or an RFC 3339 time", s))
	}
	return t, nil
}

// MaxPage bounds a page of CDRs.
const MaxPage = 1000

// cdrFilter reads the CDR query: from, to, user, missed.
func (h *Handler) cdrFilter(r *http.Request) (accounting.Filter, error) {
	q := r.URL.Query()
	f := accounting.Filter{User: q.Get("user")}
	var err error
	if s := q.Get("from"); s != "" {
		if f.From, err = parseTime("from", s, false); err != nil {
			return f, err
		}
	} else {
		f.From = h.now().Add(-24 * time.Hour)
	}
	if s := q.Get("to"); s != "" {
		if f.To, err = parseTime("to", s, true); err != nil {
			return f, err
		}
		if !f.To.After(f.From) {
			return f, fieldErr("to", errors.New("the period ends before it begins"))
		}
	}
	if s := q.Get("missed"); s != "" {
		if f.Missed, err = strconv.ParseBool(s); err != nil {
			return f, fieldErr("missed", errors.New("want true or false"))
		}
	}
	if f.User != "" {
		if err := sip.CheckUserPart(strings.SplitN(f.User, "@", 2)[0]); err != nil {
			return f, fieldErr("user", err)
		}
	}
	return f, nil
}

// CDRPage is a page of call records.
type CDRPage struct {
	CDRs   []accounting.CDR `json:"cdrs"`
	Offset int              `json:"offset"`
	Limit  int              `json:"limit"`
	// More says a next page (Offset+Limit) has records.
	More bool `json:"more"`
}

func (h *Handler) listCDRs(w http.ResponseWriter, r *http.Request) error {
	f, err := h.cdrFilter(r)
	if err != nil {
		return err
	}
	return h.cdrPage(w, r, f)
}

// accountCDRs is an account's own call log: its calls made and received.
func (h *Handler) accountCDRs(w http.ResponseWriter, r *http.Request) error {
	sub, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	f, err := h.cdrFilter(r)
	if err != nil {
		return err
	}
	f.User = sub.Username
	return h.cdrPage(w, r, f)
}

func (h *Handler) cdrPage(w http.ResponseWriter, r *http.Request, f accounting.Filter) error {
	if h.cfg.CDRs == nil {
		return errNotConfigured
	}
	q := r.URL.Query()
	limit, offset := 100, 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPage {
			return fieldErr("limit", fmt.Errorf("want 1 to %d", MaxPage))
		}
		limit = n
	}
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fieldErr("offset", errors.New("want a number from 0"))
		}
		offset = n
	}
	f.Limit = offset + limit + 1
	page := CDRPage{CDRs: []accounting.CDR{}, Offset: offset, Limit: limit}
	i := 0
	err := h.cfg.CDRs.CDRs(r.Context(), f, func(c accounting.CDR) error {
		switch {
		case i < offset:
		case len(page.CDRs) < limit:
			page.CDRs = append(page.CDRs, c)
		default:
			page.More = true
		}
		i++
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// exportCDRs is the CSV export of `cdr export` (accounting.ExportCSV).
func (h *Handler) exportCDRs(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.CDRs == nil {
		return errNotConfigured
	}
	f, err := h.cdrFilter(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="cdrs.csv"`)
	if _, err := accounting.ExportCSV(r.Context(), w, h.cfg.CDRs, f, time.UTC); err != nil {
		h.log.Warn("admin: CSV export cut short", "error", err)
	}
	return nil
}

// Ban is a guard ban as the API shows it.
type Ban struct {
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	Reason  string    `json:"reason"`
	Created time.Time `json:"created"`
	Until   time.Time `json:"until,omitzero"`
}

func (h *Handler) listBans(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Bans == nil {
		return errNotConfigured
	}
	list, err := h.bansInForce(r.Context())
	if err != nil {
		return err
	}
	out := []Ban{}
	for _, b := range list {
		out = append(out, Ban{string(b.Kind), b.Subject, b.Reason, b.Created, b.Until})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// bansInForce is the stored bans and, with Config.Floods, this node's
// flood blocks first.
func (h *Handler) bansInForce(ctx context.Context) ([]guard.Ban, error) {
	list, err := h.cfg.Bans.Bans(ctx)
	if err != nil {
		return nil, err
	}
	if h.cfg.Floods != nil {
		list = append(h.cfg.Floods.FloodBlocks(), list...)
	}
	return list, nil
}

// deleteBan lifts a ban or clears a fraud block, as `guard unban` and
// `guard clear` do.
func (h *Handler) deleteBan(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Bans == nil {
		return errNotConfigured
	}
	b := guard.Ban{Kind: guard.BanKind(r.PathValue("kind")), Subject: r.PathValue("subject"), Created: h.now()}
	if b.Kind == guard.BanFlood {
		return fieldErr("kind", errors.New("flood blocks are not stored: they end with the flood"))
	}
	if err := b.Validate(); err != nil {
		field := "subject"
		if !b.Kind.Valid() {
			field = "kind"
		}
		return fieldErr(field, err)
	}
	if err := h.cfg.Bans.DeleteBan(r.Context(), b.Kind, b.Subject); err != nil {
		return err
	}
	h.audit(r, "ban.delete", string(b.Kind)+" "+b.Subject, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) getNotice(w http.ResponseWriter, r *http.Request) error {
	n, err := h.store.Notice(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

// noticeRequest is the body of a notice's change.
type noticeRequest struct {
	Text string `json:"text"`
}

func (h *Handler) setNotice(w http.ResponseWriter, r *http.Request) error {
	var req noticeRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	n := Notice{Text: req.Text, Updated: h.now().UTC().Truncate(time.Millisecond), By: principalFrom(r.Context()).Name}
	if err := n.Validate(); err != nil {
		return fieldErr("text", err)
	}
	if err := h.store.SetNotice(r.Context(), n); err != nil {
		return err
	}
	h.audit(r, "notice.set", "notice", fmt.Sprintf("%d bytes", len(n.Text)))
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := AuditFilter{Who: q.Get("who"), Limit: 100}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPage {
			return fieldErr("limit", fmt.Errorf("want 1 to %d", MaxPage))
		}
		f.Limit = n
	}
	list, err := h.store.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(list))
	return nil
}
