package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/palio-voip/palio/sip"
)

// Pipeline is the router's pipeline dry run: `route NUMBER -from USER`.
// DryRun runs a synthetic INVITE from the account from to number,
// received from src ("ip:port"; empty: the program's default source),
// through the stages the server runs (sip.RunDry with
// registrar.AsCaller), and returns what they decided. An error it returns
// from sip.NewDryRunInvite names a bad src; others are the stores'.
type Pipeline interface {
	DryRun(ctx context.Context, number, from, src string) (sip.DryRun, error)
}

// RouteStep is one stage's decision in a dry run.
type RouteStep struct {
	Stage    string `json:"stage"`
	Decision string `json:"decision"`
}

// RouteTarget is one target of a dry run's target set.
type RouteTarget struct {
	URI       string `json:"uri"`
	NextHop   string `json:"next_hop,omitempty"`
	Transport string `json:"transport,omitempty"`
	// Gateway is empty for a phone.
	Gateway string `json:"gateway,omitempty"`
}

// Route is a pipeline dry run's answer: each stage's decision, the
// request and targets it would be forwarded with, and the outcome, with
// Text as `unisi route` prints it.
type Route struct {
	Number string `json:"number"`
	From   string `json:"from"`
	Src    string `json:"src,omitempty"`
	// Steps are the stages' decisions, in order.
	Steps []RouteStep `json:"steps"`
	// Request is the Request-URI the INVITE would be sent with; empty
	// when no stage passed it on (Forwarded false).
	Request   string        `json:"request,omitempty"`
	Targets   []RouteTarget `json:"targets"`
	Forwarded bool          `json:"forwarded"`
	// Code and Reason are the outcome: 200 "would forward", or the
	// refusal a stage returned (Refused).
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Refused bool   `json:"refused"`
	// Text is the dry run as the CLI prints it.
	Text string `json:"text"`
}

// RouteOf returns d as the API shows it.
func RouteOf(number, from, src string, d sip.DryRun) Route {
	out := Route{Number: number, From: from, Src: src, Steps: []RouteStep{}, Targets: []RouteTarget{},
		Forwarded: d.Forwarded(), Code: d.Code, Reason: d.Reason, Refused: d.Refused, Text: d.String()}
	for _, e := range d.Trace {
		s := RouteStep{Stage: e.Stage}
		if e.Decision != nil {
			s.Decision = e.Decision.String()
		}
		out.Steps = append(out.Steps, s)
	}
	if d.Request != nil {
		out.Request = d.Request.Recipient.String()
	}
	for _, t := range d.Targets {
		out.Targets = append(out.Targets, RouteTarget{URI: t.URI.String(), NextHop: t.NextHop, Transport: t.Transport, Gateway: t.Gateway})
	}
	return out
}

// routeRequest is the body of POST /route, and the query of GET /route.
type routeRequest struct {
	Number string `json:"number"`
	From   string `json:"from"`
	Src    string `json:"src"`
}

// dryRun checks req and runs it.
func (h *Handler) dryRun(ctx context.Context, req routeRequest) (Route, error) {
	if h.cfg.Pipeline == nil {
		return Route{}, errNotConfigured
	}
	req.Number, req.From, req.Src = strings.TrimSpace(req.Number), strings.TrimSpace(req.From), strings.TrimSpace(req.Src)
	if req.Number == "" {
		return Route{}, fieldErr("number", errors.New("required"))
	}
	if err := sip.CheckUserPart(req.Number); err != nil {
		return Route{}, fieldErr("number", err)
	}
	if req.From == "" {
		return Route{}, fieldErr("from", errors.New("required"))
	}
	if err := sip.CheckUserPart(req.From); err != nil {
		return Route{}, fieldErr("from", err)
	}
	if req.Src != "" {
		if _, err := sip.NewDryRunInvite(req.Number, req.From, h.cfg.Domain, req.Src); err != nil {
			return Route{}, fieldErr("src", errors.New(strings.TrimPrefix(err.Error(), "sip: ")))
		}
	}
	d, err := h.cfg.Pipeline.DryRun(ctx, req.Number, req.From, req.Src)
	if err != nil {
		return Route{}, err
	}
	return RouteOf(req.Number, req.From, req.Src, d), nil
}

// route is `route NUMBER -from USER` on the running router: GET with
// number, from and src in the query, or POST with them in a JSON body.
// It changes nothing and is not audited.
func (h *Handler) route(w http.ResponseWriter, r *http.Request) error {
	var req routeRequest
	if r.Method == http.MethodPost {
		if err := readJSON(r, &req); err != nil {
			return err
		}
	} else {
		q := r.URL.Query()
		req = routeRequest{Number: q.Get("number"), From: q.Get("from"), Src: q.Get("src")}
	}
	out, err := h.dryRun(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// routePage is the dry run's form and, once asked, its answer.
func (h *Handler) routePage(r *http.Request) (string, string, any, error) {
	if h.cfg.Pipeline == nil {
		return "", "", nil, errNotConfigured
	}
	q := r.URL.Query()
	req := routeRequest{Number: q.Get("number"), From: q.Get("from"), Src: q.Get("src")}
	data := map[string]any{"Q": req, "Field": "", "Error": ""}
	if req.Number != "" || req.From != "" {
		out, err := h.dryRun(r.Context(), req)
		var fe *sip.FieldError
		switch {
		case errors.As(err, &fe):
			data["Error"], data["Field"] = fe.Field+": "+trimPrefix(fe.Err.Error()), fe.Field
		case err != nil:
			return "", "", nil, err
		default:
			data["Route"] = out
		}
	}
	return "route", "Route dry run", data, nil
}
