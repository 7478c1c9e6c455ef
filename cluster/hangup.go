package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/sip"
)

// WithHanger makes the Bus take the other nodes' requests to hang up a
// call of this node (Calls.Hangup, an operator's "hang up" on another
// node's calls list): h, the node's *sip.Server, sends the BYEs or the
// CANCEL as for a local hang-up. Without it this node answers no such
// request, and the others report it as not reachable.
func WithHanger(h accounting.Hanger) Option { return func(b *Bus) { b.hanger = h } }

// maxHangups bounds the hang-ups a node carries out for the others at
// once; one more is answered "busy".
const maxHangups = 16

// hangupTimeout bounds one hang-up (its BYEs' answers), here and at the
// asking node.
const hangupTimeout = 10 * time.Second

// hangupWire is a hang-up request (v, ci, ft, r) or its answer (v, ok,
// nd: no such dialog, b: too many hang-ups under way, e: the error).
type hangupWire struct {
	V        int    `json:"v"`
	CallID   string `json:"ci,omitempty"`
	FromTag  string `json:"ft,omitempty"`
	Reason   string `json:"r,omitempty"`
	OK       bool   `json:"ok,omitempty"`
	NoDialog bool   `json:"nd,omitempty"`
	Busy     bool   `json:"b,omitempty"`
	Err      string `json:"e,omitempty"`
}

// hangupSubject is where node takes hang-up requests.
func (b *Bus) hangupSubject(node string) string {
	return "palio." + cmp.Or(b.cfg.Cluster, "default") + ".hangup." + node
}

// serveHangups subscribes to this node's hang-up requests (WithHanger).
func (b *Bus) serveHangups() error {
	if b.hanger == nil {
		return nil
	}
	b.hslots = make(chan struct{}, maxHangups)
	sub, err := b.nc.Subscribe(b.hangupSubject(b.cfg.Node), b.onHangup)
	if err != nil {
		return fmt.Errorf("cluster: subscribing to %s: %w", b.hangupSubject(b.cfg.Node), err)
	}
	b.hsub = sub
	return nil
}

// onHangup carries out a request on a goroutine of its own (a hang-up
// waits for the BYEs' answers) and answers it.
func (b *Bus) onHangup(msg *nats.Msg) {
	var req hangupWire
	if err := json.Unmarshal(msg.Data, &req); err != nil || req.V != 1 || req.CallID == "" || msg.Reply == "" {
		b.m.dropped.WithLabelValues(dropMalformed).Inc()
		return
	}
	b.hmu.Lock()
	if b.hclosed {
		b.hmu.Unlock()
		return
	}
	select {
	case b.hslots <- struct{}{}:
	default:
		b.hmu.Unlock()
		b.m.hangups.WithLabelValues("served", "busy").Inc()
		b.answer(msg, hangupWire{V: 1, Busy: true, Err: "node " + b.cfg.Node + " busy with other hang-ups"})
		return
	}
	b.hwg.Add(1)
	b.hmu.Unlock()
	go func() {
		defer b.hwg.Done()
		defer func() { <-b.hslots }()
		ctx, cancel := context.WithTimeout(b.hctx, hangupTimeout)
		defer cancel()
		err := b.hanger.Hangup(ctx, req.CallID, req.FromTag, req.Reason)
		res := hangupWire{V: 1, OK: err == nil}
		switch {
		case errors.Is(err, sip.ErrNoDialog):
			res.NoDialog = true
		case err != nil:
			res.Err = err.Error()
		}
		b.m.hangups.WithLabelValues("served", hangupResult(res)).Inc()
		b.log.Info("cluster: call hung up for another node", "callid", req.CallID, "reason", req.Reason, "error", err)
		b.answer(msg, res)
	}()
}

func (b *Bus) answer(msg *nats.Msg, res hangupWire) {
	data, _ := json.Marshal(res)
	if err := msg.Respond(data); err != nil {
		b.log.Debug("cluster: answering a hang-up", "error", err)
	}
}

// Hangup asks node to hang up its call callID/fromTag (its BYEs or CANCEL
// say reason) and waits for its answer, at most 10 s or until ctx ends.
// The error wraps sip.ErrNoDialog when that node has no such call, and
// names the node when it could not be asked or did not answer.
func (b *Bus) Hangup(ctx context.Context, node, callID, fromTag, reason string) error {
	res, err := b.hangup(ctx, node, callID, fromTag, reason)
	result := hangupResult(res)
	if err != nil {
		result = "error"
	}
	b.m.hangups.WithLabelValues("asked", result).Inc()
	if err != nil {
		return err
	}
	switch {
	case res.OK:
		return nil
	case res.NoDialog:
		return fmt.Errorf("cluster: node %s: call %s: %w", node, callID, sip.ErrNoDialog)
	}
	return fmt.Errorf("cluster: node %s: hanging up call %s: %s", node, callID, res.Err)
}

// hangupResult is an answer's result label.
func hangupResult(res hangupWire) string {
	switch {
	case res.OK:
		return "ok"
	case res.NoDialog:
		return "no_dialog"
	case res.Busy:
		return "busy"
	}
	return "error"
}

// hangup sends the request and decodes the answer.
func (b *Bus) hangup(ctx context.Context, node, callID, fromTag, reason string) (hangupWire, error) {
	if node == b.cfg.Node {
		return hangupWire{}, fmt.Errorf("cluster: %s is this node: hang up its calls locally", node)
	}
	data, _ := json.Marshal(hangupWire{V: 1, CallID: callID, FromTag: fromTag, Reason: reason})
	ctx, cancel := context.WithTimeout(ctx, hangupTimeout)
	defer cancel()
	msg, err := b.nc.RequestWithContext(ctx, b.hangupSubject(node), data)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return hangupWire{}, fmt.Errorf("cluster: node %s does not take hang-ups (gone, or not connected to NATS): call %s not hung up", node, callID)
		}
		return hangupWire{}, fmt.Errorf("cluster: node %s did not answer the hang-up of call %s: %w", node, callID, err)
	}
	var res hangupWire
	if err := json.Unmarshal(msg.Data, &res); err != nil {
		return hangupWire{}, fmt.Errorf("cluster: node %s: a malformed answer to the hang-up of call %s", node, callID)
	}
	return res, nil
}

// closeHangups stops taking requests, ends those under way (their
// contexts) and waits for them.
func (b *Bus) closeHangups() {
	if b.hsub != nil {
		_ = b.hsub.Unsubscribe()
	}
	b.hmu.Lock()
	b.hclosed = true
	b.hmu.Unlock()
	b.hcancel()
	b.hwg.Wait()
}
