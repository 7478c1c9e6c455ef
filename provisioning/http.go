package provisioning

import (
	"bytes"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

var _ http.Handler = (*Provisioner)(nil)

// ServeHTTP serves the provisioning files, below Config.PathPrefix, over
// HTTP or HTTPS (whichever server it is mounted on): GET and HEAD only.
// The source address is the connection's (r.RemoteAddr): put no proxy in
// front of it, or the allow-list, rate limit and bans see the proxy.
//
// Statuses: 200 the file; 401 a device with an AuthSecret asking
// without (or with wrong) credentials; 403 a network not allowed, a
// banned source, a User-Agent whose MAC is not the file's; 404 no such
// file, an unknown or malformed MAC, a wrong url key (the same answer
// as no file, so a key cannot be told from a path); 429 over the rate;
// 500 a file that cannot be rendered (logged); 503 the store failing.
func (p *Provisioner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rel, ok := strings.CutPrefix(r.URL.Path, strings.TrimSuffix(p.cfg.PathPrefix, "/")+"/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	src, perr := netip.ParseAddr(host)
	if err != nil || perr != nil {
		http.Error(w, "bad source address", http.StatusBadRequest)
		return
	}
	proto, scheme := "http", "http"
	if r.TLS != nil {
		proto, scheme = "https", "https"
	}
	f := fetch{
		proto: proto, file: rel, src: src, ua: r.UserAgent(),
		base: scheme + "://" + r.Host + strings.TrimSuffix(p.cfg.PathPrefix, "/"),
		auth: func(mac MAC, secret string) authResult { return p.digest.check(r, mac, secret, p.now()) },
	}
	o := p.serve(r.Context(), f)
	switch {
	case o.status == http.StatusOK && o.firmware != "":
		http.ServeFileFS(w, r, p.cfg.Firmware, o.firmware)
	case o.status == http.StatusOK:
		w.Header().Set("Content-Type", o.ctype)
		w.Header().Set("Cache-Control", "no-store")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(o.body))
	case o.status == http.StatusUnauthorized:
		p.digest.challenge(w, r, p.now())
		http.Error(w, "unauthorized", o.status)
	case o.status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(60/max(1, p.cfg.RequestsPerMinute)+1))
		http.Error(w, "too many requests", o.status)
	default:
		http.Error(w, http.StatusText(o.status), o.status)
	}
}
