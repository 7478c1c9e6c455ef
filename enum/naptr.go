package enum

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// maxQueries bounds the DNS queries one lookup makes while following
// non-terminal records, whatever their fan-out.
const maxQueries = 16

// walk is the state of one lookup: the DDDS loop of RFC 3402 §3.2 over the
// NAPTR records of the number's domain and of the domains non-terminal
// records lead to.
type walk struct {
	r       *Resolver
	aus     string // the Application Unique String: "+" and the digits
	queries int
	visited []string
	results []Result
	minTTL  uint32 // of everything the answer depends on, for the cache
	err     error  // the first failure of a followed name
}

// follow queries name and adds the results its NAPTR records lead to.
// depth counts the non-terminal records followed to get here; ttl is the
// smallest TTL on the way. It returns an error only when the query of name
// failed (timeout, SERVFAIL); NXDOMAIN and NODATA add nothing.
func (w *walk) follow(ctx context.Context, name string, depth int, ttl uint32) error {
	if slices.Contains(w.visited, name) {
		return nil // a loop, or two records leading to the same place
	}
	if w.queries == maxQueries {
		w.r.log.Debug("enum: too many queries, not following", "name", name)
		return nil
	}
	w.visited = append(w.visited, name)
	w.queries++
	recs, owner, m, err := query[*dns.NAPTR](ctx, w.r, name, dns.TypeNAPTR)
	if err != nil {
		if depth > 0 && w.err == nil {
			w.err = err
		}
		return err
	}
	if len(recs) == 0 {
		w.ttl(negativeTTL(m))
		return nil
	}
	slices.SortStableFunc(recs, func(a, b *dns.NAPTR) int {
		if c := cmp.Compare(a.Order, b.Order); c != 0 {
			return c
		}
		return cmp.Compare(a.Preference, b.Preference)
	})
	for _, rec := range recs {
		t := min(ttl, rec.Hdr.Ttl)
		w.ttl(t)
		switch {
		case strings.EqualFold(rec.Flags, "u"):
			w.terminal(rec, t)
		case rec.Flags == "":
			w.nonTerminal(ctx, rec, owner, depth, t)
		}
		// Other flags ("s", "a", "p") belong to other DDDS applications.
	}
	return nil
}

// terminal adds the URI of a terminal ("u") record of the wanted service.
func (w *walk) terminal(rec *dns.NAPTR, ttl uint32) {
	if !serviceMatches(rec.Service, w.r.want) {
		return
	}
	rule, err := parseRegexp(rec.Regexp)
	if err != nil {
		w.r.log.Debug("enum: ignoring NAPTR", "rr", rec.String(), "error", err)
		return
	}
	uri, ok := rule.apply(w.aus)
	if !ok || uri == "" {
		return
	}
	for _, res := range w.results {
		if res.URI == uri {
			return
		}
	}
	w.results = append(w.results, Result{
		Order:      rec.Order,
		Preference: rec.Preference,
		Service:    rec.Service,
		URI:        uri,
		TTL:        time.Duration(ttl) * time.Second,
	})
}

// nonTerminal follows a record with empty flags (RFC 3403 §4.1, RFC 6116)
// to the domain its replacement field, or else its regexp, names. Its
// service must be empty or an E2U one.
func (w *walk) nonTerminal(ctx context.Context, rec *dns.NAPTR, owner string, depth int, ttl uint32) {
	if rec.Service != "" && !hasFoldPrefix(rec.Service, "e2u") {
		return
	}
	next := ""
	switch {
	case rec.Replacement != "" && rec.Replacement != ".":
		next = rec.Replacement
	case rec.Regexp != "":
		rule, err := parseRegexp(rec.Regexp)
		if err != nil {
			w.r.log.Debug("enum: ignoring NAPTR", "rr", rec.String(), "error", err)
			return
		}
		out, ok := rule.apply(w.aus)
		if !ok {
			return
		}
		next = dns.Fqdn(out)
	default:
		return
	}
	if _, ok := dns.IsDomainName(next); !ok {
		w.r.log.Debug("enum: ignoring NAPTR leading to a bad name", "owner", owner, "name", next)
		return
	}
	if depth+1 > w.r.cfg.MaxDepth {
		w.r.log.Debug("enum: non-terminal chain too deep, not following", "owner", owner, "name", next)
		return
	}
	_ = w.follow(ctx, strings.ToLower(next), depth+1, ttl)
}

func (w *walk) ttl(t uint32) { w.minTTL = min(w.minTTL, t) }

// maxCNAMEs bounds the CNAME chain followed for one name.
const maxCNAMEs = 8

// query asks for name's records of type T (qtype), following CNAMEs: those
// in the answer, then, when the answer stops at an alias whose target it
// does not include, with new queries. It returns the records, the name
// that owns them and the last answer (for its SOA, when there are none).
func query[T dns.RR](ctx context.Context, r *Resolver, name string, qtype uint16) ([]T, string, *dns.Msg, error) {
	for range maxCNAMEs {
		m, err := r.exchange(ctx, name, qtype)
		if err != nil {
			return nil, name, nil, err
		}
		rrs, owner := answers[T](m, name)
		if len(rrs) > 0 || owner == name || m.Rcode != dns.RcodeSuccess {
			return rrs, owner, m, nil
		}
		name = strings.ToLower(owner)
	}
	return nil, name, new(dns.Msg), nil
}

// answers returns the records of type T the answer has for name, directly
// or through CNAMEs in the same answer, and the name that owns them (or
// the end of the alias chain, when it has none).
func answers[T dns.RR](m *dns.Msg, name string) ([]T, string) {
	for range maxCNAMEs {
		var out []T
		cname := ""
		for _, rr := range m.Answer {
			if !strings.EqualFold(rr.Header().Name, name) {
				continue
			}
			switch v := rr.(type) {
			case T:
				out = append(out, v)
			case *dns.CNAME:
				cname = v.Target
			}
		}
		if len(out) > 0 || cname == "" {
			return out, name
		}
		name = cname
	}
	return nil, name
}

// negativeTTL is how long a negative answer may be cached (RFC 2308 §5):
// the smaller of the TTL and the MINIMUM field of the SOA in the authority
// section; 0, not cached, when there is no SOA.
func negativeTTL(m *dns.Msg) uint32 {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return 0
}

// wantedService returns the enumservice a Service setting asks for, lower
// case: "E2U+sip" asks for "sip", "E2U+voice:sip" for "voice:sip".
func wantedService(s string) string {
	s = strings.ToLower(s)
	s = strings.TrimPrefix(s, "e2u+")
	return s
}

// serviceMatches reports whether a NAPTR Service field offers the wanted
// enumservice: "E2U" followed by "+"-separated enumservices (the syntax of
// RFC 3761, kept by RFC 6116), one of which equals want ignoring case; for
// "sip", also the RFC 2916 form "sip+E2U".
func serviceMatches(service, want string) bool {
	if want == "sip" && strings.EqualFold(service, "sip+e2u") {
		return true
	}
	if !hasFoldPrefix(service, "e2u+") {
		return false
	}
	for s := range strings.SplitSeq(service[4:], "+") {
		if strings.EqualFold(s, want) {
			return true
		}
	}
	return false
}

func hasFoldPrefix(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
