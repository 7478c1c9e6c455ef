package sip

import (
	"fmt"
	"net"
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
	hosts   map[string]struct{} // lower-case hosts that are us
	domains map[string]struct{} // lower-case domains: us on any port
	ports   map[int]struct{}
}

type localListen struct {
	network string // lower case: udp, tcp, tls, ws, wss
	host    string // advertised host for Via and Record-Route
	port    int    // advertised port
	laddr   sipmsg.Addr
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
		l.hosts[strings.ToLower(host)] = struct{}{}
		l.ports[p] = struct{}{}
	}
	return l
}

func newLocal() *Local {
	return &Local{
		hosts:   map[string]struct{}{},
		domains: map[string]struct{}{},
		ports:   map[int]struct{}{},
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
			l.ports[p] = struct{}{}
		}
	}
	if ip != nil && ip.IsUnspecified() {
		// A wildcard listener is reachable on every interface address.
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					l.hosts[strings.ToLower(n.IP.String())] = struct{}{}
				}
			}
		}
		if advertise == "" {
			return fmt.Errorf("sip: listener on wildcard address %s needs an advertised address", bound)
		}
	} else {
		l.hosts[strings.ToLower(bhost)] = struct{}{}
	}
	l.hosts[strings.ToLower(host)] = struct{}{}
	l.ports[mustAtoi(bport)] = struct{}{}
	l.listens = append(l.listens, localListen{
		network: strings.ToLower(network),
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

// IsLocal reports whether u addresses this proxy: its host is one of our
// listening or advertised hosts on one of our ports (the transport's
// default port when u has none), or one of our domains.
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
	_, ok := l.ports[port]
	return ok
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
