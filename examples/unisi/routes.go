package main

import (
	"context"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/palio-voip/palio/sip"
)

// staticRoutes is the route table of the configuration file, compiled: a
// stand-in for the routing package until it lands.
type staticRoutes struct {
	exact    map[string][]sip.Target
	prefixes []prefixRoute // longest first
}

type prefixRoute struct {
	prefix  string
	targets []sip.Target
}

func compileRoutes(rs []RouteConfig) (*staticRoutes, error) {
	t := &staticRoutes{exact: map[string][]sip.Target{}}
	for _, r := range rs {
		var targets []sip.Target
		for _, s := range r.Targets {
			u, err := sip.ParseURI(s)
			if err != nil {
				return nil, err
			}
			targets = append(targets, sip.Target{URI: u})
		}
		if r.Number != "" {
			t.exact[r.Number] = targets
		} else {
			t.prefixes = append(t.prefixes, prefixRoute{r.Prefix, targets})
		}
	}
	sort.SliceStable(t.prefixes, func(i, j int) bool { return len(t.prefixes[i].prefix) > len(t.prefixes[j].prefix) })
	return t, nil
}

func (t *staticRoutes) lookup(user string) []sip.Target {
	if ts, ok := t.exact[user]; ok {
		return ts
	}
	for _, p := range t.prefixes {
		if strings.HasPrefix(user, p.prefix) {
			return p.targets
		}
	}
	return nil
}

// routeStage sends each call to the targets of the static table; numbers
// it does not know get 404.
type routeStage struct {
	table atomic.Pointer[staticRoutes]
}

func (s *routeStage) Wrap(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		targets := s.table.Load().lookup(r.Recipient.User)
		if len(targets) == 0 {
			return sip.Reject(404, "Not Found")
		}
		// Each target keeps the dialled number in its Request-URI.
		out := make([]sip.Target, len(targets))
		for i, t := range targets {
			out[i] = t
			if out[i].URI.User == "" {
				out[i].URI.User = r.Recipient.User
			}
		}
		return next.ServeSIP(sip.WithTargets(ctx, out...), w, r)
	})
}
