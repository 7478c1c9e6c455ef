package sip

import (
	"context"
	"errors"
	"fmt"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Ping sends an OPTIONS of the proxy's own to t (a gateway probe, a
// keepalive) from our listener for its transport, and returns the final
// response. from is the From URI ("sip:prober@localhost" as OpenSIPS's
// drouting probes use); empty means sip:ping@<our address>. A target that
// does not answer makes Ping fail with an error wrapping
// sipmsg.ErrTransactionTimeout after 32 s (64*T1) or when ctx ends; a
// target off loopback from a listener bound to it fails at once with
// ErrNotLoopback, nothing sent.
func (s *Server) Ping(ctx context.Context, t Target, from string) (*Response, error) {
	req := sipmsg.NewRequest(OPTIONS, *t.URI.Clone())
	tp := t.transport(nil)
	if err := s.addVia(req, tp, newBranch("")); err != nil {
		return nil, err
	}
	mf := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	var fu URI
	if from != "" {
		u, err := ParseURI(from)
		if err != nil {
			return nil, fmt.Errorf("sip: ping from %q: %w", from, err)
		}
		fu = u
	} else if ls, ok := s.local.listen(tp); ok {
		fu = URI{Scheme: "sip", User: "ping", Host: ls.host, Port: ls.port}
	}
	fh := &sipmsg.FromHeader{Address: fu}
	fh.Params.Add("tag", sipmsg.GenerateTagN(12))
	req.AppendHeader(fh)
	req.AppendHeader(&sipmsg.ToHeader{Address: URI{Scheme: t.URI.Scheme, User: t.URI.User, Host: t.URI.Host, Port: t.URI.Port}})
	cid := sipmsg.CallIDHeader(sipmsg.GenerateTagN(24))
	req.AppendHeader(&cid)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: OPTIONS})
	req.SetBody(nil)
	req.SetDestination(t.NextHop)
	tx, err := s.tr.request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sip: ping %s: %w", t, err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.StatusCode >= 200 {
				return res, nil
			}
		case <-tx.Done():
			err := tx.Err()
			if err == nil {
				err = errors.New("transaction ended")
			}
			return nil, fmt.Errorf("sip: ping %s: %w", t, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("sip: ping %s: %w", t, ctx.Err())
		}
	}
}
