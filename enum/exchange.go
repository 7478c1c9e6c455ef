package enum

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// exchange asks the configured servers, in order, for name's records of
// type qtype, and returns the first answer that is NOERROR or NXDOMAIN.
// Each server's turn gets an equal share of the time left in ctx, so a
// dead first server leaves time for the second. A truncated UDP answer is
// asked again over TCP, of the same server (RFC 7766; miekg/dns does not
// do it by itself).
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.SetEdns0(4096, false)
	var last error
	servers := r.cfg.Servers
	for i, srv := range servers {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s %s: %w", name, dns.TypeToString[qtype], err)
		}
		actx, cancel := share(ctx, len(servers)-i, r.cfg.Timeout)
		m, err := r.ask(actx, q, srv)
		cancel()
		if err == nil {
			switch m.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				return m, nil
			}
			err = fmt.Errorf("answered %s", dns.RcodeToString[m.Rcode])
		}
		last = fmt.Errorf("%s %s from %s: %w", name, dns.TypeToString[qtype], srv, err)
		if errors.Is(ctx.Err(), context.Canceled) {
			continue // the caller gave up: not the server's fault
		}
		r.log.Warn("enum: DNS query failed", "server", srv, "name", name, "error", err)
	}
	return nil, last
}

// share returns a context for one of n remaining attempts: an equal share
// of the time left before ctx's deadline (or of budget, without one).
func share(ctx context.Context, n int, budget time.Duration) (context.Context, context.CancelFunc) {
	left := budget
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	return context.WithTimeout(ctx, left/time.Duration(n))
}

// ask sends q to one server over UDP, and again over TCP if the answer
// came back truncated.
func (r *Resolver) ask(ctx context.Context, q *dns.Msg, srv string) (*dns.Msg, error) {
	m, err := r.send(ctx, r.udp, q, srv)
	if err != nil || !m.Truncated {
		r.count("udp", m, err)
		return m, err
	}
	r.m.queries.WithLabelValues("udp", "truncated").Inc()
	m, err = r.send(ctx, r.tcp, q, srv)
	r.count("tcp", m, err)
	return m, err
}

// send makes one exchange over a fresh connection that is closed early
// if ctx is cancelled (the caller sent CANCEL), not only at its deadline.
func (r *Resolver) send(ctx context.Context, c *dns.Client, q *dns.Msg, srv string) (*dns.Msg, error) {
	co, err := c.DialContext(ctx, srv)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	stop := context.AfterFunc(ctx, func() { co.SetDeadline(time.Now()) })
	defer stop()
	m, _, err := c.ExchangeWithConnContext(ctx, q, co)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return nil, err
	}
	if len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, q.Question[0].Name) || m.Question[0].Qtype != q.Question[0].Qtype {
		return nil, errors.New("answer to another question")
	}
	return m, nil
}

// count counts a query by transport and outcome.
func (r *Resolver) count(transport string, m *dns.Msg, err error) {
	outcome := "error"
	switch {
	case err == nil:
		outcome = strings.ToLower(dns.RcodeToString[m.Rcode])
		if outcome == "" {
			outcome = "other"
		}
	case isTimeout(err):
		outcome = "timeout"
	}
	r.m.queries.WithLabelValues(transport, outcome).Inc()
}
