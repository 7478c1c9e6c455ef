package admin

import (
	"context"
	"net/http"
	"strings"

	"github.com/palio-voip/palio/accounting"
)

// reportOptions reads a report's period (from, to: as the CDR filters;
// default the last 24 hours up to now) and fills what the report adds
// up by: the departments (Config.Departments) and the blocked accounts.
func (h *Handler) reportOptions(ctx context.Context, r *http.Request) (accounting.ReportOptions, error) {
	f, err := h.cdrFilter(r)
	if err != nil {
		return accounting.ReportOptions{}, err
	}
	if f.To.IsZero() {
		f.To = h.now()
	}
	opts := accounting.ReportOptions{From: f.From, To: f.To, User: f.User}
	if h.cfg.Departments != nil {
		if opts.Departments, err = h.cfg.Departments.Departments(ctx); err != nil {
			return opts, err
		}
	}
	if h.cfg.Accounts != nil {
		subs, err := h.cfg.Accounts.ListSubscribers(ctx)
		if err != nil {
			return opts, err
		}
		blocked := map[string]bool{}
		for _, s := range subs {
			if s.Blocked {
				blocked[s.Username] = true
			}
		}
		opts.Blocked = func(u string) bool { return blocked[u] }
	}
	return opts, nil
}

// report builds the report of opts (accounting.BuildReport, as `unisi
// report` does).
func (h *Handler) report(ctx context.Context, opts accounting.ReportOptions) (accounting.Report, error) {
	if h.cfg.CDRs == nil {
		return accounting.Report{}, errNotConfigured
	}
	rep, err := accounting.BuildReport(ctx, h.cfg.CDRs, opts)
	if err != nil {
		return rep, err
	}
	for _, l := range []*[]accounting.Line{&rep.Days, &rep.Classes, &rep.Gateways, &rep.Users, &rep.Departments, &rep.Destinations} {
		*l = nonNil(*l)
	}
	return rep, nil
}

// listReport is the calls and costs of a period: totals, and per day,
// class, gateway, account, department and destination.
func (h *Handler) listReport(w http.ResponseWriter, r *http.Request) error {
	opts, err := h.reportOptions(r.Context(), r)
	if err != nil {
		return err
	}
	rep, err := h.report(r.Context(), opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// accountReport is an account's own calls and costs: the report of its
// calls alone.
func (h *Handler) accountReport(w http.ResponseWriter, r *http.Request) error {
	rep, err := h.accountReportOf(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (h *Handler) accountReportOf(r *http.Request) (accounting.Report, error) {
	sub, err := h.account(r.Context(), r.PathValue("account"))
	if err != nil {
		return accounting.Report{}, err
	}
	opts, err := h.reportOptions(r.Context(), r)
	if err != nil {
		return accounting.Report{}, err
	}
	opts.User = sub.Username
	rep, err := h.report(r.Context(), opts)
	if err != nil {
		return rep, err
	}
	// Only the account's own lines: a call between two accounts counts
	// for both, and the other's line is not this user's business.
	own := rep.Users[:0]
	for _, l := range rep.Users {
		if u, _, _ := strings.Cut(l.Key, "@"); u == sub.Username {
			own = append(own, l)
		}
	}
	rep.Users, rep.Departments, rep.Blocked = own, []accounting.Line{}, []accounting.CDR{}
	return rep, nil
}

// reportsPage is the report of a period, with the period and an account
// to search by.
func (h *Handler) reportsPage(r *http.Request) (string, string, any, error) {
	opts, err := h.reportOptions(r.Context(), r)
	if err != nil {
		return "", "", nil, err
	}
	rep, err := h.report(r.Context(), opts)
	if err != nil {
		return "", "", nil, err
	}
	q := r.URL.Query()
	from := q.Get("from")
	if from == "" {
		from = opts.From.Format("2006-01-02")
	}
	return "reports", "Reports and costs", map[string]any{"From": from, "To": q.Get("to"), "User": q.Get("user"), "Report": rep}, nil
}
