package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/palio-voip/palio/sip"
)

// SSE bounds.
const (
	// MaxEventClients bounds the pages following the live calls at once;
	// one more gets 503.
	MaxEventClients = 64
	// EventHeartbeat is how often an idle event stream gets a comment line,
	// so that proxies keep it open and a gone client is noticed.
	EventHeartbeat = 15 * time.Second
	// eventRefresh resends the state when nothing happened for that long
	// (a gateway switched, an alarm cleared).
	eventRefresh = 5 * time.Second
	// eventDebounce gathers the events of one moment into one update.
	eventDebounce = 100 * time.Millisecond
)

// CallEvents is what tells the page that the calls changed: a Calls that
// has it (DialogCalls does) updates the live page at once; without it the
// page is refreshed every few seconds.
type CallEvents interface {
	// Subscribe calls fn at every change until unsubscribe; fn must be
	// quick and must not block.
	Subscribe(fn func()) (unsubscribe func())
}

// Subscribe calls fn at every dialog event of the table.
func (d DialogCalls) Subscribe(fn func()) (unsubscribe func()) {
	return d.Dialogs.Subscribe(func(sip.DialogEvent) { fn() })
}

// liveState is one update of the live page.
type liveState struct {
	Calls    any `json:"calls"`
	Gateways any `json:"gateways"`
	Carriers any `json:"carriers"`
}

func (h *Handler) live() liveState {
	s := liveState{Calls: []any{}, Gateways: []Trunk{}, Carriers: []Trunk{}}
	if h.cfg.Calls != nil {
		s.Calls = nonNil(h.cfg.Calls.LiveCalls(h.now()))
	}
	if h.cfg.Trunks != nil {
		s.Gateways, s.Carriers = TrunkUsage(h.cfg.Trunks)
	}
	return s
}

// events streams the live calls and the trunks' usage as server-sent
// events ("live", a liveState), at each change and at least every
// eventRefresh, with a heartbeat comment every heartbeat. It ends when the
// client goes, or the handler is closed.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) error {
	if p := principalFrom(r.Context()); p.Scope != ScopeAdmin {
		return errForbidden
	}
	select {
	case h.sseSlots <- struct{}{}:
		defer func() { <-h.sseSlots }()
	default:
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: fmt.Sprintf("too many live pages open (%d)", cap(h.sseSlots))})
		return nil
	}
	rc := http.NewResponseController(w)
	changed := make(chan struct{}, 1)
	if ev, ok := h.cfg.Calls.(CallEvents); ok {
		unsubscribe := ev.Subscribe(func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
		defer unsubscribe()
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func() error {
		b, _ := json.Marshal(h.live())
		if _, err := fmt.Fprintf(w, "event: live\ndata: %s\n\n", b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send(); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(h.heartbeat)
	defer heartbeat.Stop()
	refresh := time.NewTimer(eventRefresh)
	defer refresh.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-h.closed:
			return nil
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return nil
			}
			if rc.Flush() != nil {
				return nil
			}
			continue
		case <-changed:
			// Let the other subscribers (the trunk counts) see the event.
			if !sleepCtx(r.Context(), eventDebounce) {
				return nil
			}
		case <-refresh.C:
		}
		if send() != nil {
			return nil
		}
		refresh.Reset(eventRefresh)
	}
}

// sleepCtx waits d, or less when ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Close ends the event streams; the handler still serves the rest.
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.closed) })
}
