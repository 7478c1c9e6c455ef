package sip

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	sipmsg "github.com/emiago/sipgo/sip"
)

// DryRunReason is the reason phrase of the 200 a dry run's terminal
// answers in place of forwarding.
const DryRunReason = "OK (dry run: would forward)"

// DryRun is what a request would do in a pipeline, found by running it
// there (RunDry): the same stages the server runs, with a terminal that
// records the request and its target set instead of sending. Each stage
// writes its decision into the call's record, as on the server, so the
// explanation cannot drift from what the server does. This is what the
// `route NUMBER -from USER` command prints and the admin API serves.
type DryRun struct {
	// Notes are remarks of whoever ran it, shown before the trace (a
	// gateway state set aside for the run, say).
	Notes []string
	// Trace is each stage's decision, in order: the call record's trace.
	Trace []TraceEntry
	// Request is the request as it reached the terminal, with the
	// Request-URI it would carry; nil when no stage passed it on.
	Request *Request
	// Targets is the target set it carried there (empty: the
	// Request-URI).
	Targets []Target
	// Code and Reason are the outcome: the terminal's 200
	// (DryRunReason), the answer of a local responder, or the refusal a
	// stage returned.
	Code   int
	Reason string
	// Refused is set when the pipeline returned a StatusError: the call
	// would fail with Code.
	Refused bool
}

// Forwarded reports whether the request reached the terminal: the
// server would have sent it.
func (d DryRun) Forwarded() bool { return d.Request != nil }

// WriteTo writes d as `route` prints it, one record a line,
// tab-separated: "note", the trace ("stage<TAB>decision"), "request",
// "target N URI GATEWAY" ("-" for a phone) and "result CODE REASON".
func (d DryRun) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for _, n := range d.Notes {
		b.WriteString("note\t" + n + "\n")
	}
	for _, e := range d.Trace {
		b.WriteString(e.String() + "\n")
	}
	if d.Request != nil {
		b.WriteString("request\tINVITE " + d.Request.Recipient.String() + "\n")
	}
	for i, tg := range d.Targets {
		gw := tg.Gateway
		if gw == "" {
			gw = "-"
		}
		fmt.Fprintf(&b, "target\t%d\t%s\t%s\n", i+1, tg.String(), gw)
	}
	fmt.Fprintf(&b, "result\t%d %s\n", d.Code, d.Reason)
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// String returns d as WriteTo writes it.
func (d DryRun) String() string {
	var b strings.Builder
	d.WriteTo(&b)
	return b.String()
}

// NewDryRunInvite returns the synthetic INVITE of a dry run: from
// from@domain to number@domain, received over UDP from src ("ip:port"),
// with a fresh Call-ID ("route-…"), branch and tag. The source decides
// what the source check makes of it (a gateway's address is trusted, a
// phone's is not).
func NewDryRunInvite(number, from, domain, src string) (*Request, error) {
	host, p, err := net.SplitHostPort(src)
	if err != nil {
		return nil, fmt.Errorf("sip: dry run source %q: want ip:port", src)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("sip: dry run source %q: bad port", src)
	}
	req := sipmsg.NewRequest(INVITE, URI{Scheme: "sip", User: number, Host: domain})
	req.AppendHeader(&sipmsg.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: host, Port: port,
		Params: sipmsg.HeaderParams{{K: "branch", V: sipmsg.GenerateBranch()}}})
	mf := sipmsg.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	fh := &sipmsg.FromHeader{Address: URI{Scheme: "sip", User: from, Host: domain}}
	fh.Params.Add("tag", sipmsg.GenerateTagN(10))
	req.AppendHeader(fh)
	req.AppendHeader(&sipmsg.ToHeader{Address: URI{Scheme: "sip", User: number, Host: domain}})
	cid := sipmsg.CallIDHeader("route-" + sipmsg.GenerateTagN(12))
	req.AppendHeader(&cid)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: INVITE})
	req.AppendHeader(&sipmsg.ContactHeader{Address: URI{Scheme: "sip", User: from, Host: host, Port: port}})
	req.SetBody(nil)
	req.SetSource(src)
	req.SetTransport("UDP")
	return req, nil
}

// RunDry runs req through the pipeline mw builds in front of a terminal
// that records the request and its targets and answers 200
// (DryRunReason), with a fresh call record (NewCall), and returns what
// happened. A StatusError from the pipeline is the dry run's outcome
// (Refused); any other error (a store that failed) is returned with what
// was traced so far.
//
// The stages run for real: their metrics count the call, and a routing
// stage reserves a trunk's channel for the attempt and gives it back when
// the terminal returns. Nothing is sent and no dialog is created, so the
// call record's end hooks never run.
func RunDry(ctx context.Context, mw Middleware, req *Request) (DryRun, error) {
	var d DryRun
	var mu sync.Mutex
	term := HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		mu.Lock()
		d.Request, d.Targets = r, TargetsFrom(ctx)
		mu.Unlock()
		return w.WriteResponse(NewResponse(r, 200, DryRunReason))
	})
	call := NewCall(req)
	w := &dryRunWriter{}
	err := mw(term).ServeSIP(WithCall(ctx, call), w, req)
	mu.Lock()
	defer mu.Unlock()
	d.Trace = call.TraceEntries()
	if err == nil {
		d.Code, d.Reason = w.result()
		return d, nil
	}
	se, ok := AsStatus(err)
	if !ok {
		return d, err
	}
	d.Code, d.Reason, d.Refused = se.Code, statusReason(se), true
	return d, nil
}

// statusReason is se's reason phrase: its own, its response's, or the
// standard one.
func statusReason(se *StatusError) string {
	if se.Reason != "" {
		return se.Reason
	}
	if se.Response != nil {
		return se.Response.Reason
	}
	return ReasonPhrase(se.Code)
}

// dryRunWriter is the ResponseWriter of a dry run: it keeps the first
// final response.
type dryRunWriter struct {
	mu     sync.Mutex
	status int
	reason string
}

func (w *dryRunWriter) WriteResponse(res *Response) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if res.StatusCode >= 200 && w.status == 0 {
		w.status, w.reason = res.StatusCode, res.Reason
	}
	return nil
}

func (w *dryRunWriter) Status() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

func (w *dryRunWriter) result() (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status, w.reason
}
