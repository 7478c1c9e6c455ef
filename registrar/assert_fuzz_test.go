package registrar_test

import (
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
)

// FuzzAssertIdentity gives the Authenticate stage of an authenticated
// caller arbitrary P-Preferred-Identity, P-Asserted-Identity and
// Remote-Party-ID values. Whatever they hold, the request that goes on
// carries exactly one P-Asserted-Identity, naming the caller's account or
// an identity of its own, and none of the other two.
func FuzzAssertIdentity(f *testing.F) {
	f.Add(`"Ann" <sip:5001@voip.unisi.it>`, "<sip:0577999999@voip.unisi.it>", "<sip:1@x>;screen=yes")
	f.Add(`<sip:5002@voip.unisi.it>, <tel:+390577232001>`, "", "")
	f.Add(`"a,b" <sip:5001@voip.unisi.it;x="<,>">`, `",`, `<`)
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, ppi, pai, rpid string) {
		for _, v := range []string{ppi, pai, rpid} {
			if strings.ContainsAny(v, "\r\n\x00") {
				return // not a header value
			}
		}
		e := newEnv(t, registrar.Config{})
		next := &terminal{}
		var headers []string
		if ppi != "" {
			headers = append(headers, "P-Preferred-Identity: "+ppi)
		}
		if pai != "" {
			headers = append(headers, "P-Asserted-Identity: "+pai)
		}
		if rpid != "" {
			headers = append(headers, "Remote-Party-ID: "+rpid)
		}
		req := inviteReq(t, "5001", "0577232111", headers...)
		rec, err := newPhone(t, e.reg.Authenticate(next), "5001", "secret").send(req)
		if rec == nil || rec.Status() != 200 || err != nil {
			return // the fuzzer broke the request itself
		}
		got := next.req.GetHeaders("P-Asserted-Identity")
		if len(got) != 1 {
			t.Fatalf("%d P-Asserted-Identity headers, want 1", len(got))
		}
		var u sip.URI
		if _, err := sipmsg.ParseAddressValue(got[0].Value(), &u, nil); err != nil {
			t.Fatalf("asserted %q: %v", got[0].Value(), err)
		}
		if u.User != "5001" || !strings.EqualFold(u.Host, domain) {
			t.Fatalf("asserted %q, not the caller's own identity", got[0].Value())
		}
		if n := len(next.req.GetHeaders("P-Preferred-Identity")) + len(next.req.GetHeaders("Remote-Party-ID")); n != 0 {
			t.Fatalf("%d preferred or remote-party identities left", n)
		}
	})
}
