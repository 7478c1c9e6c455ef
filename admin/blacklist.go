package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/palio-voip/palio/features"
)

// ListEntry is a row of an account's blacklist (OpenSIPS's
// userblacklist) as the API shows it.
type ListEntry struct {
	ID     int    `json:"id"`
	Prefix string `json:"prefix"`
	// Allow lets the numbers through (a whitelist row): an emergency
	// number in a blocked range.
	Allow bool `json:"allow"`
}

// blacklistRequest is the body of a new row.
type blacklistRequest struct {
	Prefix string `json:"prefix"`
	Allow  bool   `json:"allow"`
}

// ownEntries returns the rows of sub's list.
func (h *Handler) ownEntries(r *http.Request, user, domain string) ([]features.ListEntry, error) {
	all, err := h.cfg.Features.ListEntries(r.Context())
	if err != nil {
		return nil, err
	}
	var out []features.ListEntry
	for _, e := range all {
		if !e.Global() && e.User == user && (e.Domain == "" || strings.EqualFold(e.Domain, domain)) {
			out = append(out, e)
		}
	}
	return out, nil
}

func entryOf(e features.ListEntry) ListEntry {
	return ListEntry{ID: e.ID, Prefix: e.Prefix, Allow: e.Whitelist}
}

// listBlacklist is an account's blacklist: the numbers (by prefix) its
// calls may not go to, as `unisi blacklist list USER` shows it.
func (h *Handler) listBlacklist(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Features == nil {
		return errNotConfigured
	}
	sub, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	list, err := h.ownEntries(r, sub.Username, sub.Domain)
	if err != nil {
		return err
	}
	out := []ListEntry{}
	for _, e := range list {
		out = append(out, entryOf(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// addBlacklist adds a row to an account's blacklist, checked as `unisi
// blacklist add USER PREFIX` checks it (features.ListEntry.Validate).
func (h *Handler) addBlacklist(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Features == nil {
		return errNotConfigured
	}
	var req blacklistRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	sub, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	e := features.ListEntry{User: sub.Username, Domain: sub.Domain, Prefix: strings.TrimSpace(req.Prefix), Whitelist: req.Allow}
	if err := e.Validate(); err != nil {
		return fieldErr("prefix", err)
	}
	prefix := e.Prefix
	e, err = h.cfg.Features.AddListEntry(r.Context(), e)
	if errors.Is(err, features.ErrExists) {
		return fmt.Errorf("admin: %s is already in the list: %w", prefix, errConflict)
	}
	if err != nil {
		return err
	}
	h.audit(r, "blacklist.add", sub.Username+"@"+sub.Domain, fmt.Sprintf("prefix=%s allow=%v", e.Prefix, e.Whitelist))
	writeJSON(w, http.StatusCreated, entryOf(e))
	return nil
}

// deleteBlacklist removes a row of the account's own list: a row of
// another list is not found.
func (h *Handler) deleteBlacklist(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Features == nil {
		return errNotConfigured
	}
	sub, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		return fieldErr("id", errors.New("want a number from 1"))
	}
	list, err := h.ownEntries(r, sub.Username, sub.Domain)
	if err != nil {
		return err
	}
	for _, e := range list {
		if e.ID == id {
			if err := h.cfg.Features.DeleteListEntry(r.Context(), id, false); err != nil {
				return err
			}
			h.audit(r, "blacklist.delete", sub.Username+"@"+sub.Domain, "prefix="+e.Prefix)
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	return fmt.Errorf("admin: %s's blacklist row %d: %w", sub.Username, id, features.ErrNotFound)
}

// GlobalEntry is a row of the global blacklist (OpenSIPS's
// globalblacklist) as the API shows it: it applies to every account's
// calls (features.Config.GlobalList says which direction).
type GlobalEntry struct {
	ID     int    `json:"id"`
	Prefix string `json:"prefix"`
	// Allow lets the numbers through (a whitelist row: 112 in a list
	// that blocks a range).
	Allow       bool   `json:"allow"`
	Description string `json:"description"`
}

// globalRequest is the body of a new global row.
type globalRequest struct {
	Prefix      string `json:"prefix"`
	Allow       bool   `json:"allow"`
	Description string `json:"description"`
}

func globalOf(e features.ListEntry) GlobalEntry {
	return GlobalEntry{ID: e.ID, Prefix: e.Prefix, Allow: e.Whitelist, Description: e.Description}
}

// globalEntries returns the global list's rows.
func (h *Handler) globalEntries(r *http.Request) ([]GlobalEntry, error) {
	if h.cfg.Features == nil {
		return nil, errNotConfigured
	}
	all, err := h.cfg.Features.ListEntries(r.Context())
	if err != nil {
		return nil, err
	}
	out := []GlobalEntry{}
	for _, e := range all {
		if e.Global() {
			out = append(out, globalOf(e))
		}
	}
	return out, nil
}

// listGlobal is the global blacklist, as `unisi blacklist list global`
// shows it.
func (h *Handler) listGlobal(w http.ResponseWriter, r *http.Request) error {
	out, err := h.globalEntries(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// addGlobal adds a row to the global blacklist, checked by
// features.ListEntry.Validate (whose FieldError names the field), as
// `unisi blacklist add global PREFIX` checks it.
func (h *Handler) addGlobal(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Features == nil {
		return errNotConfigured
	}
	var req globalRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	e := features.ListEntry{Prefix: strings.TrimSpace(req.Prefix), Whitelist: req.Allow, Description: strings.TrimSpace(req.Description)}
	if err := e.Validate(); err != nil {
		return err // a *sip.FieldError naming prefix or description
	}
	prefix := e.Prefix
	e, err := h.cfg.Features.AddListEntry(r.Context(), e)
	if errors.Is(err, features.ErrExists) {
		return fmt.Errorf("admin: %s is already in the global list: %w", prefix, errConflict)
	}
	if err != nil {
		return err
	}
	h.audit(r, "blacklist.add", "global", fmt.Sprintf("prefix=%s allow=%v", e.Prefix, e.Whitelist))
	writeJSON(w, http.StatusCreated, globalOf(e))
	return nil
}

// deleteGlobal removes a row of the global list: a row of an account's
// list is not found.
func (h *Handler) deleteGlobal(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		return fieldErr("id", errors.New("want a number from 1"))
	}
	list, err := h.globalEntries(r)
	if err != nil {
		return err
	}
	for _, e := range list {
		if e.ID == id {
			if err := h.cfg.Features.DeleteListEntry(r.Context(), id, true); err != nil {
				return err
			}
			h.audit(r, "blacklist.delete", "global", "prefix="+e.Prefix)
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	return fmt.Errorf("admin: global blacklist row %d: %w", id, features.ErrNotFound)
}

// blacklistPage lists the global blacklist with the form to add a row
// and a delete button on each.
func (h *Handler) blacklistPage(r *http.Request) (string, string, any, error) {
	list, err := h.globalEntries(r)
	if err != nil {
		return "", "", nil, err
	}
	return "blacklist", "Global blacklist", map[string]any{"Entries": list}, nil
}

// listUpdater edits a blacklist row in place (features.Store has it).
type listUpdater interface {
	UpdateListEntry(ctx context.Context, e features.ListEntry) error
}

// globalEdit is the body of a global row's change: the fields given are
// changed.
type globalEdit struct {
	Prefix      *string `json:"prefix"`
	Allow       *bool   `json:"allow"`
	Description *string `json:"description"`
}

// editGlobal changes a row of the global list (its ID stays), checked by
// features.ListEntry.Validate as a new row is.
func (h *Handler) editGlobal(w http.ResponseWriter, r *http.Request) error {
	up, ok := h.cfg.Features.(listUpdater)
	if !ok {
		return errNotConfigured
	}
	var req globalEdit
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Prefix == nil && req.Allow == nil && req.Description == nil {
		return fieldErr("body", errors.New("nothing to change: give prefix, allow or description"))
	}
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		return fieldErr("id", errors.New("want a number from 1"))
	}
	list, err := h.globalEntries(r)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(list, func(g GlobalEntry) bool { return g.ID == id })
	if i < 0 {
		return fmt.Errorf("admin: global blacklist row %d: %w", id, features.ErrNotFound)
	}
	cur := list[i]
	e := features.ListEntry{ID: id, Prefix: cur.Prefix, Whitelist: cur.Allow, Description: cur.Description}
	if req.Prefix != nil {
		e.Prefix = strings.TrimSpace(*req.Prefix)
	}
	if req.Allow != nil {
		e.Whitelist = *req.Allow
	}
	if req.Description != nil {
		e.Description = strings.TrimSpace(*req.Description)
	}
	if err := e.Validate(); err != nil {
		return err // a *sip.FieldError naming prefix or description
	}
	err = up.UpdateListEntry(r.Context(), e)
	if errors.Is(err, features.ErrExists) {
		return fmt.Errorf("admin: %s is already in the global list: %w", e.Prefix, errConflict)
	}
	if err != nil {
		return err
	}
	h.audit(r, "blacklist.edit", "global", fmt.Sprintf("id=%d prefix=%s allow=%v (was %s allow=%v)", id, e.Prefix, e.Whitelist, cur.Prefix, cur.Allow))
	writeJSON(w, http.StatusOK, globalOf(e))
	return nil
}
