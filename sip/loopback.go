package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palio-voip/palio/internal/promreg"
)

// ErrNotLoopback is the error of a request the Server refused to send
// because the listener of its transport is bound to a loopback address
// (127.0.0.0/8, ::1) and its destination is not on loopback: an IP
// address outside it, or a host name that resolves outside it (or does
// not resolve). Such a request could not work (a UDP socket bound to
// loopback cannot reach another machine, and no peer there could reach
// the loopback address in our Via and Record-Route), and a server bound
// to loopback is a test, a benchmark or a first try of an example that
// must stay on the machine. The Forwarder answers such a branch with 503
// (so the routing stage fails over), Ping fails with it, and nothing
// leaves the machine. A listener bound to a wildcard address (0.0.0.0,
// ::) or to a real interface is not affected.
var ErrNotLoopback = errors.New("sip: destination is not on loopback")

// loopbackLookupTimeout bounds the resolution of a host name for a
// request sent without a context (an ACK).
const loopbackLookupTimeout = 5 * time.Second

// loopbackGuard is the transactor of a Server that has a listener bound to
// a loopback address: before a request goes to the transaction layer, it
// checks the request's destination (its next hop, else its top Route or
// Request-URI, as sipgo sends it) and refuses one off loopback with
// ErrNotLoopback.
type loopbackGuard struct {
	next     transactor
	local    *Local
	resolver *net.Resolver
	allowed  prometheus.Counter
	refused  prometheus.Counter
}

// guardLoopback returns next behind a loopbackGuard when one of s's
// listeners is bound to a loopback address, else next itself: servers on
// a wildcard address or a real interface pay nothing.
func (s *Server) guardLoopback(next transactor) transactor {
	bound := false
	for _, ls := range s.local.listens {
		bound = bound || ls.laddr.IP.IsLoopback()
	}
	if !bound {
		return next
	}
	checks := promreg.Register(s.reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palio_sip_loopback_checks_total",
		Help: "Requests of the proxy's client side (branches, probes, ACK, CANCEL, BYE) checked because the listener of their transport is bound to loopback, by outcome: allowed (the destination is on loopback), refused (it is not: nothing sent).",
	}, []string{"outcome"}))
	r := s.resolver
	if r == nil {
		r = net.DefaultResolver
	}
	return &loopbackGuard{next: next, local: s.local, resolver: r,
		allowed: checks.WithLabelValues("allowed"), refused: checks.WithLabelValues("refused")}
}

func (g *loopbackGuard) request(ctx context.Context, r *Request) (sipmsg.ClientTransaction, error) {
	if err := g.check(ctx, r); err != nil {
		return nil, err
	}
	return g.next.request(ctx, r)
}

func (g *loopbackGuard) write(r *Request) error {
	ctx, cancel := context.WithTimeout(context.Background(), loopbackLookupTimeout)
	defer cancel()
	if err := g.check(ctx, r); err != nil {
		return err
	}
	return g.next.write(r)
}

// check returns an error wrapping ErrNotLoopback when r would leave
// loopback from a listener bound to it.
func (g *loopbackGuard) check(ctx context.Context, r *Request) error {
	var ls *localListen
	tp := r.Transport()
	for i := range g.local.listens { // as Local.listen, without lower-casing tp
		if strings.EqualFold(g.local.listens[i].network, tp) {
			ls = &g.local.listens[i]
			break
		}
	}
	if ls == nil || !ls.laddr.IP.IsLoopback() {
		return nil // no listener (sending fails anyway) or not bound to loopback
	}
	host, ok := destinationHost(r)
	if !ok {
		return nil // sipgo refuses it with its own error
	}
	why := ""
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Unmap().IsLoopback() {
			g.allowed.Inc()
			return nil
		}
	} else {
		ips, err := g.resolver.LookupNetIP(ctx, "ip", host)
		switch {
		case err != nil:
			why = " (" + err.Error() + ")"
		case allLoopback(ips):
			g.allowed.Inc()
			return nil
		default:
			why = " (" + joinAddrs(ips) + ")"
		}
	}
	g.refused.Inc()
	laddr := net.JoinHostPort(ls.laddr.IP.String(), strconv.Itoa(ls.laddr.Port))
	return fmt.Errorf("%w: %s%s, from the %s listener bound to %s: not sent",
		ErrNotLoopback, r.Destination(), why, strings.ToUpper(ls.network), laddr)
}

// destinationHost returns the host r is sent to, as sipgo's
// Request.Destination picks it (the next hop set on r, else the top
// Route, else the Request-URI), without building the "host:port" string.
func destinationHost(r *Request) (string, bool) {
	if d := r.MessageData.Destination(); d != "" {
		host, _, err := net.SplitHostPort(d)
		return host, err == nil
	}
	u := &r.Recipient
	if rt := topRoute(r); rt != nil {
		u = &rt.Address
	}
	host := strings.TrimSuffix(strings.TrimPrefix(u.Host, "["), "]")
	return host, host != ""
}

func allLoopback(ips []netip.Addr) bool {
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return false
		}
	}
	return len(ips) > 0
}

func joinAddrs(ips []netip.Addr) string {
	if len(ips) == 0 {
		return "no address"
	}
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.Unmap().String()
	}
	return strings.Join(s, ", ")
}
