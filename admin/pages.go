package admin

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/palio-voip/palio/guard"
)

// The pages over data the API already serves: the guard's bans and fraud
// blocks, the provisioned phones, the logins.

// bansPage lists the guard's bans and fraud blocks, and this node's
// flood blocks, by kind and subject (?kind=, ?q=), each stored one with
// its lift button.
func (h *Handler) bansPage(r *http.Request) (string, string, any, error) {
	if h.cfg.Bans == nil {
		return "", "", nil, errNotConfigured
	}
	list, err := h.bansInForce(r.Context())
	if err != nil {
		return "", "", nil, err
	}
	q := r.URL.Query()
	kind, search := q.Get("kind"), strings.ToLower(strings.TrimSpace(q.Get("q")))
	now := h.now()
	out := []Ban{}
	for _, b := range list {
		if kind != "" && string(b.Kind) != kind {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(b.Subject+"\x00"+b.Reason), search) {
			continue
		}
		if !b.Until.IsZero() && !b.Until.After(now) {
			continue // expired: the guard no longer applies it
		}
		out = append(out, Ban{string(b.Kind), b.Subject, b.Reason, b.Created, b.Until})
	}
	kinds := []string{string(guard.BanIP), string(guard.BanUser), string(guard.BanFraud), string(guard.BanFlood)}
	return "bans", "Bans and fraud blocks", map[string]any{"Kind": kind, "Kinds": kinds, "Q": q.Get("q"), "Bans": out}, nil
}

// devicesPage lists the provisioned phones; ?q= searches MAC, model,
// name, owner and lines.
func (h *Handler) devicesPage(r *http.Request) (string, string, any, error) {
	if h.cfg.Devices == nil {
		return "", "", nil, errNotConfigured
	}
	list, err := h.cfg.Devices.Devices(r.Context())
	if err != nil {
		return "", "", nil, err
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	// A MAC is searched as typed or without separators.
	norm := strings.NewReplacer(":", "", "-", "", ".", "")
	search := strings.ToLower(q)
	out := []Device{}
	for _, d := range list {
		dev := deviceOf(d)
		hay := strings.ToLower(strings.Join(append([]string{dev.MAC, norm.Replace(dev.MAC), dev.Model, dev.Name, dev.Owner}, dev.Lines...), "\x00"))
		if search != "" && !strings.Contains(hay, search) && !strings.Contains(hay, norm.Replace(search)) {
			continue
		}
		out = append(out, dev)
	}
	unknown, err := h.unknownDevices(r.Context())
	if err != nil && !errors.Is(err, errNotConfigured) {
		return "", "", nil, err
	}
	return "devices", "Devices", map[string]any{"Q": q, "Devices": out, "Domain": h.cfg.Domain, "Unknown": unknown, "HasUnknown": err == nil, "CanAssign": canAssign(h.cfg.Devices), "CanDelete": canDelete(h.cfg.Devices), "CanResync": canResync(h.cfg.Devices)}, nil
}

// canAssign reports whether the device store takes new devices.
func canAssign(d Devices) bool {
	_, ok := d.(DeviceWriter)
	return ok
}

// canDelete and canResync report whether the device store deletes
// devices and queues resyncs.
func canDelete(d Devices) bool { _, ok := d.(DeviceDeleter); return ok }
func canResync(d Devices) bool { _, ok := d.(DeviceResyncer); return ok }

// loginsPage lists the page's logins with the forms to add or change one.
func (h *Handler) loginsPage(r *http.Request) (string, string, any, error) {
	if h.cfg.Logins == nil {
		return "", "", nil, errNotConfigured
	}
	list, err := h.cfg.Logins.Logins(r.Context())
	if err != nil {
		return "", "", nil, err
	}
	return "logins", "Logins", map[string]any{"Logins": list, "Self": principalFrom(r.Context()).Name}, nil
}

// expires formats a ban's end.
func expires(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
