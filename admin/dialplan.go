package admin

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/palio-voip/palio/dialplan"
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
