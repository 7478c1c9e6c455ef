package routing

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/palio-voip/palio/sip"
)

// Pinger sends an OPTIONS probe to a target and returns its final
// response: *sip.Server satisfies it (Server.Ping).
type Pinger interface {
	Ping(ctx context.Context, t sip.Target, from string) (*sip.Response, error)
}

// probeParallel bounds the probes of one round in flight at once.
const probeParallel = 16

// StartProbing probes gateways with OPTIONS through p every
// Config.Probe.Interval, the first round at once: gateways with
// ProbeAlways every round, those with ProbeWhenInactive while they are not
// active. A response of 200 (or one of Config.Probe.ReplyCodes) makes an
// inactive gateway active again; a response of 400 or more, a timeout
// (Config.Probe.Timeout) or a transport error makes an active gateway
// inactive. A gateway an operator disabled stays disabled whatever its
// probes say. Each change is an EventGatewayState with CauseProbe, logged
// (at Warn going down, at Info coming back); failed probes of a gateway
// already inactive are not logged, but for the first one of a gateway
// that was inactive before probing saw it fail. Close stops probing. StartProbing fails if probing already runs or the
// Router is closed.
func (r *Router) StartProbing(p Pinger) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return errClosed
	case r.probing:
		return errors.New("routing: probing already started")
	}
	r.probing = true
	r.wg.Add(1)
	go r.probeLoop(p)
	return nil
}

func (r *Router) probeLoop(p Pinger) {
	defer r.wg.Done()
	tick := time.NewTicker(r.cfg.Probe.Interval)
	defer tick.Stop()
	for {
		r.probeRound(p)
		select {
		case <-r.base.Done():
			return
		case <-tick.C:
		}
	}
}

// probeRound probes every gateway due for it and waits for the answers.
func (r *Router) probeRound(p Pinger) {
	t := r.tab.Load()
	sem := make(chan struct{}, probeParallel)
	var wg sync.WaitGroup
	for _, g := range t.gws {
		if g.placeholder {
			continue // nothing is ever sent to a placeholder address
		}
		switch g.row.ProbeMode {
		case ProbeAlways:
		case ProbeWhenInactive:
			if g.rt.load() == StateActive {
				continue
			}
		default:
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-r.base.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.probe(p, g)
		}()
	}
	wg.Wait()
}

// probe sends one probe to g and acts on its outcome.
func (r *Router) probe(p Pinger, g *gateway) {
	ctx, cancel := context.WithTimeout(r.base, r.cfg.Probe.Timeout)
	defer cancel()
	target := sip.Target{URI: g.uri, Transport: g.transport, Gateway: g.row.GWID}
	target.URI.UriParams = target.URI.UriParams.Clone()
	res, err := p.Ping(ctx, target, r.cfg.Probe.From)
	if r.base.Err() != nil {
		return // closing: not the gateway's fault
	}
	pr := ProbeResult{Time: r.now(), Err: err}
	if err == nil && res != nil {
		pr.Code = res.StatusCode
	} else if err == nil {
		pr.Err = errors.New("routing: no response")
	}
	g.rt.probe.Store(&pr)
	id := g.row.GWID
	switch {
	case pr.Err == nil && r.upCodes.Has(pr.Code):
		r.m.probes.WithLabelValues(id, "up").Inc()
		r.transition(g, StateInactive, StateActive, CauseProbe, strconv.Itoa(pr.Code)+" "+res.Reason)
	case pr.Err != nil:
		r.m.probes.WithLabelValues(id, "down").Inc()
		if !r.transition(g, StateActive, StateInactive, CauseProbe, pr.Err.Error()) {
			r.stillDown(g, pr.Err.Error())
		}
	case pr.Code >= 400:
		r.m.probes.WithLabelValues(id, "down").Inc()
		detail := strconv.Itoa(pr.Code) + " " + res.Reason
		if !r.transition(g, StateActive, StateInactive, CauseProbe, detail) {
			r.stillDown(g, detail)
		}
	default:
		r.m.probes.WithLabelValues(id, "other").Inc()
	}
}
