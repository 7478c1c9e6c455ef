package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/sip"
)

// Dialplan is the router's dialplan, for the translate dry run (a
// *dialplan.Plan has it): the rules the running server uses.
type Dialplan interface {
	Translate(dpid int, input string) (dialplan.Result, bool)
	Explain(dpid int, input string) dialplan.Explanation
}

// Translation is a translate dry run's answer, as `unisi translate DPID
// NUMBER -explain` prints it.
type Translation struct {
	DPID    int    `json:"dpid"`
	Input   string `json:"input"`
	Matched bool   `json:"matched"`
	Output  string `json:"output,omitempty"`
	Attrs   string `json:"attrs,omitempty"`
	RuleID  int    `json:"rule,omitempty"`
	// Explain says which rule matched and which were candidates.
	Explain string `json:"explain"`
}

// translate is dp_translate on the running rules, changing nothing.
func (h *Handler) translate(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Dialplan == nil {
		return errNotConfigured
	}
	q := r.URL.Query()
	dpid, err := strconv.Atoi(q.Get("dpid"))
	if err != nil || dpid < 0 {
		return fieldErr("dpid", errors.New("want a number from 0"))
	}
	number := q.Get("number")
	if number == "" {
		return fieldErr("number", errors.New("required"))
	}
	t := Translation{DPID: dpid, Input: number, Explain: h.cfg.Dialplan.Explain(dpid, number).String()}
	if res, ok := h.cfg.Dialplan.Translate(dpid, number); ok {
		t.Matched, t.Output, t.Attrs, t.RuleID = true, res.Output, res.Attrs, res.RuleID
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// Rule is a dialplan rule as the API shows and takes it: the columns of
// OpenSIPS's dialplan table, under their names.
type Rule struct {
	ID         int    `json:"id"`
	DPID       int    `json:"dpid"`
	Priority   int    `json:"pr"`
	MatchOp    int    `json:"match_op"`
	MatchExp   string `json:"match_exp"`
	MatchFlags int    `json:"match_flags"`
	SubstExp   string `json:"subst_exp"`
	ReplExp    string `json:"repl_exp"`
	TimeRec    string `json:"timerec"`
	Disabled   bool   `json:"disabled"`
	Attrs      string `json:"attrs"`
}

func ruleOf(r dialplan.Rule) Rule {
	return Rule{ID: r.ID, DPID: r.DPID, Priority: r.Priority, MatchOp: int(r.MatchOp), MatchExp: r.MatchExp, MatchFlags: r.MatchFlags,
		SubstExp: r.SubstExp, ReplExp: r.ReplExp, TimeRec: r.TimeRec, Disabled: r.Disabled, Attrs: r.Attrs}
}

func (r Rule) rule() dialplan.Rule {
	return dialplan.Rule{ID: r.ID, DPID: r.DPID, Priority: r.Priority, MatchOp: dialplan.MatchOp(r.MatchOp), MatchExp: r.MatchExp, MatchFlags: r.MatchFlags,
		SubstExp: r.SubstExp, ReplExp: r.ReplExp, TimeRec: r.TimeRec, Disabled: r.Disabled, Attrs: r.Attrs}
}

// ruleEdit is the body of a rule's edit: the fields given change.
type ruleEdit struct {
	DPID       *int    `json:"dpid"`
	Priority   *int    `json:"pr"`
	MatchOp    *int    `json:"match_op"`
	MatchExp   *string `json:"match_exp"`
	MatchFlags *int    `json:"match_flags"`
	SubstExp   *string `json:"subst_exp"`
	ReplExp    *string `json:"repl_exp"`
	TimeRec    *string `json:"timerec"`
	Disabled   *bool   `json:"disabled"`
	Attrs      *string `json:"attrs"`
}

// CheckRule checks a rule with dialplan.Rule.Validate (a rule that would
// be discarded at load time is refused) and answers the field at fault
// (dpid, match_op, match_exp, match_flags, subst_exp, repl_exp or
// timerec) with the library's reason, less what the form already shows:
// the package, the rule and the field's name.
func CheckRule(r dialplan.Rule) error {
	err := r.Validate()
	var fe *sip.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	msg := strings.TrimPrefix(fe.Err.Error(), "dialplan: ")
	if strings.HasPrefix(msg, "rule ") {
		_, msg, _ = strings.Cut(msg, ": ")
	}
	msg = strings.TrimPrefix(strings.TrimPrefix(msg, fe.Field+": "), fe.Field+" ")
	return fieldErr(fe.Field, errors.New(msg))
}

func (h *Handler) rules() (dialplan.Store, error) {
	if h.cfg.Rules == nil {
		return nil, errNotConfigured
	}
	return h.cfg.Rules, nil
}

// reloadDialplan makes this node's dialplan take a rule's change at once
// when it can (a *dialplan.Plan); the others follow the store's change
// counter. A failure is logged: the write is done.
func (h *Handler) reloadDialplan(r *http.Request) {
	rl, ok := h.cfg.Dialplan.(interface {
		Reload(ctx context.Context) (dialplan.Report, error)
	})
	if !ok {
		return
	}
	if _, err := rl.Reload(context.WithoutCancel(r.Context())); err != nil {
		h.log.Warn("admin: dialplan not reloaded after a write", "error", err)
	}
}

// listRules lists the rules: of one dpid with ?dpid=, those whose match
// or attrs hold ?q=.
func (h *Handler) listRules(w http.ResponseWriter, r *http.Request) error {
	out, err := h.findRules(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) findRules(r *http.Request) ([]Rule, error) {
	st, err := h.rules()
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	dpid := -1
	if s := q.Get("dpid"); s != "" {
		if dpid, err = strconv.Atoi(s); err != nil || dpid < 0 {
			return nil, fieldErr("dpid", errors.New("want a number from 0"))
		}
	}
	search := strings.ToLower(strings.TrimSpace(q.Get("q")))
	list, err := st.Rules(r.Context())
	if err != nil {
		return nil, err
	}
	out := []Rule{}
	for _, x := range list {
		if dpid >= 0 && x.DPID != dpid {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(x.MatchExp+"\x00"+x.ReplExp+"\x00"+x.Attrs), search) {
			continue
		}
		out = append(out, ruleOf(x))
	}
	return out, nil
}

// ruleID reads {id}.
func ruleID(r *http.Request) (int, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		return 0, fieldErr("id", errors.New("want a number from 1"))
	}
	return id, nil
}

func (h *Handler) getRule(w http.ResponseWriter, r *http.Request) error {
	st, err := h.rules()
	if err != nil {
		return err
	}
	id, err := ruleID(r)
	if err != nil {
		return err
	}
	x, err := st.Rule(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ruleOf(x))
	return nil
}

// ruleDetail is a rule's values for the audit log.
func ruleDetail(x Rule) string {
	return fmt.Sprintf("dpid=%d pr=%d match_op=%d match_exp=%q match_flags=%d subst_exp=%q repl_exp=%q timerec=%q disabled=%v attrs=%q",
		x.DPID, x.Priority, x.MatchOp, x.MatchExp, x.MatchFlags, x.SubstExp, x.ReplExp, x.TimeRec, x.Disabled, x.Attrs)
}

func (h *Handler) createRule(w http.ResponseWriter, r *http.Request) error {
	st, err := h.rules()
	if err != nil {
		return err
	}
	var req Rule
	if err := readJSON(r, &req); err != nil {
		return err
	}
	x := req.rule()
	if err := CheckRule(x); err != nil {
		return err
	}
	x, err = st.AddRule(r.Context(), x)
	if err != nil {
		return err
	}
	out := ruleOf(x)
	h.audit(r, "dialplan.create", "rule "+strconv.Itoa(x.ID), ruleDetail(out))
	h.reloadDialplan(r)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// setIf sets *dst to *v when the request gave v.
func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (h *Handler) editRule(w http.ResponseWriter, r *http.Request) error {
	st, err := h.rules()
	if err != nil {
		return err
	}
	id, err := ruleID(r)
	if err != nil {
		return err
	}
	var req ruleEdit
	if err := readJSON(r, &req); err != nil {
		return err
	}
	cur, err := st.Rule(r.Context(), id)
	if err != nil {
		return err
	}
	next := ruleOf(cur)
	setIf(&next.DPID, req.DPID)
	setIf(&next.Priority, req.Priority)
	setIf(&next.MatchOp, req.MatchOp)
	setIf(&next.MatchExp, req.MatchExp)
	setIf(&next.MatchFlags, req.MatchFlags)
	setIf(&next.SubstExp, req.SubstExp)
	setIf(&next.ReplExp, req.ReplExp)
	setIf(&next.TimeRec, req.TimeRec)
	setIf(&next.Attrs, req.Attrs)
	setIf(&next.Disabled, req.Disabled)
	if next == ruleOf(cur) {
		writeJSON(w, http.StatusOK, next)
		return nil
	}
	if err := CheckRule(next.rule()); err != nil {
		return err
	}
	if err := st.UpdateRule(r.Context(), next.rule()); err != nil {
		return err
	}
	h.audit(r, "dialplan.edit", "rule "+strconv.Itoa(id), ruleDetail(next))
	h.reloadDialplan(r)
	writeJSON(w, http.StatusOK, next)
	return nil
}

func (h *Handler) deleteRule(w http.ResponseWriter, r *http.Request) error {
	st, err := h.rules()
	if err != nil {
		return err
	}
	id, err := ruleID(r)
	if err != nil {
		return err
	}
	if err := st.DeleteRule(r.Context(), id); err != nil {
		return err
	}
	h.audit(r, "dialplan.delete", "rule "+strconv.Itoa(id), "")
	h.reloadDialplan(r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dialplanPage lists the rules (search by pattern or class, a rule set),
// with the forms for a new rule and for the translate dry run.
func (h *Handler) dialplanPage(r *http.Request) (string, string, any, error) {
	list, err := h.findRules(r)
	var fe *sip.FieldError
	if errors.As(err, &fe) {
		list, err = []Rule{}, nil
	}
	if err != nil {
		return "", "", nil, err
	}
	q := r.URL.Query()
	data := map[string]any{"Q": q.Get("q"), "DPID": q.Get("dpid"), "Rules": list, "New": Rule{},
		"Number": q.Get("number"), "TDPID": q.Get("translate_dpid"), "Translation": nil, "TError": ""}
	if n := q.Get("number"); n != "" && h.cfg.Dialplan != nil {
		dpid, err := strconv.Atoi(q.Get("translate_dpid"))
		if err != nil || dpid < 0 {
			data["TError"] = "translate_dpid: want a number from 0"
		} else {
			t := Translation{DPID: dpid, Input: n, Explain: h.cfg.Dialplan.Explain(dpid, n).String()}
			if res, ok := h.cfg.Dialplan.Translate(dpid, n); ok {
				t.Matched, t.Output, t.Attrs, t.RuleID = true, res.Output, res.Attrs, res.RuleID
			}
			data["Translation"] = t
		}
	}
	return "dialplan", "Dialplan", data, nil
}

// rulePage is a rule's edit form.
func (h *Handler) rulePage(r *http.Request) (string, string, any, error) {
	st, err := h.rules()
	if err != nil {
		return "", "", nil, err
	}
	id, err := ruleID(r)
	if err != nil {
		return "", "", nil, err
	}
	x, err := st.Rule(r.Context(), id)
	if err != nil {
		return "", "", nil, err
	}
	return "rule", "Dialplan rule " + strconv.Itoa(id), ruleOf(x), nil
}
