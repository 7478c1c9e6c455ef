package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palio-voip/palio/sip"
)

// readiness answers /readyz: whether this node should be given calls.
// Each check runs at every request (in parallel, each within
// checkTimeout), so the answer is now's, not a cached one.
type readiness struct {
	srv      *sip.Server
	store    func(ctx context.Context) error
	mediabox func() string // the box's address, "" when none runs
	started  atomic.Bool   // the listeners serve (set after Start)
}

// checkTimeout bounds each readiness check.
const checkTimeout = 2 * time.Second

// readyCheck is one line of /readyz's answer.
type readyCheck struct {
	Name   string  `json:"name"`
	OK     bool    `json:"ok"`
	Detail string  `json:"detail,omitempty"`
	Error  string  `json:"error,omitempty"`
	Millis float64 `json:"ms"`
}

// readyAnswer is /readyz's JSON.
type readyAnswer struct {
	Ready  bool         `json:"ready"`
	Checks []readyCheck `json:"checks"`
}

// check runs the checks: sip (the server started, not draining, and its
// UDP listener answers an OPTIONS of its own), store (the database
// answers a ping), mediabox (when the box runs: it answers an OPTIONS).
func (rd *readiness) check(ctx context.Context) readyAnswer {
	type job struct {
		name string
		fn   func(ctx context.Context) (string, error)
	}
	jobs := []job{{"sip", rd.checkSIP}, {"store", func(ctx context.Context) (string, error) { return "", rd.store(ctx) }}}
	if box := rd.mediabox(); box != "" {
		jobs = append(jobs, job{"mediabox", func(ctx context.Context) (string, error) { return rd.ping(ctx, box) }})
	}
	out := readyAnswer{Ready: true, Checks: make([]readyCheck, len(jobs))}
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			start := time.Now()
			detail, err := j.fn(cctx)
			c := readyCheck{Name: j.name, OK: err == nil, Detail: detail, Millis: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				c.Error = err.Error()
			}
			out.Checks[i] = c
		}()
	}
	wg.Wait()
	for _, c := range out.Checks {
		out.Ready = out.Ready && c.OK
	}
	return out
}

func (rd *readiness) checkSIP(ctx context.Context) (string, error) {
	switch {
	case !rd.started.Load():
		return "", fmt.Errorf("starting")
	case rd.srv.Stopping():
		return "", fmt.Errorf("draining")
	}
	return rd.ping(ctx, routerAddr(rd.srv.Local().Addr("udp")))
}

// ping sends an OPTIONS to addr over UDP and says what answered.
func (rd *readiness) ping(ctx context.Context, addr string) (string, error) {
	u, err := sip.ParseURI("sip:" + addr)
	if err != nil {
		return "", err
	}
	res, err := rd.srv.Ping(ctx, sip.Target{URI: u}, "")
	if err != nil {
		return "", fmt.Errorf("OPTIONS to %s: %w", addr, err)
	}
	return fmt.Sprintf("OPTIONS to %s: %d %s", addr, res.StatusCode, res.Reason), nil
}

// ServeHTTP answers 200 with the checks when ready, 503 otherwise.
func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := rd.check(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !a.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(a)
}
