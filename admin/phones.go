package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/palio-voip/palio/provisioning"
	"github.com/palio-voip/palio/registrar"
)

// Locations is the registrar's location service, read: the contacts an
// account's phones registered (registrar.Store has it).
type Locations interface {
	// Lookup returns the bindings of aor, or an error wrapping
	// registrar.ErrNotFound when it has none.
	Lookup(ctx context.Context, aor string) ([]registrar.Binding, error)
}

// Devices is the provisioning's device store, read (provisioning.Store
// has it).
type Devices interface {
	Devices(ctx context.Context) ([]provisioning.Device, error)
}

// Contact is a registered contact as the API shows it.
type Contact struct {
	Contact   string    `json:"contact"`
	Received  string    `json:"received,omitempty"`
	Transport string    `json:"transport"`
	UserAgent string    `json:"user_agent"`
	Expires   time.Time `json:"expires,omitzero"`
	Updated   time.Time `json:"updated,omitzero"`
}

// contacts lists an account's registered contacts. The AOR is the user
// ("5002"), or user@domain when the registrar keeps domains.
func (h *Handler) contacts(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Locations == nil {
		return errNotConfigured
	}
	sub, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	out := []Contact{}
	for _, aor := range []string{sub.Username, sub.Username + "@" + sub.Domain} {
		bs, err := h.cfg.Locations.Lookup(r.Context(), aor)
		if errors.Is(err, registrar.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		for _, b := range bs {
			out = append(out, Contact{b.Contact, b.Received, b.Transport, b.UserAgent, b.Expires, b.Updated})
		}
		if len(out) > 0 {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Device is a provisioned phone as the API shows it: never its lines'
// passwords nor its secret.
type Device struct {
	MAC       string    `json:"mac"`
	Model     string    `json:"model"`
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	Lines     []string  `json:"lines"`
	LastFetch time.Time `json:"last_fetch,omitzero"`
	LastIP    string    `json:"last_ip,omitempty"`
}

func deviceOf(d provisioning.Device) Device {
	out := Device{MAC: d.MAC.String(), Model: d.Model, Name: d.Name, Owner: d.Owner, Lines: []string{}, LastFetch: d.LastFetch, LastIP: d.LastIP}
	for _, l := range d.Lines {
		out.Lines = append(out.Lines, l.User)
	}
	return out
}

func (h *Handler) listDevices(w http.ResponseWriter, r *http.Request) error {
	return h.devices(w, r, func(provisioning.Device) bool { return true })
}

// accountDevices lists the phones an account owns or has a line on.
func (h *Handler) accountDevices(w http.ResponseWriter, r *http.Request) error {
	sub, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	return h.devices(w, r, func(d provisioning.Device) bool { return ownsDevice(d, sub) })
}

// ownsDevice reports whether sub owns d or has a line on it.
func ownsDevice(d provisioning.Device, sub registrar.Subscriber) bool {
	if d.Owner == sub.Username {
		return true
	}
	for _, l := range d.Lines {
		if l.User == sub.Username && (l.Domain == "" || strings.EqualFold(l.Domain, sub.Domain)) {
			return true
		}
	}
	return false
}

func (h *Handler) devices(w http.ResponseWriter, r *http.Request, keep func(provisioning.Device) bool) error {
	if h.cfg.Devices == nil {
		return errNotConfigured
	}
	list, err := h.cfg.Devices.Devices(r.Context())
	if err != nil {
		return err
	}
	out := []Device{}
	for _, d := range list {
		if keep(d) {
			out = append(out, deviceOf(d))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// UnknownDevices is the provisioning's record of the phones that asked
// for a configuration no device has (provisioning.Store has it): the
// phones to assign. When Config.Devices has it too, the API and the
// devices page list them.
type UnknownDevices interface {
	UnknownDevices(ctx context.Context) ([]provisioning.UnknownDevice, error)
}

// UnknownDevice is an unknown phone as the API shows it.
type UnknownDevice struct {
	MAC       string    `json:"mac"`
	Model     string    `json:"model,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int       `json:"count"`
}

// unknownDevices returns the unknown phones, or errNotConfigured.
func (h *Handler) unknownDevices(ctx context.Context) ([]UnknownDevice, error) {
	u, ok := h.cfg.Devices.(UnknownDevices)
	if !ok {
		return nil, errNotConfigured
	}
	list, err := u.UnknownDevices(ctx)
	if err != nil {
		return nil, err
	}
	out := []UnknownDevice{}
	for _, d := range list {
		out = append(out, UnknownDevice{MAC: d.MAC.String(), Model: d.Model, IP: d.IP, UserAgent: d.UserAgent, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen, Count: d.Count})
	}
	return out, nil
}

func (h *Handler) listUnknownDevices(w http.ResponseWriter, r *http.Request) error {
	out, err := h.unknownDevices(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
