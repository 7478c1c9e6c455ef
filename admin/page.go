package admin

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/provisioning"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
)

// The page: server-rendered templates and a small script, embedded.
//
//go:embed web/templates/*.html
var templateFS embed.FS

//go:embed web/static
var staticFS embed.FS

// pageNames are the page templates; each is layout.html, cdrtable.html and
// rulefields.html plus its own.
var pageNames = []string{"login", "error", "live", "accounts", "account", "aliases", "cdrs", "notice", "route", "dialplan", "rule", "reports", "bans", "devices", "logins", "alerts", "blacklist"}

var funcs = template.FuncMap{
	"join": func(s []string) string { return strings.Join(s, ", ") },
	"inc":  func(i int) int { return i + 1 },
	// expires shows a ban's end.
	"expires": expires,
	// lines names a report's table for the "lines" template.
	"lines": func(name string, l []accounting.Line) any {
		return struct {
			Name  string
			Lines []accounting.Line
		}{name, l}
	},
	// offEmpty shows a setting that is off as an empty field.
	"offEmpty": func(s string) string {
		if s == "off" {
			return ""
		}
		return s
	},
}

// pageData is what every page template gets.
type pageData struct {
	Title, Page string
	P           Principal
	Admin       bool
	CSRF        string
	Notice      Notice
	Data        any
}

// pageRoutes parses the templates and registers the page's routes.
func (h *Handler) pageRoutes() error {
	h.pages = map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "web/templates/layout.html", "web/templates/cdrtable.html", "web/templates/rulefields.html", "web/templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("admin: page %s: %w", name, err)
		}
		h.pages[name] = t
	}
	static, _ := fs.Sub(staticFS, "web/static")
	files := http.StripPrefix("/admin/static/", http.FileServerFS(static))
	m := h.mux
	m.Handle("GET /admin/static/{file...}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	m.HandleFunc("GET /admin/login", h.loginPage)
	m.HandleFunc("GET /admin/{$}", h.pageFor(ScopeUser, h.home))
	m.HandleFunc("GET /admin/accounts", h.pageFor(ScopeAdmin, h.accountsPage))
	m.HandleFunc("GET /admin/accounts/{account}", h.pageFor(ScopeUser, h.accountPage))
	m.HandleFunc("GET /admin/aliases", h.pageFor(ScopeAdmin, h.aliasesPage))
	m.HandleFunc("GET /admin/cdrs", h.pageFor(ScopeAdmin, h.cdrsPage))
	m.HandleFunc("GET /admin/notice", h.pageFor(ScopeAdmin, h.noticePage))
	m.HandleFunc("GET /admin/route", h.pageFor(ScopeAdmin, h.routePage))
	m.HandleFunc("GET /admin/dialplan", h.pageFor(ScopeAdmin, h.dialplanPage))
	m.HandleFunc("GET /admin/reports", h.pageFor(ScopeAdmin, h.reportsPage))
	m.HandleFunc("GET /admin/bans", h.pageFor(ScopeAdmin, h.bansPage))
	m.HandleFunc("GET /admin/devices", h.pageFor(ScopeAdmin, h.devicesPage))
	m.HandleFunc("GET /admin/logins", h.pageFor(ScopeAdmin, h.loginsPage))
	m.HandleFunc("GET /admin/alerts", h.pageFor(ScopeAdmin, h.alertsPage))
	m.HandleFunc("GET /admin/blacklist", h.pageFor(ScopeAdmin, h.blacklistPage))
	m.HandleFunc("GET /admin/dialplan/{id}", h.pageFor(ScopeAdmin, h.rulePage))
	m.HandleFunc("GET /admin/events", h.any(h.events))
	return nil
}

// pageFunc renders a page: its name, title and data, or an error.
type pageFunc func(r *http.Request) (name, title string, data any, err error)

// pageFor serves a page to logins of scope (ScopeUser: any login; the
// account page checks the account itself), answering errors as a page.
func (h *Handler) pageFor(scope Scope, fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principalFrom(r.Context())
		var name, title string
		var data any
		var err error
		if scope == ScopeAdmin && p.Scope != ScopeAdmin {
			err = errForbidden
		} else {
			name, title, data, err = fn(r)
		}
		var to errRedirect
		if errors.As(err, &to) {
			http.Redirect(w, r, string(to), http.StatusSeeOther)
			return
		}
		if err != nil {
			h.errorPage(w, r, err)
			return
		}
		h.render(w, r, http.StatusOK, name, title, data)
	}
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name, title string, data any) {
	p := principalFrom(r.Context())
	n, err := h.store.Notice(r.Context())
	if err != nil {
		h.log.Warn("admin: notice not read", "error", err)
	}
	d := pageData{Title: title, Page: name, P: p, Admin: p.Scope == ScopeAdmin, CSRF: csrfFrom(r.Context()), Notice: n, Data: data}
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		h.log.Error("admin: page not rendered", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// errorPage answers err as a page with the API's status for it.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	rec := httptestRecorder{header: http.Header{}}
	h.writeError(&rec, r, err)
	msg := "Something went wrong."
	switch rec.code {
	case http.StatusForbidden:
		msg = "You may not see this page."
	case http.StatusNotFound:
		msg = "Not found."
	case http.StatusBadRequest:
		msg = "That is not a valid address."
	case http.StatusNotImplemented:
		msg = "This server does not have it."
	}
	h.render(w, r, rec.code, "error", http.StatusText(rec.code), msg)
}

// httptestRecorder keeps the status writeError chose.
type httptestRecorder struct {
	header http.Header
	code   int
}

func (r *httptestRecorder) Header() http.Header         { return r.header }
func (r *httptestRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *httptestRecorder) WriteHeader(code int)        { r.code = code }

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if principalFrom(r.Context()).Scope != "" {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "login", "Log in", nil)
}

// home is the live calls for an administrator; a user goes to their
// account.
func (h *Handler) home(r *http.Request) (string, string, any, error) {
	p := principalFrom(r.Context())
	if p.Scope != ScopeAdmin {
		return "", "", nil, errRedirect("/admin/accounts/" + url.PathEscape(p.Account+"@"+h.domainOf(p)))
	}
	return "live", "Live calls", h.live(), nil
}

// errRedirect is a page's answer that sends the browser elsewhere.
type errRedirect string

func (e errRedirect) Error() string { return "redirect to " + string(e) }

// AccountSummary is a line of the accounts overview (GET /accounts and
// the accounts page): the account (with its owner and note), its
// department (Config.Departments), the names it is found by, and its
// latest registration (the contact and when it was last updated).
type AccountSummary struct {
	Account
	Department string `json:"department,omitempty"`
	// Names are the names of its phones and of the logins that own it.
	Names   []string  `json:"names,omitempty"`
	Contact string    `json:"contact,omitempty"`
	Updated time.Time `json:"updated,omitzero"`
}

// accountsPage lists the accounts with their department and latest
// registration; ?q= finds an account as GET /accounts does.
func (h *Handler) accountsPage(r *http.Request) (string, string, any, error) {
	out, err := h.accountSummaries(r.Context(), r.URL.Query().Get("q"))
	if err != nil {
		return "", "", nil, err
	}
	return "accounts", "Accounts", map[string]any{"Q": r.URL.Query().Get("q"), "Accounts": out}, nil
}

// accountSummaries returns the accounts whose number, department or a
// name (its owner's, one of its phones' in provisioning, or a login's
// that owns it) contains q (any case; every account when q is empty).
func (h *Handler) accountSummaries(ctx context.Context, q string) ([]AccountSummary, error) {
	st, err := h.accounts()
	if err != nil {
		return nil, err
	}
	list, err := st.ListSubscribers(ctx)
	if err != nil {
		return nil, err
	}
	// What each account is found by and shown with, read once.
	depts := map[string]string{}
	if h.cfg.Departments != nil {
		if ds, err := h.cfg.Departments.Departments(ctx); err == nil {
			for _, d := range ds {
				depts[strings.ToLower(d.AOR())] = d.Department
			}
		}
	}
	names := map[string][]string{} // by user@domain, lower case
	if h.cfg.Logins != nil {
		if ls, err := h.cfg.Logins.Logins(ctx); err == nil {
			for _, l := range ls {
				if l.Account != "" {
					k := strings.ToLower(l.Account + "@" + cmp.Or(l.Domain, h.cfg.Domain))
					names[k] = append(names[k], l.Name)
				}
			}
		}
	}
	infos := map[string]AccountInfo{} // by user@domain, lower case
	if h.cfg.AccountInfo != nil {
		list, err := h.cfg.AccountInfo.AccountInfos(ctx)
		if err != nil {
			return nil, err
		}
		for _, i := range list {
			infos[strings.ToLower(i.Username+"@"+i.Domain)] = i
		}
	}
	var devices []provisioning.Device
	if h.cfg.Devices != nil {
		devices, _ = h.cfg.Devices.Devices(ctx)
	}
	latest := h.latestBindings(ctx)
	q = strings.ToLower(strings.TrimSpace(q))
	out := []AccountSummary{}
	for _, s := range list {
		aor := strings.ToLower(s.Username + "@" + s.Domain)
		row := AccountSummary{Account: accountOf(s), Department: depts[aor], Names: slices.Clone(names[aor])}
		row.Owner, row.Note = infos[aor].Owner, infos[aor].Note
		for _, d := range devices {
			if d.Name != "" && ownsDevice(d, s) {
				row.Names = append(row.Names, d.Name)
			}
		}
		if b, ok := latest[aor]; ok {
			row.Contact, row.Updated = b.Contact, b.Updated
		} else if b, ok := latest[strings.ToLower(s.Username)]; ok {
			row.Contact, row.Updated = b.Contact, b.Updated
		} else if h.cfg.Locations != nil && latest == nil {
			// No List: one lookup per account.
			for _, a := range []string{s.Username, s.Username + "@" + s.Domain} {
				bs, _ := h.cfg.Locations.Lookup(ctx, a)
				if b, ok := newest(bs, h.now()); ok {
					row.Contact, row.Updated = b.Contact, b.Updated
					break
				}
			}
		}
		hay := strings.ToLower(strings.Join(append([]string{s.Username, row.Department, row.Owner}, row.Names...), "\x00"))
		if q == "" || strings.Contains(hay, q) {
			out = append(out, row)
		}
	}
	return out, nil
}

// bindingLister is a location service that lists every binding
// (registrar.Store has it): the accounts overview reads it once.
type bindingLister interface {
	List(ctx context.Context) ([]registrar.Binding, error)
}

// latestBindings returns the newest binding of each AOR (lower case), or
// nil when the location service cannot list them.
func (h *Handler) latestBindings(ctx context.Context) map[string]registrar.Binding {
	l, ok := h.cfg.Locations.(bindingLister)
	if !ok {
		return nil
	}
	bs, err := l.List(ctx)
	if err != nil {
		h.log.Warn("admin: cannot list the registrations", "error", err)
		return nil
	}
	by := map[string][]registrar.Binding{}
	for _, b := range bs {
		k := strings.ToLower(b.AOR)
		by[k] = append(by[k], b)
	}
	out := make(map[string]registrar.Binding, len(by))
	for k, bs := range by {
		if b, ok := newest(bs, h.now()); ok {
			out[k] = b
		}
	}
	return out
}

// newest is the binding in force at now updated last; false when none
// is (expired ones stay in the store until its sweep).
func newest(bs []registrar.Binding, now time.Time) (registrar.Binding, bool) {
	var n registrar.Binding
	found := false
	for _, b := range bs {
		if !b.Expires.IsZero() && !b.Expires.After(now) {
			continue
		}
		if !found || b.Updated.After(n.Updated) {
			n, found = b, true
		}
	}
	return n, found
}

// accountData is the account page's.
type accountData struct {
	Account Account
	// HasInfo is true when the owner and note can be set.
	HasInfo   bool
	Features  map[string]string
	Contacts  []Contact
	Devices   []Device
	CDRs      []accounting.CDR
	Blacklist []ListEntry
	// Costs is the report of the account's calls this month; nil
	// without call records.
	Costs *accounting.Report
}

func (h *Handler) accountPage(r *http.Request) (string, string, any, error) {
	p := principalFrom(r.Context())
	sub, err := h.account(r.Context(), r.PathValue("account"))
	var fe *sip.FieldError
	if p.Scope != ScopeAdmin && (errors.As(err, &fe) || errors.Is(err, registrar.ErrNotFound) ||
		err == nil && (sub.Username != p.Account || !strings.EqualFold(sub.Domain, h.domainOf(p)))) {
		return "", "", nil, errForbidden // a user learns nothing of other accounts
	}
	if err != nil {
		return "", "", nil, err
	}
	ctx := r.Context()
	a, err := h.withInfo(ctx, accountOf(sub))
	if err != nil {
		return "", "", nil, err
	}
	d := accountData{Account: a, Features: featureMap(featuresOrEmpty(h, r, sub)), HasInfo: h.cfg.AccountInfo != nil}
	if h.cfg.Locations != nil {
		for _, aor := range []string{sub.Username, sub.Username + "@" + sub.Domain} {
			bs, err := h.cfg.Locations.Lookup(ctx, aor)
			if err != nil || len(bs) == 0 {
				continue
			}
			for _, b := range bs {
				d.Contacts = append(d.Contacts, Contact{b.Contact, b.Received, b.Transport, b.UserAgent, b.Expires, b.Updated})
			}
			break
		}
	}
	if h.cfg.Devices != nil {
		if list, err := h.cfg.Devices.Devices(ctx); err == nil {
			for _, dev := range list {
				if ownsDevice(dev, sub) {
					d.Devices = append(d.Devices, deviceOf(dev))
				}
			}
		}
	}
	if h.cfg.Features != nil {
		list, err := h.ownEntries(r, sub.Username, sub.Domain)
		if err != nil {
			return "", "", nil, err
		}
		for _, e := range list {
			d.Blacklist = append(d.Blacklist, entryOf(e))
		}
	}
	if h.cfg.CDRs != nil {
		now := h.now()
		from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location())
		rep, err := h.report(ctx, accounting.ReportOptions{From: from, To: now, User: sub.Username})
		if err != nil {
			return "", "", nil, err
		}
		d.Costs = &rep
	}
	if h.cfg.CDRs != nil {
		f := accounting.Filter{User: sub.Username, From: h.now().AddDate(0, -1, 0)}
		_ = h.cfg.CDRs.CDRs(ctx, f, func(c accounting.CDR) error {
			d.CDRs = append(d.CDRs, c)
			if len(d.CDRs) > 200 {
				d.CDRs = d.CDRs[1:]
			}
			return nil
		})
	}
	return "account", "Account " + sub.Username, d, nil
}

func featuresOrEmpty(h *Handler, r *http.Request, sub registrar.Subscriber) features.Settings {
	if h.cfg.Features == nil {
		return features.Settings{}
	}
	s, err := h.settingsOf(r.Context(), sub.Username, sub.Domain)
	if err != nil {
		h.log.Warn("admin: features not read", "error", err)
	}
	return s
}

func (h *Handler) aliasesPage(r *http.Request) (string, string, any, error) {
	if h.cfg.Aliases == nil {
		return "", "", nil, errNotConfigured
	}
	list, err := h.cfg.Aliases.Aliases(r.Context())
	if err != nil {
		return "", "", nil, err
	}
	var out []Alias
	for _, a := range list {
		out = append(out, Alias{a.AliasUsername + "@" + a.AliasDomain, a.Username + "@" + a.Domain})
	}
	return "aliases", "Aliases", out, nil
}

func (h *Handler) cdrsPage(r *http.Request) (string, string, any, error) {
	if h.cfg.CDRs == nil {
		return "", "", nil, errNotConfigured
	}
	q := r.URL.Query()
	f, err := h.cdrFilter(r)
	if err != nil {
		return "", "", nil, err
	}
	f.Limit = 500
	var cdrs []accounting.CDR
	if err := h.cfg.CDRs.CDRs(r.Context(), f, func(c accounting.CDR) error { cdrs = append(cdrs, c); return nil }); err != nil {
		return "", "", nil, err
	}
	from := q.Get("from")
	if from == "" {
		from = f.From.Format(time.DateOnly)
	}
	return "cdrs", "Call log", map[string]any{"From": from, "To": q.Get("to"), "User": q.Get("user"), "Query": q.Encode(), "CDRs": cdrs}, nil
}

func (h *Handler) noticePage(r *http.Request) (string, string, any, error) {
	n, err := h.store.Notice(r.Context())
	return "notice", "Notice", n, err
}
