package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/palio-voip/palio/provisioning"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
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

// DeviceWriter is the provisioning's device store, written (provisioning.Store
// has it): when Config.Devices has it too, an unknown phone can be
// assigned from the API and the devices page.
type DeviceWriter interface {
	// Device returns the device with MAC mac, or provisioning.ErrNotFound.
	Device(ctx context.Context, mac provisioning.MAC) (provisioning.Device, error)
	// PutDevice stores d; a MAC recorded as unknown is no longer one.
	PutDevice(ctx context.Context, d provisioning.Device) error
}

// AssignRequest is the body of an unknown phone's assignment: what
// `unisi device add MAC MODEL -lines LIST -name NAME` is given.
type AssignRequest struct {
	// Model defaults to the model the phone's request named.
	Model string   `json:"model"`
	Name  string   `json:"name"`
	Owner string   `json:"owner"`
	Lines []string `json:"lines"`
}

// assignDevice creates the device of an unknown phone ({mac}) with its
// model, name, owner and lines: checked by provisioning.Device.Validate
// (each part on its own, so that a refusal names its field) and, for each
// line, against the accounts, as `unisi device add` checks them. The
// phone is then no longer unknown. The lines carry no password: the
// phone gets the account's own (an account keeping only digests needs
// `unisi device add -replace -password`).
func (h *Handler) assignDevice(w http.ResponseWriter, r *http.Request) error {
	st, ok := h.cfg.Devices.(DeviceWriter)
	if !ok {
		return errNotConfigured
	}
	var req AssignRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	mac, err := provisioning.ParseMAC(r.PathValue("mac"))
	if err != nil {
		return fieldErr("mac", err)
	}
	unknown, err := h.unknownDevices(r.Context())
	if err != nil {
		return err
	}
	i := slices.IndexFunc(unknown, func(u UnknownDevice) bool { return u.MAC == mac.String() })
	if i < 0 {
		if _, err := st.Device(r.Context(), mac); err == nil {
			return fmt.Errorf("admin: device %s: %w", mac, errConflict)
		}
		return fmt.Errorf("admin: unknown phone %s: %w", mac, provisioning.ErrNotFound)
	}
	if _, err := st.Device(r.Context(), mac); err == nil {
		return fmt.Errorf("admin: device %s: %w", mac, errConflict)
	} else if !errors.Is(err, provisioning.ErrNotFound) {
		return err
	}
	if req.Model = strings.TrimSpace(req.Model); req.Model == "" {
		req.Model = unknown[i].Model
	}
	model, err := provisioning.ParseModel(req.Model)
	if err != nil {
		return fieldErr("model", trimLib(err))
	}
	d := provisioning.Device{MAC: mac, Model: model.Name, Name: strings.TrimSpace(req.Name), Owner: strings.TrimSpace(req.Owner)}
	if err := d.Validate(); err != nil { // name and owner, before the lines are looked up
		return libFieldErr(err)
	}
	if d.Lines, err = h.deviceLines(r.Context(), req.Lines, d.Name, nil); err != nil {
		return err
	}
	if err := d.Validate(); err != nil {
		return libFieldErr(err)
	}
	if err := st.PutDevice(r.Context(), d); err != nil {
		return err
	}
	h.audit(r, "device.assign", mac.String(), fmt.Sprintf("model=%s lines=%s name=%q owner=%q", d.Model, strings.Join(deviceOf(d).Lines, ","), d.Name, d.Owner))
	writeJSON(w, http.StatusCreated, deviceOf(d))
	return nil
}

// trimLib drops a library's "provisioning: " prefix from err's text.
func trimLib(err error) error {
	return errors.New(strings.TrimPrefix(err.Error(), "provisioning: "))
}

// libFieldErr is provisioning's refusal err for the API: the field it
// names, its text without the package's prefix.
func libFieldErr(err error) error {
	field, ok := sip.FieldOf(err)
	if !ok {
		return err
	}
	return fieldErr(field, trimLib(err))
}

// deviceLines checks each account named (USER or USER@DOMAIN) as `unisi
// device add` does and returns the device's lines, the first shown as
// name. A line whose account was one of old's keeps old's password and
// display name.
func (h *Handler) deviceLines(ctx context.Context, names []string, name string, old []provisioning.Line) ([]provisioning.Line, error) {
	var out []provisioning.Line
	for n, acc := range names {
		sub, err := h.account(ctx, strings.TrimSpace(acc))
		if errors.Is(err, registrar.ErrNotFound) {
			return nil, fieldErr("lines", fmt.Errorf("line %d: no account %s", n+1, acc))
		}
		var fe *sip.FieldError
		if errors.As(err, &fe) {
			return nil, fieldErr("lines", fmt.Errorf("line %d: %w", n+1, fe.Err))
		}
		if err != nil {
			return nil, err
		}
		l := provisioning.Line{User: sub.Username}
		if !strings.EqualFold(sub.Domain, h.cfg.Domain) {
			l.Domain = sub.Domain
		}
		if n == 0 {
			l.DisplayName = name
		}
		for _, o := range old {
			if o.User == l.User && strings.EqualFold(o.Domain, l.Domain) {
				l.Password = o.Password
				if n == 0 && o.DisplayName != "" {
					l.DisplayName = o.DisplayName
				}
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// DeviceDeleter and DeviceResyncer are the rest of the provisioning's
// device store (provisioning.Store has them): when Config.Devices has
// them too, DELETE /devices/{mac} and POST /devices/{mac}/resync work.
type (
	DeviceDeleter interface {
		// DeleteDevice removes the device, or returns
		// provisioning.ErrNotFound.
		DeleteDevice(ctx context.Context, mac provisioning.MAC) error
	}
	DeviceResyncer interface {
		// RequestResync queues a NOTIFY to the device's registered
		// phone, which the running server sends within its store poll.
		RequestResync(ctx context.Context, mac provisioning.MAC) error
	}
)

// DeviceEdit is the body of a device's change (PATCH /devices/{mac}):
// the fields given, as `unisi device add -replace` would set them. Its
// lines' passwords, keys, settings and secret stay as they are (a line
// kept keeps its password).
type DeviceEdit struct {
	Model *string   `json:"model"`
	Name  *string   `json:"name"`
	Owner *string   `json:"owner"`
	Lines *[]string `json:"lines"`
}

// deviceMAC reads the {mac} of the request's path.
func deviceMAC(r *http.Request) (provisioning.MAC, error) {
	mac, err := provisioning.ParseMAC(r.PathValue("mac"))
	if err != nil {
		return mac, fieldErr("mac", trimLib(err))
	}
	return mac, nil
}

// editDevice changes a device's model, name, owner or lines, each
// checked as the assignment checks them (provisioning.Device.Validate
// and the accounts), and answers the device.
func (h *Handler) editDevice(w http.ResponseWriter, r *http.Request) error {
	st, ok := h.cfg.Devices.(DeviceWriter)
	if !ok {
		return errNotConfigured
	}
	var req DeviceEdit
	if err := readJSON(r, &req); err != nil {
		return err
	}
	mac, err := deviceMAC(r)
	if err != nil {
		return err
	}
	if req.Model == nil && req.Name == nil && req.Owner == nil && req.Lines == nil {
		return fieldErr("body", errors.New("nothing to change: give model, name, owner or lines"))
	}
	cur, err := st.Device(r.Context(), mac)
	if err != nil {
		return fmt.Errorf("admin: device %s: %w", mac, err)
	}
	d := cur.Clone()
	var changed []string
	if req.Model != nil {
		model, err := provisioning.ParseModel(strings.TrimSpace(*req.Model))
		if err != nil {
			return fieldErr("model", trimLib(err))
		}
		d.Model = model.Name
		changed = append(changed, "model="+d.Model)
	}
	if req.Name != nil {
		d.Name = strings.TrimSpace(*req.Name)
		if len(d.Lines) > 0 && d.Lines[0].DisplayName == cur.Name {
			d.Lines[0].DisplayName = d.Name // the first line showed the name
		}
		changed = append(changed, fmt.Sprintf("name=%q", d.Name))
	}
	if req.Owner != nil {
		d.Owner = strings.TrimSpace(*req.Owner)
		changed = append(changed, fmt.Sprintf("owner=%q", d.Owner))
	}
	lines := d.Lines
	d.Lines = nil
	if err := d.Validate(); err != nil { // model, name and owner, before the lines are looked up
		return libFieldErr(err)
	}
	d.Lines = lines
	if req.Lines != nil {
		if d.Lines, err = h.deviceLines(r.Context(), *req.Lines, d.Name, lines); err != nil {
			return err
		}
		changed = append(changed, "lines="+strings.Join(deviceOf(d).Lines, ","))
	}
	if err := d.Validate(); err != nil {
		return libFieldErr(err)
	}
	if err := st.PutDevice(r.Context(), d); err != nil {
		return err
	}
	h.audit(r, "device.edit", mac.String(), strings.Join(changed, " "))
	writeJSON(w, http.StatusOK, deviceOf(d))
	return nil
}

// deleteDevice removes a device, as `unisi device del` does: its next
// fetch gets 404 and it is listed as unknown.
func (h *Handler) deleteDevice(w http.ResponseWriter, r *http.Request) error {
	st, ok := h.cfg.Devices.(DeviceDeleter)
	if !ok {
		return errNotConfigured
	}
	mac, err := deviceMAC(r)
	if err != nil {
		return err
	}
	if err := st.DeleteDevice(r.Context(), mac); err != nil {
		return fmt.Errorf("admin: device %s: %w", mac, err)
	}
	h.audit(r, "device.delete", mac.String(), "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Resync is the answer to a resync request: the NOTIFY event the phone
// will be sent.
type Resync struct {
	MAC   string `json:"mac"`
	Event string `json:"event"`
}

// resyncDevice asks for a phone's resync, as `unisi device resync` does:
// the request waits in the store until the running server sends the
// phone's registered contact the vendor's NOTIFY (202).
func (h *Handler) resyncDevice(w http.ResponseWriter, r *http.Request) error {
	st, ok := h.cfg.Devices.(DeviceResyncer)
	if !ok {
		return errNotConfigured
	}
	mac, err := deviceMAC(r)
	if err != nil {
		return err
	}
	var event string
	if dw, ok := h.cfg.Devices.(DeviceWriter); ok {
		d, err := dw.Device(r.Context(), mac)
		if err != nil {
			return fmt.Errorf("admin: device %s: %w", mac, err)
		}
		m, _ := provisioning.ParseModel(d.Model)
		event = provisioning.ResyncEvent(m.Family)
	}
	if err := st.RequestResync(r.Context(), mac); err != nil {
		return fmt.Errorf("admin: device %s: %w", mac, err)
	}
	h.audit(r, "device.resync", mac.String(), "")
	writeJSON(w, http.StatusAccepted, Resync{MAC: mac.String(), Event: event})
	return nil
}
