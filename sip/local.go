package sip

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Local is the identity of this proxy on the wire: the addresses it listens
// on, the address it advertises in Via and Record-Route for each transport,
// and the domains it answers for. It decides whether a Route or a
// Request-URI points at us. A Local is immutable once the Server is built.
type Local struct {
	listens []localListen
	hosts   map[string]struct{} // lower-case hosts that are us, on some port
	domains map[string]struct{} // lower-case domains: us on any port
	// ours holds each address that is us: a listener's bound and
	// advertised host (every interface address for a wildcard one) with
	// its bound and advertised port, by the listener's transport.
	ours []localAddr
}

type localListen struct {
	network string // lower case: udp, tcp, tls, ws, wss
	host    string // advertised host for Via and Record-Route
	port    int    // advertised port
	laddr   sipmsg.Addr
}

// localAddr is one host and port of ours and the transport listening
// there ("" for any, as NewLocal declares them).
type localAddr struct {
	host    string // lower case, no brackets
	port    int
	network string
}

// NewLocal returns a Local for the given "host:port" addresses, for tests
// and tools that need IsLocal without a Server; see Server.Local for the
// one a running server uses.
func NewLocal(hostports ...string) *Local {
	l := newLocal()
	for _, hp := range hostports {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			host, port = hp, "5060"
		}
		p, _ := strconv.Atoi(port)
		l.add("", []string{host}, []int{p})
	}
	return l
}

func newLocal() *Local {
	return &Local{
		hosts:   map[string]struct{}{},
		domains: map[string]struct{}{},
	}
}

// add records every pair of hosts and ports as us over network.
func (l *Local) add(network string, hosts []string, ports []int) {
	for _, h := range hosts {
		h = strings.ToLower(strings.Trim(h, "[]"))
		l.hosts[h] = struct{}{}
		for _, p := range ports {
			a := localAddr{host: h, port: p, network: network}
			if !slices.Contains(l.ours, a) {
				l.ours = append(l.ours, a)
			}
		}
	}
}

// addListen records a bound listener. bound is the socket's local address,
// advertise the optional "host[:port]" to put in Via and Record-Route.
func (l *Local) addListen(network string, bound net.Addr, advertise string) error {
	bhost, bport, err := net.SplitHostPort(bound.String())
	if err != nil {
		return fmt.Errorf("sip: listener address %q: %w", bound, err)
	}
	port, _ := strconv.Atoi(bport)
	ports := []int{port}
	host := bhost
	ip := net.ParseIP(bhost)
	if advertise != "" {
		ah, ap, err := net.SplitHostPort(advertise)
		if err != nil {
			ah, ap = advertise, ""
		}
		host = ah
		if ap != "" {
			p, err := strconv.Atoi(ap)
			if err != nil {
				return fmt.Errorf("sip: advertised address %q: bad port", advertise)
			}
			port = p
			ports = append(ports, p)
		}
	}
	hosts := []string{host}
	if ip != nil && ip.IsUnspecified() {
		// A wildcard listener is reachable on every interface address.
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					hosts = append(hosts, n.IP.String())
				}
			}
		}
		if advertise == "" {
			return fmt.Errorf("sip: listener on wildcard address %s needs an advertised address", bound)
		}
	} else {
		hosts = append(hosts, bhost)
	}
	network = strings.ToLower(network)
	l.add(network, hosts, ports)
	l.listens = append(l.listens, localListen{
		network: network,
		host:    host,
		port:    port,
		laddr:   sipmsg.Addr{IP: ip, Port: mustAtoi(bport), Hostname: bhost},
	})
	return nil
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// AddDomain declares names that are this proxy on any port (OpenSIPS's
// "alias" and domain list): "voip.unisi.it". It must be called before the
// server starts serving.
func (l *Local) AddDomain(names ...string) {
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n != "" {
			l.domains[n] = struct{}{}
		}
	}
}

// IsLocal reports whether u addresses this proxy: it names one of our
// domains, or the host and port (the transport's default port when u has
// none) of one of our listeners, bound or advertised, over a transport
// that listener serves. A transport parameter must name the listener's
// (ws names a WS or WSS one, tls or a sips URI's tcp a TLS one); a URI
// without one is ours at a UDP, TCP or TLS listener, never at a
// WebSocket one, which RFC 7118 URIs always name. So a phone on this
// host whose UDP port happens to be the port of our WSS listener is not
// taken for us.
func (l *Local) IsLocal(u *URI) bool {
	if u == nil {
		return false
	}
	host := strings.ToLower(strings.Trim(u.Host, "[]"))
	if _, ok := l.domains[host]; ok {
		return true
	}
	if _, ok := l.hosts[host]; !ok {
		return false
	}
	port := u.Port
	if port == 0 {
		port = sipmsg.DefaultPort(uriTransport(u))
	}
	tp, _ := u.UriParams.Get("transport")
	tp = strings.ToLower(tp)
	if tp == "tcp" && strings.EqualFold(u.Scheme, "sips") {
		tp = "tls" // sips over TCP is TLS (RFC 3261 §26.2.2)
	}
	for _, a := range l.ours {
		if a.host != host || a.port != port {
			continue
		}
		switch {
		case a.network == "":
			return true
		case tp != "":
			if a.network == tp || tp == "ws" && a.network == "wss" {
				return true
			}
		case a.network != "ws" && a.network != "wss":
			return true
		}
	}
	return false
}

// IsDomain reports whether host is one of the domains added with AddDomain
// or one of our own hosts.
func (l *Local) IsDomain(host string) bool {
	host = strings.ToLower(strings.Trim(host, "[]"))
	if _, ok := l.domains[host]; ok {
		return true
	}
	_, ok := l.hosts[host]
	return ok
}

// listen returns the listener used for requests sent over transport.
func (l *Local) listen(transport string) (localListen, bool) {
	network := strings.ToLower(transport)
	for _, ls := range l.listens {
		if ls.network == network {
			return ls, true
		}
	}
	return localListen{}, false
}

// Addr returns the bound address of the first listener of network
// ("udp", "tcp", ...), or "" when there is none.
func (l *Local) Addr(network string) string {
	ls, ok := l.listen(network)
	if !ok {
		return ""
	}
	return net.JoinHostPort(ls.laddr.Hostname, strconv.Itoa(ls.laddr.Port))
}

// Addrs returns the bound addresses of every listener of network, in
// the order configured.
func (l *Local) Addrs(network string) []string {
	var out []string
	for _, ls := range l.listens {
		if ls.network == network {
			out = append(out, net.JoinHostPort(ls.laddr.Hostname, strconv.Itoa(ls.laddr.Port)))
		}
	}
	return out
}

// recordRoute returns our Record-Route URI for transport, carrying the
// dialog's signature sig (see routeSigner). For a sips request over TLS or
// WSS it is a sips URI (RFC 3261 §16.6 step 4), so that the dialog's
// in-dialog requests stay on TLS too.
func (ls localListen) recordRoute(sig string, secure bool) URI {
	scheme, network := "sip", ls.network
	if secure && (network == "tls" || network == "wss") {
		scheme = "sips"
		if network == "wss" {
			network = "ws" // sips;transport=ws is WSS (RFC 7118 §5.2)
		}
	}
	return URI{
		Scheme: scheme,
		Host:   ls.host,
		Port:   ls.port,
		UriParams: sipmsg.HeaderParams{
			{K: "transport", V: network},
			{K: "lr", V: ""},
			{K: routeParam, V: sig},
		},
	}
}
