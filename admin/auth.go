package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/sip"
)

// CookieName is the session cookie's name; it is sent to /admin/ only,
// Secure, HttpOnly and SameSite=Strict.
const CookieName = "palio_admin"

// CSRFHeader carries the session's CSRF token on every state-changing
// request (the login's answer and GET /admin/api/session give it).
const CSRFHeader = "X-CSRF-Token"

// Login passwords: at least MinPasswordLen bytes, at most bcrypt's 72.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
)

// bcryptCost is the hashing cost of new passwords.
var bcryptCost = bcrypt.DefaultCost

// HashPassword returns the bcrypt hash a Login keeps of password,
// refusing a password shorter than MinPasswordLen or longer than
// MaxPasswordLen.
func HashPassword(password string) (string, error) {
	if len(password) < MinPasswordLen {
		return "", fmt.Errorf("admin: password: at least %d characters", MinPasswordLen)
	}
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("admin: password: at most %d bytes", MaxPasswordLen)
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("admin: password: %w", err)
	}
	return string(b), nil
}

// dummyHash is compared against when a login does not exist, so that an
// unknown name takes as long as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("palio-no-such-login"), bcrypt.DefaultCost)

// Bootstrap creates the administrator login name with password when the
// store has no login of that name (a program's first start); an existing
// login is left as it is. It reports whether it created one.
func Bootstrap(ctx context.Context, st LoginStore, name, password string) (bool, error) {
	if _, err := st.Login(ctx, name); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return false, err
	}
	return true, st.PutLogin(ctx, Login{Name: name, Scope: ScopeAdmin, Hash: hash, Updated: time.Now().UTC()})
}

// WithAuthFailures calls fn for every failed login (reason
// "unknown-user" or "wrong-password", the registrar's words): the guard's
// AuthFailed counts them with the SIP failures, and bans the source.
func WithAuthFailures(fn func(src netip.Addr, user, reason string)) Option {
	return func(o *options) { o.authFailed = fn }
}

// public are the routes served without a session.
var public = map[string]bool{
	"POST /admin/api/login":       true,
	"GET /admin/api/openapi.json": true,
	"GET /admin/api/session":      true, // answers 401 itself
	"POST /admin/api/logout":      true, // ends the session if any
	"GET /admin/static/{file...}": true,
	"GET /admin/login":            true,
}

// authenticate puts the request's principal in its context, or answers
// 401 (no session), 403 (a state-changing request without the session's
// CSRF token, or from another origin). It reports whether to go on.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, pattern string) (*http.Request, bool) {
	if h.noLogin {
		return r.WithContext(withPrincipal(r.Context(), Principal{Name: "admin", Scope: ScopeAdmin})), true
	}
	unsafe := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
	if unsafe && !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, apiError{Error: "cross-origin request refused", Field: "Origin"})
		return r, false
	}
	var s session
	ok := false
	if c, err := r.Cookie(CookieName); err == nil {
		s, ok = h.sessions.get(c.Value, h.now())
	}
	if !ok {
		if public[pattern] {
			return r, true
		}
		if strings.HasPrefix(r.URL.Path, APIPrefix) {
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "log in first (POST /admin/api/login)"})
		} else {
			http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
		}
		return r, false
	}
	if unsafe && pattern != "POST /admin/api/logout" && !sameToken(r.Header.Get(CSRFHeader), s.csrf) {
		writeJSON(w, http.StatusForbidden, apiError{Error: "missing or wrong CSRF token", Field: CSRFHeader})
		return r, false
	}
	ctx := withPrincipal(r.Context(), s.p)
	ctx = withCSRF(ctx, s.csrf)
	return r.WithContext(ctx), true
}

// sameOrigin reports whether a state-changing request comes from the
// page itself: an Origin (or, without one, a Referer) naming another host
// is refused. Requests with neither (curl, the CLI) pass: the CSRF token
// and the SameSite cookie still guard them.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		o = r.Header.Get("Referer")
	}
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

type csrfKey struct{}

func withCSRF(ctx context.Context, t string) context.Context {
	return context.WithValue(ctx, csrfKey{}, t)
}

func csrfFrom(ctx context.Context) string {
	t, _ := ctx.Value(csrfKey{}).(string)
	return t
}

// sourceOf is the request's source address (the TCP peer: a proxy in
// front must rate-limit itself).
func sourceOf(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// SessionInfo is what the login answers and GET /admin/api/session
// returns: who is logged in, and the CSRF token to send.
type SessionInfo struct {
	Name    string `json:"name"`
	Scope   Scope  `json:"scope"`
	Account string `json:"account,omitempty"`
	Domain  string `json:"domain,omitempty"`
	CSRF    string `json:"csrf"`
}

// loginRequest is the login form.
type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Logins == nil {
		return errNotConfigured
	}
	src := sourceOf(r)
	now := h.now()
	if over, until := h.limiter.blocked(src, now); over {
		w.Header().Set("Retry-After", strconv.Itoa(int(until.Sub(now).Seconds())+1))
		writeJSON(w, http.StatusTooManyRequests, apiError{Error: "too many failed logins from your address: try again later"})
		return nil
	}
	if h.bannedSource(r.Context(), src, now) {
		writeJSON(w, http.StatusForbidden, apiError{Error: "your address is banned"})
		return nil
	}
	var req loginRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return fieldErr("name", errors.New("required"))
	}
	l, err := h.cfg.Logins.Login(r.Context(), req.Name)
	reason := ""
	switch {
	case errors.Is(err, ErrNotFound) && h.cfg.Directory != nil:
		// Not a local login: the directory's, bound as the user.
		dctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		p, derr := h.cfg.Directory.Authenticate(dctx, req.Name, req.Password)
		cancel()
		switch {
		case errors.Is(derr, ErrBadCredentials):
			reason = "wrong-password"
		case derr != nil:
			h.log.Error("admin: directory unreachable", "login", req.Name, "error", derr)
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "the directory does not answer: try again later"})
			return nil
		default:
			l = Login{Name: p.Name, Scope: p.Scope, Account: p.Account, Domain: p.Domain}
		}
	case errors.Is(err, ErrNotFound):
		bcrypt.CompareHashAndPassword(dummyHash, []byte(req.Password))
		reason = "unknown-user"
	case err != nil:
		return err
	case bcrypt.CompareHashAndPassword([]byte(l.Hash), []byte(req.Password)) != nil:
		reason = "wrong-password"
	}
	if reason != "" {
		h.limiter.failed(src, now)
		h.metrics.logins.WithLabelValues("failed").Inc()
		if h.authFailed != nil {
			h.authFailed(src, req.Name, reason)
		}
		h.log.Warn("admin: login failed", "src", src.String(), "login", req.Name, "reason", reason)
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "wrong name or password"})
		return nil
	}
	h.limiter.succeeded(src)
	h.metrics.logins.WithLabelValues("ok").Inc()
	p := Principal{Name: l.Name, Scope: l.Scope, Account: l.Account, Domain: l.Domain}
	id, csrf := h.sessions.create(p, now)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/admin/", MaxAge: int(SessionMax.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	h.log.Info("admin: logged in", "src", src.String(), "login", l.Name, "scope", string(l.Scope))
	writeJSON(w, http.StatusOK, SessionInfo{Name: p.Name, Scope: p.Scope, Account: p.Account, Domain: p.Domain, CSRF: csrf})
	return nil
}

// bannedSource reports whether the guard has a ban in force on src.
func (h *Handler) bannedSource(ctx context.Context, src netip.Addr, now time.Time) bool {
	if h.cfg.Bans == nil || !src.IsValid() {
		return false
	}
	bans, err := h.cfg.Bans.Bans(ctx)
	if err != nil {
		h.log.Warn("admin: cannot read the guard's bans", "error", err)
		return false
	}
	for _, b := range bans {
		if b.Kind == guard.BanIP && b.Subject == src.String() && (b.Until.IsZero() || b.Until.After(now)) {
			return true
		}
	}
	return false
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(CookieName); err == nil {
		h.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/admin/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) session(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if p.Scope == "" {
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "not logged in"})
		return nil
	}
	writeJSON(w, http.StatusOK, SessionInfo{Name: p.Name, Scope: p.Scope, Account: p.Account, Domain: p.Domain, CSRF: csrfFrom(r.Context())})
	return nil
}

// loginRequestBody is the body of a login's creation or change.
type loginPut struct {
	Password *string `json:"password"`
	Scope    Scope   `json:"scope"`
	Account  string  `json:"account"`
	Domain   string  `json:"domain"`
}

func (h *Handler) listLogins(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Logins == nil {
		return errNotConfigured
	}
	list, err := h.cfg.Logins.Logins(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(list))
	return nil
}

// putLogin creates or replaces a login; a user login's account must
// exist.
func (h *Handler) putLogin(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Logins == nil {
		return errNotConfigured
	}
	var req loginPut
	if err := readJSON(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	cur, err := h.cfg.Logins.Login(r.Context(), name)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	l := Login{Name: name, Scope: req.Scope, Account: req.Account, Domain: req.Domain, Hash: cur.Hash, Updated: h.now().UTC()}
	if req.Password != nil {
		if l.Hash, err = HashPassword(*req.Password); err != nil {
			return fieldErr("password", err)
		}
	} else if !exists {
		return fieldErr("password", errors.New("required for a new login"))
	}
	if l.Scope == ScopeAdmin {
		l.Account, l.Domain = "", ""
	}
	if err := l.Validate(); err != nil {
		field := "name"
		switch {
		case (Login{Name: name, Scope: ScopeAdmin, Hash: "x"}).Validate() != nil:
		case l.Scope != ScopeAdmin && l.Scope != ScopeUser:
			field = "scope"
		default:
			field = "account"
		}
		return fieldErr(field, err)
	}
	if l.Scope == ScopeUser && h.cfg.Accounts != nil {
		acct := l.Account
		if l.Domain != "" {
			acct += "@" + l.Domain
		}
		if _, err := h.account(r.Context(), acct); err != nil {
			var fe *sip.FieldError
			if errors.As(err, &fe) {
				return fieldErr("account", fe.Err)
			}
			return fieldErr("account", errors.New("no such SIP account"))
		}
	}
	if err := h.cfg.Logins.PutLogin(r.Context(), l); err != nil {
		return err
	}
	if req.Password != nil || exists {
		h.sessions.endLogin(name) // a changed login logs in again
	}
	h.audit(r, map[bool]string{true: "login.edit", false: "login.create"}[exists], name, "scope="+string(l.Scope)+" account="+l.Account)
	writeJSON(w, map[bool]int{true: http.StatusOK, false: http.StatusCreated}[exists], l)
	return nil
}

func (h *Handler) deleteLogin(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Logins == nil {
		return errNotConfigured
	}
	name := r.PathValue("name")
	if name == principalFrom(r.Context()).Name {
		return fieldErr("name", errors.New("you cannot delete your own login"))
	}
	if err := h.cfg.Logins.DeleteLogin(r.Context(), name); err != nil {
		return err
	}
	h.sessions.endLogin(name)
	h.audit(r, "login.delete", name, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// passwordChange is the body of a login's change of its own password.
type passwordChange struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// changeOwnPassword changes the logged-in login's password, given the
// old one; the other sessions of the login end.
func (h *Handler) changeOwnPassword(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Logins == nil {
		return errNotConfigured
	}
	var req passwordChange
	if err := readJSON(r, &req); err != nil {
		return err
	}
	p := principalFrom(r.Context())
	l, err := h.cfg.Logins.Login(r.Context(), p.Name)
	if err != nil {
		return err
	}
	if bcrypt.CompareHashAndPassword([]byte(l.Hash), []byte(req.Old)) != nil {
		return fieldErr("old", errors.New("wrong password"))
	}
	if l.Hash, err = HashPassword(req.New); err != nil {
		return fieldErr("new", err)
	}
	l.Updated = h.now().UTC()
	if err := h.cfg.Logins.PutLogin(r.Context(), l); err != nil {
		return err
	}
	h.audit(r, "login.password", p.Name, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
