package cluster

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
)

// hangups records the hang-ups a node was asked for and ends the calls
// it knows, as a sip.Server does.
type hangups struct {
	mu    sync.Mutex
	calls map[string]*call
	asked []string
}

func (h *hangups) Hangup(_ context.Context, callID, fromTag, reason string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, callID+"/"+fromTag+"/"+reason)
	c := h.calls[callID]
	if c == nil || c.d.FromTag != fromTag {
		return sip.ErrNoDialog
	}
	delete(h.calls, callID)
	c.end(sip.CauseHangup)
	return nil
}

// counter returns the value of a counter of the node's registry with
// these label values, in the order of the labels' names (0 when absent).
func (n *node) counter(name string, labels ...string) float64 {
	mfs, err := n.reg.Gather()
	if err != nil {
		n.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for i, l := range m.GetLabel() {
				if l.GetValue() != labels[i] {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestRemoteCalls: two nodes. A's call is in B's list (Calls) within
// 100 ms, with A named; B has it hung up by A (WithHanger); an unknown
// call, a node that is not there and a node without a hanger are told
// apart; the hang-ups are counted on both sides.
func TestRemoteCalls(t *testing.T) {
	url := natsURL(t)
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := Config{URL: url, Cluster: testCluster()}
	h := &hangups{calls: map[string]*call{}}
	a := newNode(t, cfg, "node-a", WithHanger(h))
	b := newNode(t, cfg, "node-b")
	a.ready(ctx)
	b.ready(ctx)
	waitFor(t, 5*time.Second, "the nodes to hear each other", func() bool {
		return a.metric("palio_cluster_nodes", "") == 1 && b.metric("palio_cluster_nodes", "") == 1
	})

	view := Calls{Bus: b.bus}
	c := newCall(a.table, "rc-1", "5002@voip.unisi.it", "5003@voip.unisi.it")
	h.mu.Lock()
	h.calls["rc-1"] = c
	h.mu.Unlock()
	c.confirm()
	start := time.Now()
	waitFor(t, time.Second, "A's confirmed call in B's list", func() bool {
		l := view.LiveCalls(time.Now())
		return len(l) == 1 && l[0].State == "confirmed"
	})
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("A's call reached B's list in %v, want within 100ms", d)
	}
	got := view.LiveCalls(time.Now())[0]
	if got.Node != "node-a" || got.CallID != "rc-1" || got.Caller != "5002@voip.unisi.it" || got.Callee != "5003@voip.unisi.it" || got.Answered.IsZero() {
		t.Errorf("B's row of A's call: %+v", got)
	}

	// Hang-ups: one of another node's calls goes to it; an unknown call
	// is no call; a node that is not there is named.
	if n, err := view.Hangup(ctx, "no-such-call", "test"); n != 0 || !errors.Is(err, sip.ErrNoDialog) {
		t.Errorf("hang-up of an unknown call: %d, %v; want 0, ErrNoDialog", n, err)
	}
	if err := b.bus.Hangup(ctx, "node-a", "rc-gone", "ft-x", "test"); !errors.Is(err, sip.ErrNoDialog) {
		t.Errorf("hang-up of a call A does not have: %v, want ErrNoDialog", err)
	}
	if err := b.bus.Hangup(ctx, "node-z", "rc-1", "ft-rc-1", "test"); err == nil || !strings.Contains(err.Error(), "node-z") {
		t.Errorf("hang-up on a node that is not there: %v, want an error naming node-z", err)
	}
	if err := a.bus.Hangup(ctx, "node-b", "rc-1", "ft-rc-1", "test"); err == nil || !strings.Contains(err.Error(), "node-b") {
		t.Errorf("hang-up on a node without a hanger: %v, want an error naming node-b", err)
	}
	if n, err := view.Hangup(ctx, "rc-1", "fraud suspected"); n != 1 || err != nil {
		t.Fatalf("hang-up of A's call from B: %d, %v; want 1, nil", n, err)
	}
	h.mu.Lock()
	asked := strings.Join(h.asked, ",")
	h.mu.Unlock()
	if !strings.Contains(asked, "rc-1/ft-rc-1/fraud suspected") {
		t.Errorf("A was asked %q, want rc-1/ft-rc-1/fraud suspected", asked)
	}
	waitFor(t, time.Second, "the hung-up call to leave B's list", func() bool { return len(view.LiveCalls(time.Now())) == 0 })
	// Asked by B: ok, no_dialog and 2 errors; served by A: ok, no_dialog.
	for _, m := range []struct {
		n            *node
		side, result string
		want         float64
	}{{b, "asked", "ok", 1}, {b, "asked", "no_dialog", 1}, {b, "asked", "error", 1}, {a, "asked", "error", 1}, {a, "served", "ok", 1}, {a, "served", "no_dialog", 1}} {
		if got := m.n.counter("palio_cluster_hangups_total", m.result, m.side); got != m.want {
			t.Errorf("%s palio_cluster_hangups_total{side=%q,result=%q} = %v, want %v", m.n.bus.Node(), m.side, m.result, got, m.want)
		}
	}
}
