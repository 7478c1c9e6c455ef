package features

import (
	"strings"
	"testing"

	"github.com/palio-voip/palio/sip/siptest"

	"github.com/palio-voip/palio/sip"
)

// TestHistory: each mode writes what it says, and a second hop counts
// on from the first.
func TestHistory(t *testing.T) {
	for _, tt := range []struct {
		mode        DiversionMode
		diversion   []string
		historyInfo []string
	}{
		{Diversion, []string{"<sip:5003@voip.unisi.it>;reason=no-answer;counter=2", "<sip:5002@voip.unisi.it>;reason=user-busy;counter=1"}, nil},
		{HistoryInfo, nil, []string{"<sip:5002@voip.unisi.it?Reason=SIP%3Bcause%3D486>;index=1", "<sip:5003@voip.unisi.it>;index=1.1;rc=1", "<sip:5004@voip.unisi.it>;index=1.2;rc=1"}},
		{NoDiversion, nil, nil},
	} {
		f := &Features{cfg: Config{Diversion: tt.mode}}
		r := siptest.NewRequest(sip.INVITE, "sip:5002@voip.unisi.it")
		f.addHistory(r, "5002", "voip.unisi.it", "5003", "user-busy")
		f.addHistory(r, "5003", "voip.unisi.it", "5004", "no-answer")
		got := func(name string) []string {
			var out []string
			for _, h := range r.GetHeaders(name) {
				out = append(out, h.Value())
			}
			return out
		}
		if d := got("Diversion"); strings.Join(d, "|") != strings.Join(tt.diversion, "|") {
			t.Errorf("mode %d: Diversion %q, want %q", tt.mode, d, tt.diversion)
		}
		if h := got("History-Info"); strings.Join(h, "|") != strings.Join(tt.historyInfo, "|") {
			t.Errorf("mode %d: History-Info %q, want %q", tt.mode, h, tt.historyInfo)
		}
	}
}
